import Foundation
import Synchronization
import XCTest
@testable import Goroutines

/// Goroutines that never yield must not starve the others (issue 14): sysmon takes the P of a goroutine
/// that ran 10 ms without yielding and gives it to another thread. Go's TestPreemption-style cases at
/// GOMAXPROCS 1 and 2; Go's TestPingPongHog and a TestGCFairness2-style test with Go's counts.
final class PreemptionTests: XCTestCase {
    /// Every case runs at GOMAXPROCS 1 and 2.
    private func atEachGOMAXPROCS(_ body: (Int) throws -> Void) rethrows {
        for procs in [1, 2] {
            let before = Go.setMaxProcs(procs)
            defer { Go.setMaxProcs(before) }
            try body(procs)
        }
    }

    func testSpinnersOnEveryPDoNotStopASleeper() throws {
        try atEachGOMAXPROCS { procs in
            let finished = try whileSpinning(procs) {
                for _ in 0..<20 { Go.sleep(for: .milliseconds(1)) }
            }
            XCTAssertTrue(finished, "20 sleeps of 1 ms did not finish while \(procs) goroutines spun (GOMAXPROCS \(procs))")
        }
    }

    func testSpinnersOnEveryPDoNotStopATimeoutTicker() throws {
        try atEachGOMAXPROCS { procs in
            let finished = try whileSpinning(procs) {
                let never = Channel<Int>()
                var ticks = 0
                while ticks < 10 {
                    select {
                        Receive(never) { _ in }
                        Timeout(.milliseconds(2)) { ticks += 1 }
                    }
                }
            }
            XCTAssertTrue(finished, "GOMAXPROCS \(procs)")
        }
    }

    func testSpinnersOnEveryPDoNotStopAChannelPingPong() throws {
        try atEachGOMAXPROCS { procs in
            let finished = try whileSpinning(procs) {
                let ping = Channel<Int>(), pong = Channel<Int>()
                go {
                    while let v = ping.receive() { pong.send(v + 1) }
                }
                var v = 0
                for _ in 0..<1000 {
                    ping.send(v)
                    v = pong.receive()!
                }
                ping.close()
                XCTAssertEqual(v, 1000)
            }
            XCTAssertTrue(finished, "GOMAXPROCS \(procs)")
        }
    }

    /// A pair ping-ponging through `runnext` for many time slices is displaced every 10 ms (it inherits
    /// one time slice): the P moves to another thread while the displaced goroutine, now without a P,
    /// readies its partner through the global queue. No hand-over may leave that partner with nobody
    /// awake to run it (a P handed back to the idle list just as the partner was queued did).
    func testPingPongPairDisplacedManyTimesKeepsRunning() throws {
        try atEachGOMAXPROCS { procs in
            let before = Scheduler.shared.displacements.load(ordering: .relaxed)
            let rounds = try Go.runBlocking { () -> Int in
                let ping = Channel<Int>(), pong = Channel<Int>()
                go {
                    while let v = ping.receive() { pong.send(v) }
                }
                let end = ContinuousClock.now + .milliseconds(300)
                var rounds = 0
                while ContinuousClock.now < end {
                    ping.send(rounds)
                    rounds = pong.receive()! + 1
                }
                ping.close()
                return rounds
            }
            XCTAssertGreaterThan(rounds, 0)
            XCTAssertGreaterThan(Scheduler.shared.displacements.load(ordering: .relaxed), before,
                                 "the pair was never displaced (GOMAXPROCS \(procs))")
        }
    }

    /// Timers started and abandoned by the thousand (Go.after channels nobody reads, select timeouts
    /// that lose) while every P spins; the last one must still fire.
    func testSpinnersOnEveryPDoNotStopTimersAmidTimerGarbage() throws {
        try atEachGOMAXPROCS { procs in
            let finished = try whileSpinning(procs) {
                let ready = Channel<Int>(capacity: 1)
                for i in 0..<2000 {
                    _ = Go.after(.seconds(30))
                    ready.send(i)
                    select {
                        Receive(ready) { _ in }
                        Timeout(.seconds(30))
                    }
                }
                _ = Go.after(.milliseconds(5)).receive()
            }
            XCTAssertTrue(finished, "GOMAXPROCS \(procs)")
        }
    }

    /// Go's "timer fires while all Ps spin": a timer channel must deliver while GOMAXPROCS goroutines
    /// spin until it has.
    func testTimerFiresWhileAllPsSpin() throws {
        try atEachGOMAXPROCS { procs in
            let fired = Atomic<Bool>(false)
            let gaveUp = Atomic<Bool>(false)
            try Go.runBlocking {
                let wg = WaitGroup()
                let timer = Go.after(.milliseconds(5))
                for _ in 0..<procs {
                    wg.go {
                        let deadline = ContinuousClock.now + .seconds(20)
                        while !fired.load(ordering: .acquiring) {
                            if ContinuousClock.now > deadline { gaveUp.store(true, ordering: .relaxed); break }
                        }
                    }
                }
                _ = timer.receive()
                fired.store(true, ordering: .releasing)
                wg.wait()
            }
            XCTAssertFalse(gaveUp.load(ordering: .relaxed), "the timer only fired after the spinners gave up (GOMAXPROCS \(procs))")
        }
    }

    /// Go's TestPingPongHog (GOMAXPROCS 1): two goroutines pass a token and count to 1e6 each turn, two
    /// others pass another token and count to 1e3; after 100 ms both pairs must have done comparable work
    /// (counts within a factor of 20), which needs the hog pair, ping-ponging through `runnext`, to lose
    /// the P after its time slice.
    func testPingPongHog() throws {
        let before = Go.setMaxProcs(1)
        defer { Go.setMaxProcs(before) }
        let (hogCount, lightCount) = try Go.runBlocking { () -> (Int, Int) in
            let done = Channel<Void>()
            let hogChan = Channel<Bool>(), lightChan = Channel<Bool>()
            let hogCount = Counter(), lightCount = Counter()
            // Without preemption the hog pair keeps the P forever; the deadline makes that a failure, not a hang.
            let deadline = ContinuousClock.now + .seconds(20)
            @Sendable func run(_ limit: Int, _ counter: Counter, _ wake: Channel<Bool>) {
                var stop = false
                while !stop && ContinuousClock.now < deadline {
                    select {
                        Receive(done) { _ in stop = true }
                        Receive(wake) { _ in
                            for _ in 0..<limit { counter.increment() }
                            wake.send(true)
                        }
                    }
                }
            }
            for _ in 0..<2 { go { run(1_000_000, hogCount, hogChan) } }
            for _ in 0..<2 { go { run(1_000, lightCount, lightChan) } }
            hogChan.send(true)
            lightChan.send(true)
            Go.sleep(for: .milliseconds(100))
            done.close()
            _ = hogChan.receive()
            _ = lightChan.receive()
            return (hogCount.value, lightCount.value)
        }
        let factor = 20
        XCTAssertFalse(hogCount / factor > lightCount || lightCount / factor > hogCount,
                       "want hogCount/lightCount in [1/\(factor), \(factor)]; got \(hogCount)/\(lightCount)")
    }

    /// Go's TestGCFairness2 without the GC (we have none): at GOMAXPROCS 1, three goroutines allocate in
    /// a loop forever; within 30 ms (or, failing that, another second) each must have run.
    func testThreeAllocatingSpinnersAllRunAtGOMAXPROCS1() throws {
        let before = Go.setMaxProcs(1)
        defer { Go.setMaxProcs(before) }
        let stop = Atomic<Bool>(false)
        let counts = (0..<3).map { _ in Counter() }
        let sinks = (0..<3).map { _ in Sink() }
        let notRun = try Go.runBlocking { () -> [Int] in
            let deadline = ContinuousClock.now + .seconds(20)  // a failure without preemption, not a hang
            for i in 0..<3 {
                go {
                    while !stop.load(ordering: .relaxed) && ContinuousClock.now < deadline {
                        sinks[i].keep([UInt8](repeating: UInt8(truncatingIfNeeded: i), count: 1024))
                        counts[i].increment()
                    }
                }
            }
            Go.sleep(for: .milliseconds(30))
            var notRun = (0..<3).filter { counts[$0].value == 0 }
            if !notRun.isEmpty {
                Go.sleep(for: .seconds(1))
                notRun = (0..<3).filter { counts[$0].value == 0 }
            }
            return notRun
        }
        stop.store(true, ordering: .relaxed)
        XCTAssertEqual(notRun, [], "goroutines \(notRun) did not run")
    }

    /// Goroutines that allocate in a tight loop are never switched out (let alone inside malloc): a
    /// displaced goroutine keeps its thread and is not rescheduled until it calls into the runtime. Each
    /// checks, around every allocation, that it was not switched in again and did not change thread,
    /// while a sleeper proves their Ps were handed over.
    func testAllocatingSpinnersAreNeverSwitchedWhileTheirPsAreHandedOver() throws {
        try atEachGOMAXPROCS { procs in
            let switched = Atomic<Int>(0)
            let before = Scheduler.shared.displacements.load(ordering: .relaxed)
            let finished = try whileSpinning(procs, spinner: { stop in
                let g = M.current!.curG!
                let runs = g.runCount
                let thread = pthread_self()
                var sink: [Int] = []
                while !stop() {
                    sink = Array(repeating: sink.count &+ 1, count: 64)
                    if g.runCount != runs || pthread_self() != thread { switched.wrappingAdd(1, ordering: .relaxed); return }
                }
                withExtendedLifetime(sink) {}
            }) {
                for _ in 0..<10 { Go.sleep(for: .milliseconds(1)) }
            }
            XCTAssertTrue(finished, "GOMAXPROCS \(procs)")
            XCTAssertEqual(switched.load(ordering: .relaxed), 0, "a spinner was switched out in its loop")
            XCTAssertGreaterThan(Scheduler.shared.displacements.load(ordering: .relaxed), before,
                                 "no P was handed over, so the sleeper never needed one")
        }
    }

    /// A displaced goroutine is still `[running]` in a goroutine dump, keeps its labels, and its thread
    /// count grows the process by at most one M per hog.
    func testDisplacedGoroutineShowsRunningWithItsLabels() throws {
        let before = Go.setMaxProcs(1)
        defer { Go.setMaxProcs(before) }
        let hogID = GoroutineIDBox()
        let stop = Atomic<Bool>(false)
        let threadsBefore = Scheduler.shared.mcount.load(ordering: .relaxed)
        let displacedBefore = Scheduler.shared.displacements.load(ordering: .relaxed)
        try Go.runBlocking {
            go {
                Go.withLabels(["role": "hog"]) {
                    hogID.publish()
                    let deadline = ContinuousClock.now + .seconds(20)
                    while !stop.load(ordering: .relaxed) && ContinuousClock.now < deadline {}
                }
            }
            eventually("the hog loses its P") {
                Scheduler.shared.displacements.load(ordering: .relaxed) > displacedBefore
            }
            // The sleeper below needs the P the hog lost.
            for _ in 0..<5 { Go.sleep(for: .milliseconds(1)) }
            let hog = RuntimeSnapshot.goroutines(withStacks: false).first { $0.id == hogID.id.load(ordering: .acquiring) }
            XCTAssertEqual(hog?.status, .running)
            XCTAssertEqual(hog?.labels.map { "\($0.key)=\($0.value)" }, ["role=hog"])
            stop.store(true, ordering: .relaxed)
        }
        let grown = Scheduler.shared.mcount.load(ordering: .relaxed) - threadsBefore
        XCTAssertLessThanOrEqual(grown, 1, "one hog added \(grown) threads")
    }

    /// A hog in a program run by `Go.main` is not "all goroutines are asleep", and GOMAXPROCS spinners plus
    /// a sleeper complete there too (subprocess: the deadlock detector needs a process of its own).
    func testHogNeverLooksLikeADeadlockAndSchedtraceCountsItsThread() throws {
        for procs in ["1", "2"] {
            let r = try ScenarioProcess.run("hog-while-main-waits",
                                            environment: ["GOMAXPROCS": procs, "GODEBUG": "schedtrace=50"])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(r.stdout, "slept=20 hogs=\(procs)\n")
            XCTAssertFalse(r.stderr.contains("deadlock"), r.stderr)
            // Every SCHED line's thread count: M0, sysmon, and at most one more M per P plus one per hog.
            let threads = r.stderr.split(separator: "\n").compactMap { line -> Int? in
                guard let range = line.range(of: "threads=") else { return nil }
                return Int(line[range.upperBound...].prefix { $0.isNumber })
            }
            XCTAssertFalse(threads.isEmpty, r.stderr)
            let limit = 2 + 2 * Int(procs)! + 1
            XCTAssertLessThanOrEqual(threads.max() ?? 0, limit, "GOMAXPROCS \(procs): \(threads)")
        }
    }
}

/// Runs `body` in a goroutine while `procs` goroutines run `spinner` (default: spin until told to stop,
/// never yielding). The spinners stop when `body` returns, or after 20 s of real time; returns whether
/// `body` finished before that.
private func whileSpinning(
    _ procs: Int,
    spinner: @escaping @Sendable (_ stop: () -> Bool) -> Void = { stop in while !stop() {} },
    _ body: @escaping @Sendable () -> Void
) throws -> Bool {
    let stop = Atomic<Bool>(false)
    let finished = Atomic<Bool>(false)
    try Go.runBlocking {
        let wg = WaitGroup()
        let deadline = ContinuousClock.now + .seconds(20)
        for _ in 0..<procs {
            wg.go {
                spinner { stop.load(ordering: .relaxed) || ContinuousClock.now > deadline }
            }
        }
        // Let the spinners take every P before the body asks for one.
        Go.sleep(for: .milliseconds(1))
        body()
        finished.store(ContinuousClock.now <= deadline, ordering: .relaxed)
        stop.store(true, ordering: .relaxed)
        wg.wait()
    }
    return finished.load(ordering: .relaxed)
}

final class Counter: @unchecked Sendable {
    private let count = Atomic<Int>(0)
    func increment() { count.wrappingAdd(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}

/// Keeps the latest allocation alive so the loop really allocates (Go's `sink`).
final class Sink: @unchecked Sendable {
    private var kept: [UInt8] = []
    func keep(_ bytes: [UInt8]) { kept = bytes }
}
