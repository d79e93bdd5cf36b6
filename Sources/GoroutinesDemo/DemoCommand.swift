import ArgumentParser
import DebugServer
import Goroutines
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// The demo service: realistic goroutine workloads, each under its own labels, with the debug server on
/// 127.0.0.1:6060 so that curl, `go tool pprof`, Parca or Grafana Alloy can look at it.
@main
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "goroutines-demo",
        abstract: "A service with goroutine workloads (worker pool, leaks, contention, churn) and the pprof debug server.")

    @Option(name: .long, help: "Debug server address (host:port); overrides GOROUTINES_DEBUG_ADDR.")
    var addr: String?

    @Option(name: .long, help: "Key/value service address (host:port; port 0 picks a free one).")
    var serviceAddr: String = "127.0.0.1:0"

    @Option(name: .long, help: "Stop after this many seconds (default: run until Ctrl-C).")
    var duration: Int?

    @Option(name: .long, help: "Leak one goroutine every this many milliseconds.")
    var leakEveryMillis: Int = 200

    func validate() throws {
        if let duration, duration <= 0 { throw ValidationError("--duration must be positive") }
        if leakEveryMillis <= 0 { throw ValidationError("--leak-every-millis must be positive") }
        if spin < 0 { throw ValidationError("--spin must not be negative") }
    }

    @Option(name: .long, help: "Start this many goroutines that spin on the CPU without yielding (to see the debug server answer while every P is busy).")
    var spin: Int = 0

    func run() throws {
        // Block the shutdown signals before any thread exists, so every thread inherits the mask and only
        // the sigwait thread ever takes them (otherwise the default action kills the process).
        ShutdownSignals.blockInThisThread()
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        var configuration = try DebugServerConfiguration(environment: environmentVariables())
        if let addr { configuration.address = addr }
        let server = DebugServer(configuration: configuration, provider: RuntimePprofProvider())
        try server.start()
        let service: KeyValueService
        do {
            service = KeyValueService(listener: try Net.listen("tcp", serviceAddr))
        } catch {
            throw ValidationError("cannot start the key/value service: \(error)")
        }
        let serviceAddress = service.listener.address.description
        let base = "http://\(configuration.address ?? "127.0.0.1:6060")"
        let shown = server.boundTCPPort.map { base.replacingLastPort(with: $0) } ?? base
        print("""
            goroutines-demo: debug server on \(shown)/debug/pprof/
              curl '\(shown)/debug/pprof/goroutine?debug=1'
              curl '\(shown)/debug/pprof/goroutine?debug=2'
              go tool pprof -top '\(shown)/debug/pprof/heap'
              go tool pprof -top '\(shown)/debug/pprof/goroutine'
            goroutines-demo: key/value service on \(serviceAddress)
              printf 'SET greeting hello\\nGET greeting\\nQUIT\\n' | nc \(service.listener.address.host) \(service.listener.address.port)
            Ctrl-C stops the service.
            """)
        fflush(nil)
        let settings = DemoSettings(leakEvery: .milliseconds(leakEveryMillis), spinners: spin)
        let stopAfter = duration
        ShutdownSignals.install { signal in
            server.stop()
            print("goroutines-demo: \(signal), debug server stopped, exiting")
            fflush(nil)
            Glibc.exit(0)
        }
        Go.main {
            Workloads.startAll(settings)
            go { Go.withLabels(["workload": "kv-server"]) { service.run() } }
            go { Go.withLabels(["workload": "kv-client"]) { KeyValueClients.start(address: serviceAddress, idle: 8, busy: 4) } }
            if let stopAfter {
                Go.sleep(for: .seconds(stopAfter))
                server.stop()
                print("goroutines-demo: ran \(stopAfter) s, exiting")
            } else {
                // The main goroutine idles; the workloads and the server do the work.
                while true { Go.sleep(for: .seconds(3600)) }
            }
        }
    }

    private func environmentVariables() -> [String: String] {
        var result: [String: String] = [:]
        var entry = environ
        while let pointer = entry.pointee {
            let pair = String(cString: pointer)
            if let eq = pair.firstIndex(of: "=") {
                result[String(pair[..<eq])] = String(pair[pair.index(after: eq)...])
            }
            entry += 1
        }
        return result
    }
}

extension String {
    /// "http://127.0.0.1:0" with the real port the kernel chose.
    func replacingLastPort(with port: Int) -> String {
        guard let colon = lastIndex(of: ":") else { return self }
        return String(self[..<colon]) + ":\(port)"
    }
}
