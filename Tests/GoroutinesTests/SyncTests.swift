import Foundation
import Synchronization
import XCTest
@testable import Goroutines

/// GoMutex, RWMutex, Once, Cond, Semaphore and ErrorGroup under real concurrency.
final class SyncTests: XCTestCase {
    final class Counter: @unchecked Sendable { var value = 0 }

    func testMutexKeepsAPlainCounterExactUnderContention() throws {
        let counter = Counter()
        try Go.runBlocking {
            let mutex = GoMutex()
            let wg = WaitGroup()
            for g in 0..<8 {
                wg.go {
                    for i in 0..<20_000 {
                        mutex.lock()
                        counter.value += 1
                        if (i + g) % 1000 == 0 { Go.yield() }  // sometimes yield while holding it
                        mutex.unlock()
                    }
                }
            }
            wg.wait()
        }
        XCTAssertEqual(counter.value, 160_000)
    }

    func testBlockedLockerParksWithSyncMutexLockAndTryLockFails() throws {
        try Go.runBlocking {
            let mutex = GoMutex()
            mutex.lock()
            XCTAssertFalse(mutex.tryLock())
            let waiter = GoroutineIDBox()
            let wg = WaitGroup()
            wg.go {
                waiter.publish()
                mutex.lock()
                mutex.unlock()
            }
            eventuallyParked(waiter, .syncMutexLock)
            mutex.unlock()
            wg.wait()
            XCTAssertTrue(mutex.tryLock())
            mutex.unlock()
        }
    }

    func testAWaiterStarvedForOverAMillisecondIsHandedTheLock() throws {
        try Go.runBlocking {
            let mutex = GoMutex()
            let waiter = GoroutineIDBox()
            let holding = Channel<Void>(), release = Channel<Void>()
            mutex.lock()
            go {
                waiter.publish()
                mutex.lock()
                holding.send(())
                _ = release.receive()
                mutex.unlock()
            }
            eventuallyParked(waiter, .syncMutexLock)
            Go.sleep(for: .milliseconds(3))
            // Normal mode: unlocking wakes the waiter, but a running goroutine may barge in before it runs.
            mutex.unlock()
            XCTAssertTrue(mutex.tryLock(), "normal mode lets a newcomer take a just-released lock")
            // The waiter runs, finds the lock taken after >1 ms of waiting, and switches to starvation mode.
            Go.sleep(for: .milliseconds(5))
            eventuallyParked(waiter, .syncMutexLock)
            mutex.unlock()
            XCTAssertFalse(mutex.tryLock(), "starvation mode hands the lock straight to the waiter")
            _ = holding.receive()
            release.send(())
            mutex.lock()
            mutex.unlock()
        }
    }

    func testRWMutexAdmitsReadersTogetherAndWritersAlone() throws {
        try Go.runBlocking {
            let rw = RWMutex()
            rw.readLock()
            XCTAssertTrue(rw.tryReadLock(), "readers share")
            XCTAssertFalse(rw.tryLock(), "a writer waits for readers")
            let writer = GoroutineIDBox()
            let order = Collected<String>()
            let wg = WaitGroup()
            wg.go {
                writer.publish()
                rw.lock()
                order.append("writer")
                rw.unlock()
            }
            eventuallyParked(writer, .syncRWMutexLock)
            XCTAssertFalse(rw.tryReadLock(), "a waiting writer keeps new readers out")
            let reader = GoroutineIDBox()
            wg.go {
                reader.publish()
                rw.readLock()
                order.append("late reader")
                rw.readUnlock()
            }
            eventuallyParked(reader, .syncRWMutexRLock)
            rw.readUnlock()
            rw.readUnlock()
            wg.wait()
            XCTAssertEqual(order.values, ["writer", "late reader"])
        }
    }

    func testRWMutexProtectsDataUnderMixedLoad() throws {
        let counter = Counter()
        try Go.runBlocking {
            let rw = RWMutex()
            let wg = WaitGroup()
            let torn = Atomic<Int>(0)
            for g in 0..<6 {
                wg.go {
                    for _ in 0..<5_000 {
                        if g < 2 {
                            rw.lock(); counter.value += 1; counter.value += 1; rw.unlock()
                        } else {
                            rw.readLock()
                            if counter.value % 2 != 0 { torn.wrappingAdd(1, ordering: .relaxed) }
                            rw.readUnlock()
                        }
                    }
                }
            }
            wg.wait()
            XCTAssertEqual(torn.load(ordering: .relaxed), 0, "readers never see a half-done write")
        }
        XCTAssertEqual(counter.value, 20_000)
    }

    func testOnceRunsItsBodyOnceAndEveryCallerWaitsForIt() throws {
        let runs = Atomic<Int>(0)
        let sawDone = Atomic<Int>(0)
        try Go.runBlocking {
            let once = Once()
            let finished = Atomic<Bool>(false)
            let wg = WaitGroup()
            for _ in 0..<50 {
                wg.go {
                    once.run {
                        runs.wrappingAdd(1, ordering: .relaxed)
                        Go.sleep(for: .milliseconds(5))
                        finished.store(true, ordering: .releasing)
                    }
                    if finished.load(ordering: .acquiring) { sawDone.wrappingAdd(1, ordering: .relaxed) }
                }
            }
            wg.wait()
            XCTAssertTrue(once.hasRun)
        }
        XCTAssertEqual(runs.load(ordering: .relaxed), 1)
        XCTAssertEqual(sawDone.load(ordering: .relaxed), 50, "no caller returned before the body finished")
    }

    func testCondSignalWakesOneAndBroadcastWakesAll() throws {
        try Go.runBlocking {
            let mutex = GoMutex()
            let cond = Cond(mutex)
            let state = Counter()  // number of tokens, guarded by mutex
            let consumed = Atomic<Int>(0)
            let wg = WaitGroup()
            let ids = (0..<4).map { _ in GoroutineIDBox() }
            for box in ids {
                wg.go {
                    mutex.lock()
                    box.publish()
                    while state.value == 0 { cond.wait() }
                    state.value -= 1
                    mutex.unlock()
                    consumed.wrappingAdd(1, ordering: .relaxed)
                }
            }
            for box in ids { eventuallyParked(box, .syncCondWait) }
            mutex.withLock { state.value = 1 }
            cond.signal()
            eventually("one waiter consumes the token") { consumed.load(ordering: .relaxed) == 1 }
            let stillWaiting = ids.filter { waitReason(of: $0.id.load(ordering: .relaxed)) == .syncCondWait }.count
            XCTAssertEqual(stillWaiting, 3, "signal woke exactly one waiter")
            mutex.withLock { state.value = 3 }
            cond.broadcast()
            wg.wait()
            XCTAssertEqual(consumed.load(ordering: .relaxed), 4)
        }
    }

    func testWeightedSemaphoreBoundsConcurrencyAndServesInOrder() throws {
        try Go.runBlocking {
            let sem = Semaphore(capacity: 3)
            let inside = Atomic<Int>(0), peak = Atomic<Int>(0)
            let wg = WaitGroup()
            for _ in 0..<30 {
                wg.go {
                    sem.acquire()
                    let now = inside.wrappingAdd(1, ordering: .relaxed).newValue
                    var p = peak.load(ordering: .relaxed)
                    while now > p && !peak.compareExchange(expected: p, desired: now, ordering: .relaxed).exchanged {
                        p = peak.load(ordering: .relaxed)
                    }
                    Go.sleep(for: .microseconds(300))
                    inside.wrappingSubtract(1, ordering: .relaxed)
                    sem.release()
                }
            }
            wg.wait()
            XCTAssertEqual(peak.load(ordering: .relaxed), 3)

            // FIFO: a heavy request at the head is not overtaken by a light one behind it.
            XCTAssertTrue(sem.tryAcquire(2))
            let heavy = GoroutineIDBox()
            let order = Collected<String>()
            wg.go { heavy.publish(); sem.acquire(3); order.append("heavy"); sem.release(3) }
            eventuallyParked(heavy, .semacquire)
            XCTAssertFalse(sem.tryAcquire(1), "one unit is free, but a waiter is ahead")
            let light = GoroutineIDBox()
            wg.go { light.publish(); sem.acquire(1); order.append("light"); sem.release(1) }
            eventuallyParked(light, .semacquire)
            sem.release(2)
            wg.wait()
            XCTAssertEqual(order.values, ["heavy", "light"])
        }
    }

    func testErrorGroupReturnsTheFirstErrorAndCancelsTheOthers() throws {
        struct Failure: Error, Equatable { let id: Int }
        let result: (error: (any Error)?, cancelledSeen: Int) = try Go.runBlocking {
            let group = ErrorGroup()
            let cancelledSeen = Atomic<Int>(0)
            for i in 0..<5 {
                group.go { context in
                    if i == 2 { throw Failure(id: 2) }
                    // The others wait for cancellation, as well-behaved members do.
                    _ = context.done.receive()
                    if context.err == .canceled { cancelledSeen.wrappingAdd(1, ordering: .relaxed) }
                }
            }
            do {
                try group.wait()
                return (nil, cancelledSeen.load(ordering: .relaxed))
            } catch {
                return (error, cancelledSeen.load(ordering: .relaxed))
            }
        }
        XCTAssertEqual(result.error as? Failure, Failure(id: 2))
        XCTAssertEqual(result.cancelledSeen, 4)
    }

    func testErrorGroupLimitAndSuccess() throws {
        let peak = try Go.runBlocking {
            let group = ErrorGroup()
            group.setLimit(2)
            let inside = Atomic<Int>(0), peak = Atomic<Int>(0)
            for _ in 0..<10 {
                group.go { _ in
                    let now = inside.wrappingAdd(1, ordering: .relaxed).newValue
                    if now > peak.load(ordering: .relaxed) { peak.store(now, ordering: .relaxed) }
                    Go.sleep(for: .microseconds(200))
                    inside.wrappingSubtract(1, ordering: .relaxed)
                }
            }
            try group.wait()
            XCTAssertEqual(group.context.err, .canceled, "wait cancels the group's context")
            return peak.load(ordering: .relaxed)
        }
        XCTAssertLessThanOrEqual(peak, 2)
    }

    func testWaitGroupWaitedOnByManyGoroutinesAndAThread() throws {
        let wg = WaitGroup()
        wg.add(3)
        let woke = Atomic<Int>(0)
        let waiters = WaitGroup()
        for _ in 0..<4 { waiters.go { wg.wait(); woke.wrappingAdd(1, ordering: .relaxed) } }
        go { for _ in 0..<3 { Go.sleep(for: .milliseconds(1)); wg.done() } }
        wg.wait()  // this thread
        waiters.wait()
        XCTAssertEqual(woke.load(ordering: .relaxed), 4)
    }
}
