import CStackSwitch
import Foundation
import Symbolication
import Synchronization
import XCTest
@testable import Goroutines

/// Block and mutex events: exact at rate 1 / fraction 1, unbiased when sampled, bucketed by stack.
/// (Each test resets the buckets; XCTest runs tests one at a time.)
final class ContentionProfileTests: XCTestCase {
    override func tearDown() {
        Go.setBlockProfileRate(0)
        Go.setMutexProfileFraction(0)
        ContentionBuckets.block.reset()
        ContentionBuckets.mutex.reset()
    }

    private func totals(_ records: [ContentionBucketRecord]) -> (count: Int64, delay: Int64) {
        (records.reduce(0) { $0 + $1.count }, records.reduce(0) { $0 + $1.delayNanoseconds })
    }

    private func functionNames(_ stack: [UInt]) -> [String] {
        stack.flatMap { Symbolizer.shared.frames(at: $0 - 1).map(\.function) }
    }

    func testEveryBlockingEventIsRecordedAtRateOne() throws {
        ContentionBuckets.block.reset()
        Go.setBlockProfileRate(1)
        try Go.runBlocking {
            let ch = Channel<Int>()
            let receiver = GoroutineIDBox()
            let wg = WaitGroup()
            wg.go {
                for _ in 0..<10 {
                    receiver.publish()
                    _ = ch.receive()
                }
            }
            for i in 0..<10 {
                eventuallyParked(receiver, .chanReceive)
                ch.send(i)
            }
            wg.wait()
        }
        Go.setBlockProfileRate(0)
        let records = Go.blockProfileRecords()
        let receives = records.filter { functionNames($0.stack).first?.contains("Channel.receive") == true }
        XCTAssertEqual(totals(receives).count, 10, "ten parked receives, ten events: \(records.map { functionNames($0.stack).prefix(3) })")
        XCTAssertEqual(receives.count, 1, "one stack, one bucket")
        XCTAssertGreaterThan(totals(receives).delay, 0)
        XCTAssertTrue(functionNames(receives[0].stack).contains { $0.contains("testEveryBlockingEventIsRecordedAtRateOne") },
                      "the bucket's stack reaches the code that blocked")
    }

    func testRateZeroRecordsNothing() throws {
        ContentionBuckets.block.reset()
        Go.setBlockProfileRate(0)
        try Go.runBlocking {
            let ch = Channel<Int>()
            go { Go.sleep(for: .milliseconds(1)); ch.send(1) }
            _ = ch.receive()
        }
        XCTAssertTrue(Go.blockProfileRecords().isEmpty)
    }

    func testSampledBlockEventsStayUnbiased() {
        // 20 000 synthetic 100 µs events at a 1 ms rate: each is kept with probability ~0.1 and weighted by
        // rate/duration, so the totals estimate the true ones.
        ContentionBuckets.block.reset()
        Go.setBlockProfileRate(1_000_000)
        let events = 20_000
        for _ in 0..<events {
            ContentionProfiler.recordBlock(since: gr_nanotime() - 100_000)
        }
        Go.setBlockProfileRate(0)
        let records = Go.blockProfileRecords()
        let (count, delay) = totals(records)
        XCTAssertEqual(Double(count), Double(events), accuracy: Double(events) * 0.1, "estimated count")
        XCTAssertEqual(Double(delay), Double(events) * 100_000, accuracy: Double(events) * 100_000 * 0.1, "estimated delay")
    }

    func testLongEventsAreAlwaysRecordedWithTheirRealDelay() {
        ContentionBuckets.block.reset()
        Go.setBlockProfileRate(1_000)
        for _ in 0..<100 { ContentionProfiler.recordBlock(since: gr_nanotime() - 50_000) }
        Go.setBlockProfileRate(0)
        let (count, delay) = totals(Go.blockProfileRecords())
        XCTAssertEqual(count, 100)
        XCTAssertGreaterThanOrEqual(delay, 100 * 50_000)
    }

    func testContendedMutexIsChargedToTheUnlockerWithTheWaitersDelay() throws {
        ContentionBuckets.mutex.reset()
        ContentionBuckets.block.reset()
        Go.setMutexProfileFraction(1)
        Go.setBlockProfileRate(1)
        try Go.runBlocking {
            let mutex = GoMutex()
            mutex.lock()
            let waiter = GoroutineIDBox()
            let wg = WaitGroup()
            wg.go {
                waiter.publish()
                mutex.lock()
                mutex.unlock()
            }
            eventuallyParked(waiter, .syncMutexLock)
            Go.sleep(for: .milliseconds(5))
            unlockAfterHolding(mutex)
            wg.wait()
        }
        Go.setMutexProfileFraction(0)
        Go.setBlockProfileRate(0)
        let mutexRecords = Go.mutexProfileRecords()
        XCTAssertEqual(totals(mutexRecords).count, 1, "one contended unlock")
        XCTAssertGreaterThanOrEqual(totals(mutexRecords).delay, 5_000_000, "the waiter waited at least the 5 ms hold")
        let names = functionNames(mutexRecords[0].stack)
        XCTAssertTrue(names.first?.contains("GoMutex.unlock") == true, "leaf is the unlock: \(names.prefix(3))")
        XCTAssertTrue(names.contains { $0.contains("unlockAfterHolding") }, "attributed to the unlocking goroutine")
        let blockRecords = Go.blockProfileRecords().filter { functionNames($0.stack).first?.contains("GoMutex") == true }
        XCTAssertEqual(totals(blockRecords).count, 1, "the waiter's block event")
    }


    func testMutexFractionSamplesOneInN() {
        ContentionBuckets.mutex.reset()
        Go.setMutexProfileFraction(4)
        XCTAssertEqual(Go.setMutexProfileFraction(-1), 4, "a negative fraction only reads")
        let events = 40_000
        for _ in 0..<events { ContentionProfiler.recordMutex(since: gr_nanotime() - 1_000) }
        Go.setMutexProfileFraction(0)
        let (count, _) = totals(Go.mutexProfileRecords())
        // Stored scaled by the fraction (Go ≥1.21): the total estimates the real number of events.
        XCTAssertEqual(Double(count), Double(events), accuracy: Double(events) * 0.05)
        XCTAssertEqual(count % 4, 0, "each sampled event counts for 4")
    }

    func testSelectCondWaitGroupAndSemaphoreWaitsAreBlockEvents() throws {
        ContentionBuckets.block.reset()
        Go.setBlockProfileRate(1)
        try Go.runBlocking {
            let ch = Channel<Int>()
            go { Go.sleep(for: .milliseconds(1)); ch.send(1) }
            select { Receive(ch) { _ in } }
            let wg = WaitGroup()
            wg.add(1)
            go { Go.sleep(for: .milliseconds(1)); wg.done() }
            wg.wait()
            let sem = Semaphore(capacity: 1)
            sem.acquire()
            go { Go.sleep(for: .milliseconds(1)); sem.release() }
            sem.acquire()
            let mutex = GoMutex(), cond = Cond(mutex)
            go { Go.sleep(for: .milliseconds(1)); mutex.withLock { cond.signal() } }
            mutex.withLock { cond.wait() }
        }
        Go.setBlockProfileRate(0)
        let leaves = Go.blockProfileRecords().compactMap { functionNames($0.stack).first }
        for expected in ["select", "WaitGroup.wait", "Semaphore.acquire", "Cond.wait"] {
            // select's leaf is `select(_:)`, or its helper `runSelect(_:)` where the compiler did not inline it.
            XCTAssertTrue(leaves.contains { $0.lowercased().contains(expected.lowercased()) }, "\(expected) recorded; leaves: \(leaves)")
        }
    }
}

@inline(never) func unlockAfterHolding(_ mutex: GoMutex) { mutex.unlock() }
