import XCTest

/// Fatal errors print exactly Go 1.27's report shapes on stderr and exit with status 2
/// (compare ../shared/reference/go-captures/deadlock/).
final class FatalReportTests: XCTestCase {
    /// One goroutine frame, as Go prints them: a real one `name()` then `\t<file>:<line> +0x<hex>`, an
    /// inlined one `name(...)` then `\t<file>:<line>`; names never hold a space.
    let frame = #"[^\n ]+(\(\)\n\t[^\n ]+:\d+ \+0x[0-9a-f]+|\(\.\.\.\)\n\t[^\n ]+:\d+)\n"#

    func testDeadlockReportsEveryGoroutineLikeGo() throws {
        let r = try ScenarioProcess.run("goexit-style")
        XCTAssertEqual(r.status, 2)
        XCTAssertEqual(r.stdout, "")
        let lines = r.stderr.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines.first, "fatal error: all goroutines are asleep - deadlock!")
        XCTAssertEqual(lines.dropFirst().first, "", "a blank line follows the message, as in Go")
        XCTAssertMatches(r.stderr,
            "fatal error: all goroutines are asleep - deadlock!\n\n" +
            "goroutine 1 \\[sync.WaitGroup.Wait\\]:\n(\(frame))+\n" +
            "goroutine 2 \\[sync.WaitGroup.Wait\\]:\n(\(frame))+" +
            "created by [^\n]+ in goroutine 1\n\t[^\n]+main.swift:\\d+ \\+0x[0-9a-f]+\n")
        XCTAssertTrue(r.stderr.contains("Goroutines.WaitGroup.wait()()\n"), "the blocking call is named")
        XCTAssertFalse(r.stderr.contains("Scheduler"), "scheduler internals are hidden, as Go hides runtime frames")
        XCTAssertTrue(r.stderr.contains("Tests/Scenarios/main.swift:"), "user frames carry file:line")
    }

    func testMainBlockedAloneIsADeadlock() throws {
        let r = try ScenarioProcess.run("deadlock-wg")
        XCTAssertEqual(r.status, 2)
        XCTAssertMatches(r.stderr,
            "fatal error: all goroutines are asleep - deadlock!\n\ngoroutine 1 \\[sync.WaitGroup.Wait\\]:\n(\(frame))+")
        XCTAssertFalse(r.stderr.contains("created by"), "goroutine 1 has no creator line")
    }

    func testDeadlockWithSchedtracePrintsDetailedDumpAfterTheMessage() throws {
        let r = try ScenarioProcess.run("deadlock-wg", environment: ["GODEBUG": "schedtrace=100000"])
        XCTAssertEqual(r.status, 2)
        let lines = r.stderr.split(separator: "\n").map(String.init)
        let fatal = try XCTUnwrap(lines.firstIndex(of: "fatal error: all goroutines are asleep - deadlock!"))
        XCTAssertTrue(lines[fatal + 1].hasPrefix("SCHED "), "detailed dump right after the message")
        XCTAssertTrue(lines[fatal + 1].contains(" gcwaiting=false nmidlelocked="))
        XCTAssertTrue(lines.contains { $0.hasPrefix("  P0: status=") })
        XCTAssertTrue(lines.contains { $0.hasPrefix("  G1: status=4(sync.WaitGroup.Wait) m=nil lockedm=nil") })
    }

    func testUncaughtErrorIsAPanic() throws {
        let r = try ScenarioProcess.run("panic")
        XCTAssertEqual(r.status, 2)
        XCTAssertMatches(r.stderr, "panic: kaboom\n\ngoroutine 1 \\[running\\]:\n(\(frame))*")
    }

    func testNegativeWaitGroupCounterPanicsWithGosMessage() throws {
        let r = try ScenarioProcess.run("negative-wg")
        XCTAssertEqual(r.status, 2)
        XCTAssertMatches(r.stderr, "panic: sync: negative WaitGroup counter\n\ngoroutine 1 \\[running\\]:\n(\(frame))+")
        XCTAssertTrue(r.stderr.contains("Goroutines.WaitGroup.done()()"))
    }

    func testStackOverflowNamesTheGoroutineAndPrintsItsTraceback() throws {
        let r = try ScenarioProcess.run("stack-overflow")
        XCTAssertEqual(r.status, 2)
        XCTAssertMatches(r.stderr,
            "runtime: goroutine stack exceeds \\d+-byte limit\n" +
            "runtime: sp=0x[0-9a-f]+ stack=\\[0x[0-9a-f]+, 0x[0-9a-f]+\\]\n" +
            "fatal error: stack overflow\n\n" +
            "goroutine 2 \\[running\\]:\n(\(frame))+\\.\\.\\.\\d+ frames elided\\.\\.\\.\n(\(frame))+" +
            "created by [^\n]+ in goroutine 1\n\t[^\n]+\n")
        XCTAssertTrue(r.stderr.contains("GoroutinesScenarios.recurse(_:)()"))
        // Go prints the first 50 and the last 50 frames around the elision line.
        let frameLines = r.stderr.split(separator: "\n").filter { !$0.hasPrefix("\t") && ($0.hasSuffix("()") || $0.hasSuffix("(...)")) }
        XCTAssertEqual(frameLines.count, 100, "Go 1.27 prints 100 frames around the elision line")
    }
}
