import CStackSwitch
import Goroutines
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// Runtime benchmarks. Each prints one JSON line; each runs in its own process (see scripts/bench-runtime.sh)
// so peak RSS belongs to it alone. The Go peers in Tests/GoPeers/runtime do the same work.

func fib(_ n: Int) -> Int { n < 2 ? n : fib(n - 1) + fib(n - 2) }

/// Switches between two contexts directly, without the scheduler: the cost floor of a goroutine switch.
func benchRawSwitch(iterations: Int) -> BenchResult {
    // Contexts live in raw memory: the two sides pass them to each other across switches.
    let contexts = UnsafeMutablePointer<gr_context>.allocate(capacity: 2)
    contexts.initialize(repeating: gr_context(), count: 2)
    let stackSize = 64 * 1024
    let stack = gr_stack_reserve(stackSize)!
    let entry: @convention(c) (UnsafeMutableRawPointer?) -> Void = { raw in
        let contexts = raw!.assumingMemoryBound(to: gr_context.self)
        while true { gr_context_switch(contexts + 1, contexts) }
    }
    gr_context_make(contexts + 1, UInt(bitPattern: stack) + UInt(stackSize), entry, UnsafeMutableRawPointer(contexts))
    let start = gr_nanotime()
    for _ in 0..<iterations { gr_context_switch(contexts, contexts + 1) }
    let elapsed = gr_nanotime() - start
    return BenchResult(name: "raw_switch", ops: iterations * 2, elapsedNanos: elapsed)
}

/// Spawns and joins empty goroutines, one at a time.
func benchSpawnJoin(iterations: Int) -> BenchResult {
    let wg = WaitGroup()
    let start = gr_nanotime()
    for _ in 0..<iterations {
        wg.add(1)
        go { wg.done() }
        wg.wait()
    }
    return BenchResult(name: "spawn_join", ops: iterations, elapsedNanos: gr_nanotime() - start)
}

/// N goroutines each computing fib(k), joined with a WaitGroup.
func benchFib(goroutines: Int, n: Int) -> BenchResult {
    let wg = WaitGroup()
    let start = gr_nanotime()
    for _ in 0..<goroutines {
        wg.add(1)
        go {
            blackHole(fib(n))
            wg.done()
        }
    }
    wg.wait()
    return BenchResult(name: "fib\(n)_x\(goroutines)", ops: goroutines, elapsedNanos: gr_nanotime() - start)
}

/// N goroutines parked on one gate; measures creation until all are parked, then release until all exit.
func benchParked(goroutines: Int) -> [BenchResult] {
    let gate = WaitGroup()
    gate.add(1)
    let parked = WaitGroup()
    let exited = WaitGroup()
    let start = gr_nanotime()
    for _ in 0..<goroutines {
        parked.add(1)
        exited.add(1)
        go {
            parked.done()
            gate.wait()
            exited.done()
        }
    }
    parked.wait()
    let created = gr_nanotime()
    let rssParked = peakRSSKiB()
    gate.done()
    exited.wait()
    let released = gr_nanotime()
    // All 100 000 have exited: their stacks sit in the free caches; this shows whether their pages did too.
    let rssReleased = currentRSSKiB()
    var create = BenchResult(name: "parked_create_x\(goroutines)", ops: goroutines, elapsedNanos: created - start)
    create.extra["rss_parked_kib"] = Double(rssParked)
    create.extra["rss_per_goroutine_bytes"] = Double(rssParked * 1024) / Double(goroutines)
    var release = BenchResult(name: "parked_release_x\(goroutines)", ops: goroutines, elapsedNanos: released - created)
    release.extra["rss_after_release_kib"] = Double(rssReleased)
    return [create, release]
}

/// Two goroutines alternating with Gosched (GOMAXPROCS=1 makes it a pure ping-pong).
func benchGoschedPing(iterations: Int) -> BenchResult {
    let wg = WaitGroup()
    let start = gr_nanotime()
    for _ in 0..<2 {
        wg.add(1)
        go {
            for _ in 0..<iterations { Go.yield() }
            wg.done()
        }
    }
    wg.wait()
    return BenchResult(name: "gosched_ping", ops: iterations * 2, elapsedNanos: gr_nanotime() - start)
}

/// N goroutines each sleeping 1 ms once; wall time and wake-up lag percentiles.
func benchSleep(goroutines: Int) -> BenchResult {
    let lags = LagRecorder(count: goroutines)
    let wg = WaitGroup()
    let start = gr_nanotime()
    for i in 0..<goroutines {
        wg.add(1)
        go {
            let before = gr_nanotime()
            Go.sleep(for: .milliseconds(1))
            lags.record(i, gr_nanotime() - before - 1_000_000)
            wg.done()
        }
    }
    wg.wait()
    var result = BenchResult(name: "sleep1ms_x\(goroutines)", ops: goroutines, elapsedNanos: gr_nanotime() - start)
    let sorted = lags.values.sorted()
    result.extra["lag_p50_us"] = Double(sorted[sorted.count / 2]) / 1000
    result.extra["lag_p99_us"] = Double(sorted[sorted.count * 99 / 100]) / 1000
    return result
}

final class LagRecorder: @unchecked Sendable {
    private(set) var values: [Int64]
    init(count: Int) { values = Array(repeating: 0, count: count) }
    func record(_ i: Int, _ lag: Int64) { values[i] = lag }  // each index written by one goroutine only
}

@inline(never) func blackHole<T>(_ x: T) { _ = x }

/// Wake-up lag of a goroutine sleeping 1 ms, `sleeps` times in a row, while GOMAXPROCS goroutines spin
/// without ever yielding: the sleeper runs only because sysmon takes a spinner's P (Go preempts it).
func benchHogSleepLag(sleeps: Int) -> BenchResult {
    let procs = Go.maxProcs
    let stop = StopFlag()
    let wg = WaitGroup()
    for _ in 0..<procs {
        wg.go { while !stop.isSet {} }
    }
    Go.sleep(for: .milliseconds(1))  // let the spinners take every P
    var lags: [Int64] = []
    lags.reserveCapacity(sleeps)
    let start = gr_nanotime()
    for _ in 0..<sleeps {
        let before = gr_nanotime()
        Go.sleep(for: .milliseconds(1))
        lags.append(gr_nanotime() - before - 1_000_000)
    }
    let elapsed = gr_nanotime() - start
    stop.set()
    wg.wait()
    var result = BenchResult(name: "hog_sleep1ms_p\(procs)_x\(sleeps)", ops: sleeps, elapsedNanos: elapsed)
    result.extra["lag_mean_us"] = Double(lags.reduce(0, +)) / Double(sleeps) / 1000
    result.extra["lag_max_us"] = Double(lags.max() ?? 0) / 1000
    return result
}

final class StopFlag: @unchecked Sendable {
    private let flag = Atomic<Bool>(false)
    var isSet: Bool { flag.load(ordering: .relaxed) }
    func set() { flag.store(true, ordering: .relaxed) }
}
