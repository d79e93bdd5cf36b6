import Foundation
import Synchronization
import XCTest
@testable import Goroutines

/// The scheduler under real concurrency, in this process (the runtime starts on first use).
final class SchedulerTests: XCTestCase {
    func testManyGoroutinesEachRunExactlyOnce() throws {
        let count = 100_000
        let hits = HitCounter(count: count)
        try Go.runBlocking {
            let wg = WaitGroup()
            // Four spawners so that several Ps fill and steal from each other's queues at once.
            for spawner in 0..<4 {
                wg.go {
                    for i in stride(from: spawner, to: count, by: 4) {
                        wg.go {
                            if i % 7 == 0 { Go.yield() }
                            hits.hit(i)
                        }
                    }
                }
            }
            wg.wait()
        }
        XCTAssertEqual(hits.missing, [], "every goroutine ran")
        XCTAssertEqual(hits.duplicated, [], "no goroutine ran twice")
    }

    func testSeedExampleFibFanOutJoins() throws {
        // The seeds' example, scaled to a test's budget: 100,000 goroutines each computing fib(n), joined.
        @Sendable func fib(_ n: Int) -> Int { n < 2 ? n : fib(n - 1) + fib(n - 2) }
        let total = Atomic<Int>(0)
        try Go.runBlocking {
            let wg = WaitGroup()
            for _ in 0..<100_000 {
                wg.go { total.add(fib(12), ordering: .relaxed) }
            }
            wg.wait()
        }
        XCTAssertEqual(total.load(ordering: .relaxed), 100_000 * 144)
    }

    func testRunQueueStealingUnderStressLosesAndDuplicatesNothing() {
        // One owner pushing and popping, two thieves stealing half at a time into their own queues.
        let owner = RunQueue()
        let total = 200_000
        let pool = (0..<total).map { i -> G in
            let g = G(stack: GoroutineStack(guardLow: 0, low: 0, high: 0))
            g.id = Int64(i)
            return g
        }
        let seen = HitCounter(count: total)
        let done = Atomic<Bool>(false)
        let group = DispatchGroup()
        for _ in 0..<2 {
            group.enter()
            Thread.detachNewThread {
                let mine = RunQueue()
                while !done.load(ordering: .acquiring) || !owner.isEmpty {
                    if let g = mine.steal(from: owner) {
                        seen.hit(Int(g.id))
                        while let more = mine.pop() { seen.hit(Int(more.id)) }
                    }
                }
                group.leave()
            }
        }
        var next = 0
        while next < total {
            if owner.push(pool[next]) { next += 1 } else if let g = owner.pop() { seen.hit(Int(g.id)) }
            if next % 3 == 0, let g = owner.pop() { seen.hit(Int(g.id)) }
        }
        while let g = owner.pop() { seen.hit(Int(g.id)) }
        done.store(true, ordering: .releasing)
        group.wait()
        XCTAssertEqual(seen.missing, [])
        XCTAssertEqual(seen.duplicated, [])
    }

    func testGoroutineQueuedBehindOneThatNeverYieldsStillRuns() throws {
        // A spawn lands in the spawner's `runnext`; the spawner then computes without yielding. After 10 ms
        // sysmon takes the spinner's P (runnext included) and hands it to another thread, which runs it.
        guard Go.maxProcs >= 2 else { throw XCTSkip("needs two Ps") }
        let ran = Atomic<Bool>(false)
        let gaveUp = Atomic<Bool>(false)
        try Go.runBlocking {
            let done = WaitGroup()
            done.add(1)
            go {
                go { ran.store(true, ordering: .releasing) }
                let deadline = ContinuousClock.now + .seconds(10)
                while !ran.load(ordering: .acquiring) {
                    if ContinuousClock.now > deadline { gaveUp.store(true, ordering: .relaxed); break }
                }
                done.done()
            }
            done.wait()
        }
        XCTAssertTrue(ran.load(ordering: .acquiring))
        XCTAssertFalse(gaveUp.load(ordering: .relaxed), "the queued goroutine only ran after the spinner gave up")
    }

    func testGoroutinesCanBeStartedFromPlainThreads() throws {
        let hits = HitCounter(count: 1000)
        let group = DispatchGroup()
        for t in 0..<4 {
            group.enter()
            Thread.detachNewThread {
                let wg = WaitGroup()
                for i in stride(from: t, to: 1000, by: 4) { wg.go { hits.hit(i) } }
                wg.wait()  // a plain thread blocks on the futex, not a goroutine
                group.leave()
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 30), .success)
        XCTAssertEqual(hits.missing, [])
        XCTAssertEqual(hits.duplicated, [])
    }

    func testGOMAXPROCSCanBeChangedAtRunTime() throws {
        let before = Go.maxProcs
        defer { Go.setMaxProcs(before) }
        XCTAssertEqual(Go.setMaxProcs(1), before)
        XCTAssertEqual(Go.maxProcs, 1)
        let hits = HitCounter(count: 10_000)
        try Go.runBlocking {
            let wg = WaitGroup()
            for i in 0..<10_000 { wg.go { hits.hit(i) } }
            wg.wait()
        }
        XCTAssertEqual(Go.setMaxProcs(3), 1)
        try Go.runBlocking {
            let wg = WaitGroup()
            for i in 0..<10_000 { wg.go { hits.hit(i) } }
            wg.wait()
        }
        XCTAssertEqual(hits.missing, [])
        XCTAssertEqual(RuntimeSnapshot.processors().count, 3)
    }

    func testDefaultGOMAXPROCSIsTheUsableCPUCount() {
        if ProcessInfo.processInfo.environment["GOMAXPROCS"] == nil {
            XCTAssertEqual(RuntimeConfiguration.fromEnvironment().gomaxprocs, ProcessInfo.processInfo.activeProcessorCount)
        }
        XCTAssertEqual(RuntimeConfiguration.parseSize("256K"), 262_144)
        XCTAssertEqual(RuntimeConfiguration.parseSize("1MiB"), 1_048_576)
        XCTAssertNil(RuntimeConfiguration.parseSize("lots"))
    }
}

/// Counts how often each index was hit, from any thread.
final class HitCounter: @unchecked Sendable {
    private let counts: UnsafeMutablePointer<Atomic<Int>>
    private let count: Int

    init(count: Int) {
        self.count = count
        counts = .allocate(capacity: count)
        for i in 0..<count { (counts + i).initialize(to: Atomic<Int>(0)) }
    }

    func hit(_ i: Int) { counts[i].add(1, ordering: .relaxed) }

    var missing: [Int] { (0..<count).filter { counts[$0].load(ordering: .relaxed) == 0 } }
    var duplicated: [Int] { (0..<count).filter { counts[$0].load(ordering: .relaxed) > 1 } }
}
