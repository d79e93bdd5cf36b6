import XCTest
@testable import Goroutines

/// GOMAXPROCS changing while goroutines are readied from a plain thread: a spinning M whose P is retired
/// used to keep counting as spinning (so `wakep` never woke anyone again), or to drop the wake-up that a
/// readier left to it; either way the next `runBlocking` hung with its goroutine in the global queue.
final class GOMAXPROCSResizeTests: XCTestCase {
    func testShrinkingAndGrowingLosesNoWakeUp() throws {
        let old = Go.maxProcs
        defer { Go.setMaxProcs(old) }
        var completed = 0
        for _ in 0..<2_000 {
            Go.setMaxProcs(1)
            try Go.runBlocking {
                let wg = WaitGroup()
                for _ in 0..<4 { wg.go { Go.sleep(for: .microseconds(50)) } }
                wg.wait()
            }
            Go.setMaxProcs(2)
            try Go.runBlocking {
                let wg = WaitGroup()
                for _ in 0..<8 { wg.go { Go.yield() } }
                wg.wait()
            }
            completed += 1
        }
        XCTAssertEqual(completed, 2_000)
    }
}
