// Benchmark server for scripts/bench-serving.sh: parks N goroutines (default 10,000) on a WaitGroup that
// is never released, then serves this process's real profiles (RuntimePprofProvider) with the debug
// server's default limits. The Go peer (Tests/GoPeers/pprofpeer) does the same with net/http/pprof.
// Usage: ServingBench [host:port] [goroutines]   prints "listening <addr>" once every goroutine is parked.
import DebugServer
import Goroutines
import Profiling
#if canImport(Glibc)
import Glibc
#endif

/// Prints to stderr and exits (without Foundation; `stderr` is not concurrency-safe in Swift 6).
func fail(_ message: String, status: Int32) -> Never {
    var line = message + "\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    exit(status)
}

enum Parked {
    @inline(never) static func forever(on gate: WaitGroup) {
        gate.wait()
    }
}

let arguments = CommandLine.arguments
let address = arguments.count > 1 ? arguments[1] : "127.0.0.1:0"
guard let parkedCount = arguments.count > 2 ? Int(arguments[2]) : 10_000, parkedCount >= 0 else {
    fail("usage: ServingBench [host:port] [goroutines]", status: 2)
}

let server = DebugServer(configuration: DebugServerConfiguration(address: address), provider: RuntimePprofProvider())
do {
    try server.start()
} catch {
    fail("ServingBench: \(error)", status: 1)
}

Go.main {
    let gate = WaitGroup()
    gate.add(1)
    for _ in 0..<parkedCount {
        go { Parked.forever(on: gate) }
    }
    // Report ready only when the goroutines exist, so every measured request sees all of them.
    while GoroutineProfiles.goroutineCount < parkedCount + 1 {
        Go.sleep(for: .milliseconds(10))
    }
    print("listening 127.0.0.1:\(server.boundTCPPort ?? 0)")
    fflush(nil)
    // The main goroutine sleeps rather than parks: with every goroutine parked on a WaitGroup and no
    // timer pending, the runtime would rightly report a deadlock.
    while true { Go.sleep(for: .seconds(3600)) }
}
