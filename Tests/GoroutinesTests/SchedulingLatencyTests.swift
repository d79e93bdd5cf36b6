// The runnable-to-running histogram behind `go_sched_latencies_seconds`: one transition in eight is
// timed, per P, and the totals only grow.
import Goroutines
import XCTest

final class SchedulingLatencyTests: XCTestCase {
    func testYieldsAreTimedOneInEightAndCountsOnlyGrow() throws {
        let before = RuntimeSnapshot.schedulingLatencies()
        try Go.runBlocking {
            for _ in 0..<800 { Go.yield() }
        }
        let after = RuntimeSnapshot.schedulingLatencies()
        XCTAssertEqual(after.bucketEdgesNanoseconds, [64, 640, 7_168, 81_920, 917_504, 10_485_760, 117_440_512])
        XCTAssertEqual(after.counts.count, after.bucketEdgesNanoseconds.count + 1)
        for (old, new) in zip(before.counts, after.counts) { XCTAssertGreaterThanOrEqual(new, old) }
        let timed = after.counts.reduce(0, +) - before.counts.reduce(0, +)
        XCTAssertGreaterThanOrEqual(timed, 80, "800 yields, one in eight timed (other tests may add more)")
        XCTAssertGreaterThan(after.sumNanoseconds, before.sumNanoseconds)
    }
}
