import XCTest

/// Channel and sync misuse is fatal with Go 1.27's messages and exit status 2; blocked channels, nil
/// channels, selects and mutexes are reported as deadlocks in Go's shape
/// (../shared/reference/go-captures/deadlock/err_{chan,nilchan,selectnone,mutex}.127).
final class ChannelFatalTests: XCTestCase {
    /// A real frame `name()` + `\tfile:line +0xoff`, or an inlined one `name(...)` + `\tfile:line`.
    let frame = #"[^\n ]+(\(\)\n\t[^\n ]+:\d+ \+0x[0-9a-f]+|\(\.\.\.\)\n\t[^\n ]+:\d+)\n"#

    func testSendOnClosedChannelPanics() throws {
        let r = try ScenarioProcess.run("send-on-closed")
        XCTAssertEqual(r.status, 2)
        XCTAssertMatches(r.stderr, "panic: send on closed channel\n\ngoroutine 1 \\[running\\]:\n(\(frame))+")
        XCTAssertTrue(r.stderr.contains("Goroutines.Channel.send(_:)()"), r.stderr)
    }

    func testSenderBlockedWhenTheChannelClosesPanics() throws {
        let r = try ScenarioProcess.run("blocked-sender-sees-close")
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.hasPrefix("panic: send on closed channel\n\ngoroutine 1 [running]:\n"), r.stderr)
    }

    func testCloseOfClosedChannelPanics() throws {
        let r = try ScenarioProcess.run("close-closed")
        XCTAssertEqual(r.status, 2)
        XCTAssertMatches(r.stderr, "panic: close of closed channel\n\ngoroutine 1 \\[running\\]:\n(\(frame))+")
    }

    func testCloseOfNilChannelPanics() throws {
        let r = try ScenarioProcess.run("close-nil")
        XCTAssertEqual(r.status, 2)
        XCTAssertMatches(r.stderr, "panic: close of nil channel\n\ngoroutine 1 \\[running\\]:\n(\(frame))+")
    }

    func testReceiveDeadlockMatchesGo() throws {
        let r = try ScenarioProcess.run("deadlock-chan")
        XCTAssertEqual(r.status, 2)
        XCTAssertMatches(r.stderr, "fatal error: all goroutines are asleep - deadlock!\n\ngoroutine 1 \\[chan receive\\]:\n(\(frame))+")
        XCTAssertTrue(r.stderr.contains("Goroutines.Channel.receive()()"), r.stderr)
    }

    func testNilChannelDeadlockMatchesGo() throws {
        let r = try ScenarioProcess.run("deadlock-nilchan")
        XCTAssertEqual(r.status, 2)
        XCTAssertMatches(r.stderr,
            "fatal error: all goroutines are asleep - deadlock!\n\ngoroutine 1 \\[chan receive \\(nil chan\\)\\]:\n(\(frame))+")
    }

    func testSelectWithNoCasesDeadlockListsEveryGoroutine() throws {
        let r = try ScenarioProcess.run("deadlock-select-no-cases")
        XCTAssertEqual(r.status, 2)
        XCTAssertMatches(r.stderr,
            "fatal error: all goroutines are asleep - deadlock!\n\n" +
            "goroutine 1 \\[select \\(no cases\\)\\]:\n(\(frame))+\n" +
            "goroutine \\d+ \\[chan send\\]:\n(\(frame))+" +
            "created by [^\n]+ in goroutine 1\n\t[^\n]+main.swift:\\d+ \\+0x[0-9a-f]+\n")
    }

    func testBlockedSelectDeadlock() throws {
        let r = try ScenarioProcess.run("deadlock-select")
        XCTAssertEqual(r.status, 2)
        XCTAssertMatches(r.stderr, "fatal error: all goroutines are asleep - deadlock!\n\ngoroutine 1 \\[select\\]:\n(\(frame))+")
    }

    func testMutexDeadlockMatchesGo() throws {
        let r = try ScenarioProcess.run("deadlock-mutex")
        XCTAssertEqual(r.status, 2)
        XCTAssertMatches(r.stderr, "fatal error: all goroutines are asleep - deadlock!\n\ngoroutine 1 \\[sync.Mutex.Lock\\]:\n(\(frame))+")
        XCTAssertTrue(r.stderr.contains("Goroutines.GoMutex.lock()()"), r.stderr)
    }

    func testUnlockOfUnlockedMutexIsFatal() throws {
        let r = try ScenarioProcess.run("unlock-unlocked-mutex")
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.hasPrefix("fatal error: sync: unlock of unlocked mutex\n"), r.stderr)
    }

    func testPendingTimersAreNotADeadlock() throws {
        let r = try ScenarioProcess.run("timeout-is-not-deadlock")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "timedOut=true err=context deadline exceeded\n")
    }
}
