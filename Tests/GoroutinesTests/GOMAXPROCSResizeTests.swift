import XCTest
import Synchronization
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

    /// Growing GOMAXPROCS while an M is halfway through retiring its P (released, not yet back in the idle
    /// list) used to put that P in the idle list twice: `idleprocs` exceeded `gomaxprocs`, two Ms later ran
    /// the same P, and goroutines were lost (Go's TestLongAdjustTimers hung after TestAfterFuncStarvation).
    func testGrowingWhileAPIsBeingRetiredNeverListsItTwice() throws {
        let old = Go.maxProcs
        defer { Go.setMaxProcs(old) }
        Go.setMaxProcs(2)
        let stop = Atomic<Bool>(false)
        let c = Channel<Int>()
        let wg = WaitGroup()
        wg.add(2)
        go {
            while !stop.load(ordering: .relaxed) { c.send(1) }
            c.close()
            wg.done()
        }
        go {
            for _ in c {}
            wg.done()
        }
        var worst = 0
        for _ in 0..<3_000 {
            Go.setMaxProcs(1)
            Go.setMaxProcs(2)
            worst = max(worst, RuntimeSnapshot.summary().idleProcs)
        }
        stop.store(true, ordering: .relaxed)
        wg.wait()
        XCTAssertLessThanOrEqual(worst, 2, "a P was listed idle twice")
        // Settled: every P is either idle or held by an M, and none is both. (A goroutine another test left
        // running may hold one, so "both idle" alone is not the invariant.)
        var accounted = 0
        for _ in 0..<1_000 {
            let idle = RuntimeSnapshot.summary().idleProcs
            let held = RuntimeSnapshot.processors().filter { $0.threadID != nil }.count
            accounted = idle + held
            if accounted == 2 { break }
            usleep(10_000)
        }
        XCTAssertEqual(accounted, 2, "Ps idle + Ps held != GOMAXPROCS:\n\(SchedTrace.line(detailed: true))")
    }
}
