// Swift face of the sampled heap profiler in CSampling (MallocInterpose.c, HeapSampler.c).
//
// Every malloc-family call in the process goes through CSampling's interposer. Each thread samples an
// allocation whenever its byte countdown (exponential gaps, mean = `samplingRate`) runs out; a sample
// records the stack into a bucket per distinct stack, already unbiased by 1/(1 - e^(-size/rate)), and
// `free` of a sampled block takes it back out of "in use". This file reads those buckets.
import CSampling

/// Sampled heap profiling of the whole process, the equivalent of Go's `runtime.MemProfileRate` and the
/// data behind the `heap` and `allocs` profiles.
public enum HeapProfiler {
    /// Go's default `MemProfileRate`: one sample per 512 KiB allocated, on average.
    public static let defaultSamplingRate = Int(GR_HEAP_DEFAULT_RATE)
    /// Read once at startup: a rate in bytes, `0` turns sampling off. Anything else keeps the default.
    public static let samplingRateEnvironmentVariable = GR_HEAP_RATE_ENV

    /// Mean number of bytes allocated between samples; `0` means off, `1` samples every allocation.
    public static var samplingRate: Int { Int(gr_heap_get_rate()) }

    /// Changes the sampling rate for every thread. Blocks sampled before keep being tracked, so their
    /// frees still count after the rate changes or sampling is switched off.
    public static func setSamplingRate(_ bytes: Int) throws(HeapProfilerError) {
        guard bytes >= 0 else { throw .negativeSamplingRate(bytes) }
        gr_heap_set_rate(Int64(bytes))
    }

    /// Counters of the sampler itself.
    public static var statistics: HeapSamplerStatistics {
        var raw = gr_heap_stats()
        gr_heap_read_stats(&raw)
        return HeapSamplerStatistics(raw)
    }

    /// Which malloc-family functions the process actually resolves to our interposer.
    public static var interposedFunctions: [String: Bool] {
        var result: [String: Bool] = [:]
        for index in 0..<gr_malloc_family_size() {
            guard let name = gr_malloc_family_name(index) else { continue }
            result[String(cString: name)] = gr_malloc_family_member_interposed(index) != 0
        }
        return result
    }

    /// Reads every bucket, newest first (the order Go's MemProfile lists its records in). Buckets that
    /// hold the same stack are merged; stacks are return addresses, allocation site first, starting at
    /// the caller of the malloc-family function.
    public static func snapshot() -> HeapSnapshot {
        let rate = samplingRate
        var byStack: [[UInt]: HeapProfileRecord] = [:]
        var order: [(created: UInt64, stack: [UInt])] = []
        var buffer = [UInt](repeating: 0, count: Int(GR_HEAP_STACK_DEPTH))
        for index in 0..<gr_heap_bucket_capacity() {
            var depth = 0
            var counts = gr_heap_bucket_counts()
            let present = buffer.withUnsafeMutableBufferPointer { stack in
                gr_heap_read_bucket(index, stack.baseAddress, stack.count, &depth, &counts)
            }
            guard present != 0 else { continue }
            let stack = Array(buffer[0..<depth])
            let record = HeapProfileRecord(stack: stack, counts: counts)
            if let existing = byStack[stack] {
                byStack[stack] = existing.merged(with: record)
            } else {
                byStack[stack] = record
                order.append((counts.creation_order, stack))
            }
        }
        order.sort { $0.created > $1.created }
        return HeapSnapshot(samplingRate: rate, records: order.map { byStack[$0.stack]! }, statistics: statistics)
    }
}

/// A rejected heap-profiler setting.
public enum HeapProfilerError: Error, Sendable, Hashable, CustomStringConvertible {
    case negativeSamplingRate(Int)

    /// What was wrong and the accepted range.
    public var description: String {
        switch self {
        case .negativeSamplingRate(let bytes):
            return "heap sampling rate must be 0 (off) or a positive number of bytes, got \(bytes)"
        }
    }
}

/// What one allocation stack allocated and still holds. Estimates are unbiased sums over the samples;
/// `sampled…` fields count the samples themselves (what Go's `debug=1` text prints).
public struct HeapProfileRecord: Sendable, Hashable {
    /// Return addresses, allocation site first (the caller of `malloc`, `swift_slowAlloc`, …).
    public var stack: [UInt]
    /// Estimated objects allocated here since the program began.
    public var allocatedObjects: Int64
    /// Estimated bytes allocated here since the program began.
    public var allocatedBytes: Int64
    /// Estimated objects from here still live.
    public var inUseObjects: Int64
    /// Estimated bytes from here still live.
    public var inUseBytes: Int64
    /// Samples taken here (raw count).
    public var sampledAllocations: Int64
    /// Bytes of the sampled allocations (raw).
    public var sampledAllocatedBytes: Int64
    /// Sampled allocations still live (raw).
    public var sampledInUseObjects: Int64
    /// Bytes of the sampled allocations still live (raw).
    public var sampledInUseBytes: Int64

    /// A record with the given figures (tests; the profiler builds them from its buckets).
    public init(stack: [UInt], allocatedObjects: Int64, allocatedBytes: Int64, inUseObjects: Int64,
                inUseBytes: Int64, sampledAllocations: Int64, sampledAllocatedBytes: Int64,
                sampledInUseObjects: Int64, sampledInUseBytes: Int64) {
        self.stack = stack
        self.allocatedObjects = allocatedObjects
        self.allocatedBytes = allocatedBytes
        self.inUseObjects = inUseObjects
        self.inUseBytes = inUseBytes
        self.sampledAllocations = sampledAllocations
        self.sampledAllocatedBytes = sampledAllocatedBytes
        self.sampledInUseObjects = sampledInUseObjects
        self.sampledInUseBytes = sampledInUseBytes
    }

    init(stack: [UInt], counts c: gr_heap_bucket_counts) {
        // Object estimates are kept in 1/65536 units; truncate as Go's int64(count * scale) does.
        self.init(
            stack: stack,
            allocatedObjects: Int64(c.alloc_objects_fx >> 16),
            allocatedBytes: Int64(c.alloc_bytes_est),
            inUseObjects: Int64((c.alloc_objects_fx - c.free_objects_fx) >> 16),
            inUseBytes: Int64(c.alloc_bytes_est - c.free_bytes_est),
            sampledAllocations: Int64(c.sampled_allocs),
            sampledAllocatedBytes: Int64(c.sampled_alloc_bytes),
            sampledInUseObjects: Int64(c.sampled_allocs - c.sampled_frees),
            sampledInUseBytes: Int64(c.sampled_alloc_bytes - c.sampled_free_bytes))
    }

    func merged(with other: HeapProfileRecord) -> HeapProfileRecord {
        HeapProfileRecord(
            stack: stack,
            allocatedObjects: allocatedObjects + other.allocatedObjects,
            allocatedBytes: allocatedBytes + other.allocatedBytes,
            inUseObjects: inUseObjects + other.inUseObjects,
            inUseBytes: inUseBytes + other.inUseBytes,
            sampledAllocations: sampledAllocations + other.sampledAllocations,
            sampledAllocatedBytes: sampledAllocatedBytes + other.sampledAllocatedBytes,
            sampledInUseObjects: sampledInUseObjects + other.sampledInUseObjects,
            sampledInUseBytes: sampledInUseBytes + other.sampledInUseBytes)
    }
}

/// All buckets at one moment, with the rate they were sampled at.
public struct HeapSnapshot: Sendable {
    /// The sampling rate when the snapshot was taken (the profile's period).
    public var samplingRate: Int
    /// One record per allocation stack.
    public var records: [HeapProfileRecord]
    /// The sampler's health counters at that moment.
    public var statistics: HeapSamplerStatistics

    /// A snapshot from given parts (tests; `HeapProfiler.snapshot()` takes real ones).
    public init(samplingRate: Int, records: [HeapProfileRecord], statistics: HeapSamplerStatistics) {
        self.samplingRate = samplingRate
        self.records = records
        self.statistics = statistics
    }
}

/// How the heap sampler is doing: samples taken and what it had to drop.
public struct HeapSamplerStatistics: Sendable, Hashable {
    /// Sampled allocations recorded.
    public var samples: UInt64
    /// Samples lost because every stack slot was taken (distinct stacks exceeded the table).
    public var stackTableDrops: UInt64
    /// Sampled blocks whose free could not be tracked (side table full); they stay "in use".
    public var pointerTableDrops: UInt64
    /// Samples skipped because the hook was re-entered on the same thread (e.g. from a signal handler).
    public var reentrantSkips: UInt64
    /// Samples taken on a stack whose bounds were unknown; they record only the allocation's caller.
    public var unwalkableStacks: UInt64
    /// Sampled blocks currently alive.
    public var liveSampledBlocks: UInt64
    /// Distinct stacks recorded.
    public var bucketsUsed: UInt64

    init(_ raw: gr_heap_stats) {
        samples = raw.samples
        stackTableDrops = raw.stack_table_drops
        pointerTableDrops = raw.pointer_table_drops
        reentrantSkips = raw.reentrant_skips
        unwalkableStacks = raw.unwalkable_stacks
        liveSampledBlocks = raw.live_sampled_blocks
        bucketsUsed = raw.buckets_used
    }
}
