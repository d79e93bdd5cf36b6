import CStackSwitch
import Foundation
import Synchronization
import XCTest
@testable import Goroutines

final class TimerAndThreadTests: XCTestCase {
    func testTimerHeapFiresInDeadlineOrderWithCancellations() {
        let heap = TimerHeap()
        var timers: [RuntimeTimer] = []
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let t = RuntimeTimer(action: .run({}))
            t.when = Int64.random(in: 1...1_000_000, using: &rng)
            timers.append(t)
            heap.lock.lock(); heap.insert(t); heap.lock.unlock()
        }
        let cancelled = Set(timers.indices.filter { $0 % 3 == 0 })
        for i in cancelled { heap.lock.lock(); XCTAssertTrue(heap.remove(timers[i])); heap.lock.unlock() }
        XCTAssertEqual(heap.count.load(ordering: .relaxed), 2000 - cancelled.count)
        var fired: [RuntimeTimer] = []
        for now in stride(from: Int64(0), through: 1_000_000, by: 50_000) {
            heap.lock.lock(); heap.takeExpired(now: now, into: &fired); heap.lock.unlock()
        }
        XCTAssertEqual(fired.count, 2000 - cancelled.count)
        XCTAssertEqual(fired.map(\.when), fired.map(\.when).sorted(), "timers come out in deadline order")
        XCTAssertFalse(fired.contains { t in cancelled.contains { timers[$0] === t } }, "cancelled timers never fire")
        XCTAssertEqual(heap.earliest.load(ordering: .relaxed), Int64.max)
    }

    func testSleepingGoroutinesAllWakeAndNeverEarly() throws {
        let order = OrderRecorder()
        try Go.runBlocking {
            let wg = WaitGroup()
            for k in [7, 2, 9, 0, 5, 1, 8, 3, 6, 4] {
                wg.go {
                    let start = ContinuousClock.now
                    Go.sleep(for: .milliseconds(2 * k + 1))
                    order.append(k, early: ContinuousClock.now - start < .milliseconds(2 * k + 1))
                }
            }
            wg.wait()
        }
        XCTAssertEqual(order.values.sorted(), Array(0..<10))
        XCTAssertEqual(order.earlyWakeups, 0)
    }

    func testRepeatingTimerFiresAndStopsOnCancel() throws {
        let fired = Atomic<Int>(0)
        let timer = GoTimer.repeating(every: .milliseconds(2)) { fired.add(1, ordering: .relaxed) }
        Go.sleep(for: .milliseconds(50))
        XCTAssertTrue(timer.stop())
        let atStop = fired.load(ordering: .relaxed)
        XCTAssertGreaterThanOrEqual(atStop, 3)
        Go.sleep(for: .milliseconds(20))
        XCTAssertLessThanOrEqual(fired.load(ordering: .relaxed), atStop + 1, "at most one firing was already in flight")
        XCTAssertFalse(timer.stop(), "already stopped")
    }

    func testOneShotTimerCancelledBeforeItFiresNeverRuns() throws {
        let fired = Atomic<Int>(0)
        let timer = GoTimer.afterFunc(.milliseconds(30)) { fired.add(1, ordering: .relaxed) }
        XCTAssertTrue(timer.stop())
        Go.sleep(for: .milliseconds(60))
        XCTAssertEqual(fired.load(ordering: .relaxed), 0)
        let second = GoTimer.afterFunc(.milliseconds(5)) { fired.add(1, ordering: .relaxed) }
        Go.sleep(for: .milliseconds(60))
        XCTAssertEqual(fired.load(ordering: .relaxed), 1)
        XCTAssertFalse(second.stop(), "a fired one-shot timer cannot be stopped")
    }

    func testLockOSThreadPinsTheGoroutineAndKeepsOthersOff() throws {
        let foreignOnLockedThread = Atomic<Int>(0)
        let lockedTid = Atomic<Int32>(0)
        let moved = Atomic<Int>(0)
        try Go.runBlocking {
            let wg = WaitGroup()
            let stop = Atomic<Bool>(false)
            wg.go {
                Go.lockOSThread()
                lockedTid.store(gr_gettid(), ordering: .releasing)
                for _ in 0..<20 {
                    Go.sleep(for: .milliseconds(1))
                    Go.yield()
                    if gr_gettid() != lockedTid.load(ordering: .relaxed) { moved.add(1, ordering: .relaxed) }
                }
                Go.unlockOSThread()
                stop.store(true, ordering: .releasing)
            }
            for _ in 0..<8 {
                wg.go {
                    while !stop.load(ordering: .acquiring) {
                        if gr_gettid() == lockedTid.load(ordering: .acquiring) { foreignOnLockedThread.add(1, ordering: .relaxed) }
                        Go.sleep(for: .microseconds(200))
                    }
                }
            }
            wg.wait()
        }
        XCTAssertEqual(moved.load(ordering: .relaxed), 0, "the locked goroutine stayed on its thread")
        XCTAssertEqual(foreignOnLockedThread.load(ordering: .relaxed), 0, "no other goroutine ran on the locked thread")
    }

    func testParkedInsideAnExclusiveAccessAndResumedElsewhereDoesNotCrash() throws {
        // Swift tracks `modify` accesses of class properties in a thread-local set. A goroutine that parks
        // inside one and resumes on another thread must carry its accesses along (DESIGN rule 6).
        final class Account: @unchecked Sendable {
            var balance = Balance()
        }
        struct Balance {
            var cents = 0
            mutating func depositSlowly() {
                cents += 1
                Go.sleep(for: .microseconds(100))  // parks inside the modify access of `balance`
                Go.yield()
                cents += 1
            }
        }
        let accounts = (0..<16).map { _ in Account() }
        let threads = ThreadSet()
        try Go.runBlocking {
            let wg = WaitGroup()
            for account in accounts {
                wg.go {
                    for _ in 0..<50 {
                        threads.insert(gr_gettid())
                        account.balance.depositSlowly()
                        threads.insert(gr_gettid())
                    }
                }
            }
            wg.wait()
        }
        XCTAssertEqual(accounts.map(\.balance.cents), Array(repeating: 100, count: 16))
        if Go.maxProcs > 1 { XCTAssertGreaterThan(threads.count, 1, "goroutines did migrate between threads") }
    }

    func testBlockingCallLetsOthersRunWithOneP() throws {
        let r = try ScenarioProcess.run("syscall-handoff", environment: ["GOMAXPROCS": "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let progress = Int(r.stdout.split(separator: "=").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
        XCTAssertGreaterThan(progress, 0, "the other goroutine ran while the only P's goroutine was in a 200 ms blocking call")
    }
}

final class OrderRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var values: [Int] = []
    private(set) var earlyWakeups = 0
    func append(_ v: Int, early: Bool) {
        lock.lock()
        values.append(v)
        if early { earlyWakeups += 1 }
        lock.unlock()
    }
}

final class ThreadSet: @unchecked Sendable {
    private let lock = NSLock()
    private var tids: Set<Int32> = []
    func insert(_ t: Int32) { lock.lock(); tids.insert(t); lock.unlock() }
    var count: Int { lock.lock(); defer { lock.unlock() }; return tids.count }
}
