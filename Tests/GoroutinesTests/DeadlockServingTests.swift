import Foundation
import XCTest

/// A deadlock while a debug server runs (issue 16): the report is printed once on stderr, the process
/// stays up, and the debug server shows the deadlocked goroutines; `GOROUTINES_ON_DEADLOCK=exit` keeps
/// Go's exit.
final class DeadlockServingTests: XCTestCase {
    private func curl(_ url: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["curl", "-sS", "--max-time", "20", url]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "curl \(url) failed")
        return String(decoding: data, as: UTF8.self)
    }

    func testDeadlockedProcessKeepsServingAndSaysDeadlocked() throws {
        let process = Process()
        process.executableURL = ScenarioProcess.executable
        process.arguments = ["deadlock-with-server"]
        var env = ProcessInfo.processInfo.environment
        env["SWIFT_BACKTRACE"] = "enable=no"
        env.removeValue(forKey: "GOROUTINES_ON_DEADLOCK")
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        var stdout = ""
        let deadline = Date().addingTimeInterval(30)
        while !stdout.contains("\n"), Date() < deadline {
            stdout += String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
        }
        let port = try XCTUnwrap(stdout.split(separator: "\n").first { $0.hasPrefix("port=") }?.dropFirst(5))

        // The report is on stderr before the dump says deadlocked; poll until it does.
        var dump = ""
        while !dump.hasPrefix("deadlocked: "), Date() < deadline {
            dump = try curl("http://127.0.0.1:\(port)/debug/pprof/goroutine?debug=2")
            if !dump.hasPrefix("deadlocked: ") { Thread.sleep(forTimeInterval: 0.05) }
        }
        XCTAssertTrue(dump.hasPrefix("deadlocked: fatal error: all goroutines are asleep - deadlock!\n\ngoroutine 1 [sync.WaitGroup.Wait]:\n"), dump)
        XCTAssertTrue(dump.contains("\ngoroutine 2 [sync.WaitGroup.Wait]:\n"), dump)
        let index = try curl("http://127.0.0.1:\(port)/debug/pprof/")
        XCTAssertTrue(index.contains("<body>\n<p><b>deadlocked</b>: fatal error: all goroutines are asleep - deadlock!</p>\n/debug/pprof/\n"), index)
        // Still answering, still running.
        XCTAssertTrue(try curl("http://127.0.0.1:\(port)/debug/pprof/goroutine?debug=1").hasPrefix("goroutine profile: total 2\n"))
        XCTAssertTrue(process.isRunning)

        process.terminate()
        process.waitUntilExit()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(stderr.components(separatedBy: "fatal error: all goroutines are asleep - deadlock!\n").count, 2,
                       "the report is printed exactly once: \(stderr)")
        XCTAssertTrue(stderr.contains("fatal error: all goroutines are asleep - deadlock!\n\ngoroutine 1 [sync.WaitGroup.Wait]:\n"), stderr)
        XCTAssertTrue(stderr.hasSuffix("runtime: the process keeps running for inspection (a debug server is serving, or GOROUTINES_ON_DEADLOCK=serve)\n"), stderr)
    }

    func testExitBehaviourKeepsGosReportAndStatusEvenWithAServer() throws {
        let r = try ScenarioProcess.run("deadlock-with-server", environment: ["GOROUTINES_ON_DEADLOCK": "exit"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("fatal error: all goroutines are asleep - deadlock!\n\ngoroutine 1 [sync.WaitGroup.Wait]:\n"), r.stderr)
        XCTAssertFalse(r.stderr.contains("keeps running"))
    }

    func testWithoutAServerADeadlockStillExitsLikeGo() throws {
        let r = try ScenarioProcess.run("deadlock-wg")
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.hasPrefix("fatal error: all goroutines are asleep - deadlock!\n\ngoroutine 1 [sync.WaitGroup.Wait]:\n"))
    }
}
