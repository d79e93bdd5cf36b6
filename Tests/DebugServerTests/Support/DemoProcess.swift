// The real demo executable (`goroutines-demo`, built next to the test bundle) as a subprocess on a free
// loopback port, for the Demo*Tests: everything they check goes through the binary users run.
import Foundation
import Glibc
import XCTest

final class DemoProcess {
    let process: Process
    /// The TCP port the demo's debug server bound (it is started with `--addr 127.0.0.1:0`).
    private(set) var port = 0
    /// The demo's own argv (what `/debug/pprof/cmdline` must answer).
    let demoArguments: [String]
    private let scratch: URL

    static var executable: URL {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return exe.deletingLastPathComponent().appendingPathComponent("goroutines-demo")
    }

    /// Starts the demo and waits until it prints its debug server URL.
    /// - Parameters:
    ///   - arguments: extra demo flags, after `--addr 127.0.0.1:0`.
    ///   - environment: added to a clean copy of this process's environment (inherited
    ///     `GOROUTINES_DEBUG_*`, `GODEBUG` and `GOMAXPROCS` are removed first).
    ///   - launcher: a program and its arguments that end by exec'ing the demo path appended to them
    ///     (for example a wrapper that sets a process attribute first).
    init(arguments: [String] = [], environment: [String: String] = [:], launcher: [String] = [],
         startupTimeout: TimeInterval = 30) throws {
        let demo = Self.executable.path
        guard FileManager.default.isExecutableFile(atPath: demo) else {
            throw XCTSkip("\(demo) is not built; run `swift build --build-tests` (builds all products)")
        }
        demoArguments = [demo, "--addr", "127.0.0.1:0"] + arguments
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("demo-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        process = Process()
        if launcher.isEmpty {
            process.executableURL = Self.executable
            process.arguments = Array(demoArguments.dropFirst())
        } else {
            process.executableURL = URL(fileURLWithPath: launcher[0])
            process.arguments = Array(launcher.dropFirst()) + demoArguments
        }
        var env = ProcessInfo.processInfo.environment.filter {
            !$0.key.hasPrefix("GOROUTINES_DEBUG_") && $0.key != "GODEBUG" && $0.key != "GOMAXPROCS"
        }
        env["SWIFT_BACKTRACE"] = "enable=no"
        for (key, value) in environment { env[key] = value }
        process.environment = env
        // Files rather than pipes: a chatty demo (logs, schedtrace) can never block on a full pipe.
        FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: stdoutPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        try process.run()

        let deadline = Date().addingTimeInterval(startupTimeout)
        let pattern = try NSRegularExpression(pattern: "debug server on http://127\\.0\\.0\\.1:([0-9]+)/")
        while Date() < deadline {
            let text = stdout
            if let match = pattern.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)),
               let range = Range(match.range(at: 1), in: text), let bound = Int(text[range]) {
                port = bound
                return
            }
            if !process.isRunning { break }
            usleep(20_000)
        }
        let status = process.isRunning ? "still running" : "exited with \(process.terminationStatus)"
        stop()
        throw DemoError("the demo did not print its debug server URL within \(startupTimeout) s (\(status))\n"
                        + "stdout: \(stdout)\nstderr: \(stderr)")
    }

    struct DemoError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    private var stdoutPath: String { scratch.appendingPathComponent("stdout").path }
    private var stderrPath: String { scratch.appendingPathComponent("stderr").path }
    var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// Sends `signal` and waits up to `timeout` for the demo to exit. Returns how it ended, or nil if it
    /// is still running (it is then killed).
    func signal(_ signal: Int32, exitWithin timeout: TimeInterval) -> (reason: Process.TerminationReason, status: Int32)? {
        kill(process.processIdentifier, signal)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            stop()
            return nil
        }
        return (process.terminationReason, process.terminationStatus)
    }

    /// Kills the demo if it still runs and removes its output files.
    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: scratch)
    }

    deinit { stop() }
}

/// A test case that runs against the real demo: `get`, `url` and `runTool` of ServerTestCase aim at it.
class DemoTestCase: ServerTestCase {
    var demo: DemoProcess!
    override var port: Int { demo.port }

    /// Starts the demo; unless told otherwise, waits until its workloads run (it prints its URL before
    /// the scheduler starts them), so tests never race the first goroutines.
    func startDemo(arguments: [String] = [], environment: [String: String] = [:], launcher: [String] = [],
                   waitForWorkloads: Bool = true) throws {
        demo = try DemoProcess(arguments: arguments, environment: environment, launcher: launcher)
        guard waitForWorkloads else { return }
        let deadline = Date().addingTimeInterval(15)
        var text = ""
        while Date() < deadline {
            text = try get("/debug/pprof/goroutine?debug=1").text
            if text.contains("Workloads.waitForReply(on:)") && text.contains("{\"workload\":\"timer\"}") { return }
            usleep(50_000)
        }
        XCTFail("the demo's workloads did not show up in the goroutine profile within 15 s:\n\(text)")
    }

    override func tearDown() {
        demo?.stop()
        demo = nil
        super.tearDown()
    }

    /// Path of an installed program, looked up on PATH and in the usual places.
    func installed(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let candidates = path.split(separator: ":").map { "\($0)/\(name)" }
            + ["/root/.pyenv/shims/\(name)", "/usr/local/go/bin/\(name)", "/usr/bin/\(name)"]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// The profile names the index page links to, in its order.
    func indexedNames() throws -> [String] {
        let index = try get("/debug/pprof/")
        XCTAssertEqual(index.status, 200)
        let regex = try NSRegularExpression(pattern: "<tr><td>[0-9]+</td><td><a href='([a-z]+)\\?debug=1'>")
        let text = index.text
        return regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).compactMap {
            Range($0.range(at: 1), in: text).map { String(text[$0]) }
        }
    }
}
