import CStackSwitch
import Synchronization

// Block and mutex events, with Go's sampling rules, feeding `ContentionBuckets`.
//
// Block events are recorded by the goroutine (or thread) that blocked, after it wakes, at its own stack:
// channel operations, select, Mutex/RWMutex lock, WaitGroup wait, Cond wait, semaphores. With the rate at
// 0 (the default) a blocking path pays one relaxed load and one branch and never reads the clock.
//
// Mutex events are recorded by the goroutine that unlocks a contended lock, at its stack, with the time
// the waiter it wakes has waited (Go attributes contention to the holder that made others wait).

final class AtomicCounter: Sendable {
    private let value: Atomic<UInt64>
    init(seed: UInt64) { value = Atomic(seed) }
    @inline(__always) func advance(by delta: UInt64) -> UInt64 {
        value.wrappingAdd(delta, ordering: .relaxed).newValue
    }
}

enum ContentionProfiler {
    /// Block profile rate in ns (Go's SetBlockProfileRate); 0 = off.
    static let blockRate = Atomic<Int64>(0)
    /// Mutex profile fraction (Go's SetMutexProfileFraction); 0 = off.
    static let mutexFraction = Atomic<Int64>(0)

    /// Start of a blocking wait: a timestamp when block profiling is on, else 0 (and no clock read).
    @inline(__always) static func blockStart() -> Int64 {
        blockRate.load(ordering: .relaxed) == 0 ? 0 : gr_nanotime()
    }

    /// Start of a wait a mutex profile may charge to the unlocker: a timestamp when mutex profiling is on.
    @inline(__always) static func mutexWaitStart() -> Int64 {
        mutexFraction.load(ordering: .relaxed) == 0 ? 0 : gr_nanotime()
    }

    /// End of a blocking wait that began at `start` (from `blockStart`, non-zero): records it if sampled.
    /// Call it directly from the blocking function (`if start != 0 { recordBlock(since: start) }`): the
    /// recorded stack starts at its caller.
    @inline(never)
    static func recordBlock(since start: Int64) {
        let rate = blockRate.load(ordering: .relaxed)
        if rate <= 0 { return }
        let cycles = max(1, gr_nanotime() - start)
        var count = 1.0, delay = Double(cycles)
        if cycles < rate {
            // Shorter than the rate: keep with probability cycles/rate, weighted so totals stay unbiased.
            if FastRandom.unit() * Double(rate) >= Double(cycles) { return }
            count = Double(rate) / Double(cycles)
            delay = Double(rate)
        }
        // Our own frame: the walk starts at the return into the blocking call.
        let fp = gr_current_frame_address()
        withUnsafeTemporaryAllocation(of: UInt.self, capacity: ContentionBuckets.maxDepth) { buf in
            let n = captureContentionStack(from: fp, into: buf.baseAddress!, max: ContentionBuckets.maxDepth)
            ContentionBuckets.block.add(stack: buf.baseAddress!, depth: n, count: count, delay: delay)
        }
    }

    /// The unlocker woke a waiter that had waited since `start` (from `mutexWaitStart`, non-zero). Call it
    /// directly from the unlocking function.
    @inline(never)
    static func recordMutex(since start: Int64) {
        let fraction = mutexFraction.load(ordering: .relaxed)
        if fraction <= 0 { return }
        if fraction > 1 && FastRandom.below(Int(fraction)) != 0 { return }
        let cycles = Double(max(0, gr_nanotime() - start))
        // Stored scaled by the fraction, as Go ≥1.21 does.
        let fp = gr_current_frame_address()
        withUnsafeTemporaryAllocation(of: UInt.self, capacity: ContentionBuckets.maxDepth) { buf in
            let n = captureContentionStack(from: fp, into: buf.baseAddress!, max: ContentionBuckets.maxDepth)
            ContentionBuckets.mutex.add(stack: buf.baseAddress!, depth: n, count: Double(fraction),
                                        delay: Double(fraction) * cycles)
        }
    }
}

extension Go {
    /// Go's runtime.SetBlockProfileRate: record blocking events lasting `nanoseconds` or more, and shorter
    /// ones with probability duration/rate (weighted to stay unbiased). 1 records every event; 0 or less
    /// turns block profiling off.
    public static func setBlockProfileRate(_ nanoseconds: Int) {
        ContentionProfiler.blockRate.store(Int64(max(0, nanoseconds)), ordering: .relaxed)
    }

    /// The current block profile rate in ns (0 = off).
    public static var blockProfileRate: Int { Int(ContentionProfiler.blockRate.load(ordering: .relaxed)) }

    /// Go's runtime.SetMutexProfileFraction: report on average 1 in `fraction` contention events (0 = off).
    /// A negative argument only reads the current value. Returns the previous value.
    @discardableResult
    public static func setMutexProfileFraction(_ fraction: Int) -> Int {
        if fraction < 0 { return Int(ContentionProfiler.mutexFraction.load(ordering: .relaxed)) }
        return Int(ContentionProfiler.mutexFraction.exchange(Int64(fraction), ordering: .relaxed))
    }

    /// The block profile's buckets: one record per blocking stack (leaf = the blocking call).
    public static func blockProfileRecords() -> [ContentionBucketRecord] { ContentionBuckets.block.snapshot() }

    /// The mutex profile's buckets: one record per unlocking stack, scaled by the fraction in force.
    public static func mutexProfileRecords() -> [ContentionBucketRecord] { ContentionBuckets.mutex.snapshot() }
}
