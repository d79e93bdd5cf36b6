import Foundation
import XCTest
@testable import Goroutines

// The parts of this project's Go API that Go's own tests reach only through other packages: Goexit with
// WaitGroup.Go and Go.runBlocking, the context's deadline text, Go's duration text, ticks dropped for a
// slow receiver.
final class GoexitAndTextTests: XCTestCase, @unchecked Sendable {
    /// Go: wg.Go(func() { runtime.Goexit() }) still calls Done (its defer runs).
    func testWaitGroupGoCountsDownOnGoexit() throws {
        try goTest {
            let wg = WaitGroup()
            let reached = AtomicInt()
            wg.go {
                Go.goexit()
            }
            wg.go {
                Go.withCleanup({ reached.add(1) }) { () -> Void in
                    Go.withCleanup({ reached.add(10) }) { () -> Void in Go.goexit() }
                }
            }
            wg.wait()
            XCTAssertEqual(reached.value, 11, "both cleanups ran, innermost first")
        }
    }

    func testGoexitInRunBlockingThrows() {
        XCTAssertThrowsError(try Go.runBlocking { () -> Int in Go.goexit() }) { error in
            XCTAssert(error is GoroutineExitError, "\(error)")
        }
    }

    /// A goroutine that called goexit is gone: NumGoroutine drops back.
    func testGoexitEndsTheGoroutine() throws {
        try goTest {
            let before = Go.numGoroutine
            let done = Channel<Void>()
            go { Go.withCleanup({ done.close() }) { () -> Void in Go.goexit() } }
            _ = done.receive()
            var n = Go.numGoroutine
            for _ in 0..<1000 where n != before {
                Go.sleep(for: .milliseconds(1))
                n = Go.numGoroutine
            }
            XCTAssertEqual(n, before)
        }
    }

    func testGoDurationText() {
        let cases: [(Int64, String)] = [
            (0, "0s"), (1, "1ns"), (1_100, "1.1µs"), (2_200_000, "2.2ms"), (3_300_000_000, "3.3s"),
            (4 * 60_000_000_000 + 5_000_000_000, "4m5s"), (5 * 3_600_000_000_000 + 6 * 60_000_000_000 + 7_001_000_000, "5h6m7.001s"),
            (-1_500_000, "-1.5ms"), (60_000_000_000, "1m0s"),
        ]
        for (ns, text) in cases { XCTAssertEqual(GoTimeText.duration(nanoseconds: ns), text) }
    }

    func testDeadlineDescription() throws {
        try goTest {
            let (ctx, cancel) = Context.background.withTimeout(.seconds(90))
            defer { cancel() }
            // Go: context.Background.WithDeadline(2026-12-06 03:30:00.123456789 +0000 UTC m=+90.000000001 [1m29.99s])
            let pattern = #"^context\.Background\.WithDeadline\(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? \+0000 UTC \[1m(29|30)(\.\d+)?s\]\)$"#
            XCTAssertNotNil(ctx.description.range(of: pattern, options: .regularExpression), ctx.description)
            // The parent's deadline comes first: Go returns WithCancel(parent).
            let (child, _) = ctx.withTimeout(.seconds(3600))
            XCTAssert(child.description.hasPrefix("context.Background.WithDeadline("), child.description)
            XCTAssert(child.description.hasSuffix("]).WithCancel"), child.description)
        }
    }

    /// A slow receiver misses ticks instead of queueing them: at most one tick waits.
    func testTickerDropsTicksForSlowReceiver() throws {
        try goTest {
            let ticker = GoTicker(every: .milliseconds(1))
            defer { ticker.stop() }
            Go.sleep(for: .milliseconds(30))
            XCTAssertEqual(ticker.channel.count, 1)
            _ = ticker.channel.receive()
            XCTAssertEqual(ticker.channel.count, 0)
        }
    }
}
