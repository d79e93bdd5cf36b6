import Foundation
import Synchronization
import XCTest
@testable import Goroutines

/// Context trees: cancellation flows down, never up; deadlines fire and release their timers.
final class ContextTests: XCTestCase {
    struct RequestID: Hashable, Sendable {}
    struct User: Hashable, Sendable {}

    func testBackgroundIsNeverDoneAndHasNoDeadline() {
        XCTAssertNil(Context.background.done, "Go's Background has a nil Done channel")
        XCTAssertNil(Context.background.err)
        XCTAssertNil(Context.background.deadline)
    }

    func testCancelPropagatesDownNotUp() throws {
        try Go.runBlocking {
            let (parent, cancelParent) = Context.background.withCancel()
            let (child, cancelChild) = parent.withCancel()
            let (grandchild, _) = child.withValue(RequestID(), "r-1").withCancel()
            let (sibling, cancelSibling) = parent.withCancel()
            defer { cancelSibling() }

            cancelChild()
            XCTAssertEqual(child.err, .canceled)
            XCTAssertEqual(grandchild.err, .canceled)
            XCTAssertNil(parent.err, "a child's cancel does not reach its parent")
            XCTAssertNil(sibling.err)
            XCTAssertEqual(parent.cancelState?.childCount, 1, "the cancelled child unregistered itself")
            XCTAssertNil(grandchild.done!.receive(), "done is closed")

            let waiter = GoroutineIDBox()
            let seen = Collected<String>()
            let wg = WaitGroup()
            wg.go {
                waiter.publish()
                _ = sibling.done.receive()
                seen.append(sibling.err!.description)
            }
            eventuallyParked(waiter, .chanReceive)
            cancelParent()
            wg.wait()
            XCTAssertEqual(seen.values, ["context canceled"])
            cancelParent()  // idempotent
            XCTAssertEqual(parent.err, .canceled)
        }
    }

    func testChildOfCancelledParentStartsCancelled() {
        let (parent, cancel) = Context.background.withCancel()
        cancel()
        let (child, _) = parent.withTimeout(.seconds(60))
        XCTAssertEqual(child.err, .canceled)
    }

    func testTimeoutCancelsWithDeadlineExceeded() throws {
        try Go.runBlocking {
            let start = ContinuousClock.now
            let (ctx, cancel) = Context.background.withTimeout(.milliseconds(10))
            defer { cancel() }
            XCTAssertNotNil(ctx.deadline)
            var fired = false
            select {
                Receive(ctx.done) { _ in fired = true }
                Timeout(.seconds(10)) {}
            }
            XCTAssertTrue(fired)
            XCTAssertGreaterThanOrEqual(ContinuousClock.now - start, .milliseconds(10))
            XCTAssertEqual(ctx.err, .deadlineExceeded)
            XCTAssertEqual(ctx.err?.description, "context deadline exceeded")
            let (child, _) = ctx.withCancel()
            XCTAssertEqual(child.err, .deadlineExceeded, "children of an expired context inherit its error")
        }
    }

    func testEarlierParentDeadlineWinsAndPastDeadlineIsImmediate() throws {
        let (parent, cancel) = Context.background.withTimeout(.milliseconds(20))
        defer { cancel() }
        let (child, cancelChild) = parent.withTimeout(.seconds(60))
        defer { cancelChild() }
        let parentDeadline = try XCTUnwrap(parent.deadline), childDeadline = try XCTUnwrap(child.deadline)
        XCTAssertLessThan(abs((childDeadline - parentDeadline) / .milliseconds(1)), 2.0)
        let (past, _) = Context.background.withDeadline(ContinuousClock.now - .seconds(1))
        XCTAssertEqual(past.err, .deadlineExceeded)
    }

    func testCancelledTimeoutContextsLeaveNoTimersArmed() throws {
        try Go.runBlocking {
            let baseline = Scheduler.shared.armedTimerCount
            var cancels: [CancelFunction] = []
            for _ in 0..<1000 {
                let (_, cancel) = Context.background.withTimeout(.seconds(3600))
                cancels.append(cancel)
            }
            XCTAssertEqual(Scheduler.shared.armedTimerCount, baseline + 1000)
            for cancel in cancels { cancel() }
            XCTAssertEqual(Scheduler.shared.armedTimerCount, baseline, "cancel releases the deadline timer")

            let (root, cancelRoot) = Context.background.withCancel()
            for _ in 0..<100 { _ = root.withTimeout(.seconds(3600)) }
            XCTAssertEqual(Scheduler.shared.armedTimerCount, baseline + 100)
            cancelRoot()
            XCTAssertEqual(Scheduler.shared.armedTimerCount, baseline, "cancelling a parent releases its children's timers")
            XCTAssertEqual(root.cancelState?.childCount, 0)
        }
    }

    func testValuesAreFoundUpTheChainAndShadowed() {
        let a = Context.background.withValue(RequestID(), "r-1")
        let (b, cancel) = a.withValue(User(), "ana").withCancel()
        defer { cancel() }
        let c = b.withValue(RequestID(), "r-2")
        XCTAssertEqual(c.value(forKey: RequestID()) as? String, "r-2")
        XCTAssertEqual(b.value(forKey: RequestID()) as? String, "r-1")
        XCTAssertEqual(c.value(forKey: User()) as? String, "ana")
        XCTAssertNil(a.value(forKey: User()))
    }
}
