// Heap sampler overhead: malloc/free pair cost and an allocation-heavy Swift workload, each with
// sampling off (rate 0) and at Go's default rate (512 KiB), interleaved in one process and timed in
// thread CPU time so other processes on the machine disturb the numbers less. One JSON line per result.
//
//   swift build -c release --product HeapBench && .build/release/HeapBench [rounds]
import CSampling
import Glibc

func threadCPUNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted[sorted.count / 2]
}

// ---- malloc/free pairs ------------------------------------------------------------------------------

let pairs = 5_000_000
nonisolated(unsafe) var sink: UnsafeMutableRawPointer?

@inline(never) func mallocFreePairs(size: Int, pairs: Int = pairs) -> Double {
    let start = threadCPUNanoseconds()
    for i in 0..<pairs {
        let block = malloc(size &+ (i & 7))
        sink = block
        free(block)
    }
    return Double(threadCPUNanoseconds() - start) / Double(pairs)
}

@inline(never) func libcMallocFreePairs(size: Int) -> Double {
    let start = threadCPUNanoseconds()
    for i in 0..<pairs {
        let block = gr_libc_malloc(size &+ (i & 7))
        sink = block
        gr_libc_free(block)
    }
    return Double(threadCPUNanoseconds() - start) / Double(pairs)
}

// ---- the Swift workload -----------------------------------------------------------------------------

final class Order {
    let id: Int
    let customer: String
    var lines: [Int]
    var next: Order?
    init(id: Int, customer: String, lines: [Int], next: Order?) {
        self.id = id
        self.customer = customer
        self.lines = lines
        self.next = next
    }
}

nonisolated(unsafe) var checksum = 0

/// Strings longer than the 15-byte small-string form, growing arrays, class instances in a list.
@inline(never) func swiftWorkload(iterations: Int) -> Double {
    let start = threadCPUNanoseconds()
    var total = 0
    for i in 0..<iterations {
        var parts: [String] = []
        for j in 0..<8 { parts.append("customer-\(i)-request-\(j)") }
        let joined = parts.joined(separator: ",")
        var lines: [Int] = []
        for k in 0..<32 { lines.append(k &* i) }
        var head: Order? = nil
        for k in 0..<6 { head = Order(id: k, customer: parts[k], lines: lines, next: head) }
        var dictionary: [String: Int] = [:]
        for (index, part) in parts.enumerated() { dictionary[part] = index }
        total &+= joined.utf8.count &+ (head?.lines.count ?? 0) &+ dictionary.count
    }
    checksum &+= total
    return Double(threadCPUNanoseconds() - start) / Double(iterations)
}

// ---- attribution self-check (frame skipping must hold in release builds too) -----------------------

// Unoptimized so that the call below is not turned into a tail call (which would drop this frame).
@_optimize(none) @inline(never) func callSiteOfCaller() -> UInt { gr_heap_stack_frame(2) }

@inline(never) func allocateForSelfCheck(_ blocks: UnsafeMutablePointer<UnsafeMutableRawPointer?>, count: Int) -> UInt {
    let site = callSiteOfCaller()
    for i in 0..<count { blocks[i] = malloc(100) }
    return site
}

/// At rate 1, every block allocated in allocateForSelfCheck must land in buckets whose stack starts in
/// that function (index 0) and passes through its call site (index 1).
func attributionSelfCheck() -> (attributed: UInt64, leafAtSite: Bool) {
    let count = 1000
    let blocks = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: count)
    defer { blocks.deallocate() }
    gr_heap_set_rate(1)
    let site = allocateForSelfCheck(blocks, count: count)
    gr_heap_set_rate(0)
    var attributed: UInt64 = 0
    var leafAtSite = true
    var stack = [UInt](repeating: 0, count: Int(GR_HEAP_STACK_DEPTH))
    for index in 0..<gr_heap_bucket_capacity() {
        var depth = 0
        var counts = gr_heap_bucket_counts()
        let present = stack.withUnsafeMutableBufferPointer { gr_heap_read_bucket(index, $0.baseAddress, $0.count, &depth, &counts) }
        guard present != 0, let position = stack[0..<depth].firstIndex(of: site) else { continue }
        attributed += counts.sampled_allocs
        if position != 1 { leafAtSite = false }
    }
    for i in 0..<count { free(blocks[i]) }
    return (attributed, leafAtSite)
}

// ---- driver -----------------------------------------------------------------------------------------

let rounds = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 7 : 7
let onRate: Int64 = Int64(GR_HEAP_DEFAULT_RATE)
func report(_ name: String, _ mode: String, _ values: [Double], unit: String) {
    let formatted = fixed2(median(values))
    print("{\"bench\":\"\(name)\",\"mode\":\"\(mode)\",\"\(unit)\":\(formatted),\"rounds\":\(values.count)}")
}

/// `x` with two decimals, without Foundation.
func fixed2(_ x: Double) -> String {
    let hundredths = Int((abs(x) * 100).rounded())
    let fraction = hundredths % 100
    return (x < 0 && hundredths != 0 ? "-" : "") + "\(hundredths / 100)." + (fraction < 10 ? "0" : "") + "\(fraction)"
}

let check = attributionSelfCheck()
print("{\"bench\":\"attribution_selfcheck\",\"attributed\":\(check.attributed),\"expected\":1000,\"caller_is_leaf\":\(check.leafAtSite)}")

var pairLibc: [Double] = [], pairOff: [Double] = [], pairOn: [Double] = [], pairEvery: [Double] = []
var workOff: [Double] = [], workOn: [Double] = []
var workloadSamples: UInt64 = 0
_ = swiftWorkload(iterations: 2_000)   // warm up caches and lazy metadata
for _ in 0..<rounds {
    gr_heap_set_rate(0)
    pairLibc.append(libcMallocFreePairs(size: 64))
    pairOff.append(mallocFreePairs(size: 64))
    workOff.append(swiftWorkload(iterations: 20_000))
    gr_heap_set_rate(1)   // every pair sampled: the full cost of one sample (walk, bucket, side table, credit)
    pairEvery.append(mallocFreePairs(size: 64, pairs: pairs / 20))
    gr_heap_set_rate(onRate)
    pairOn.append(mallocFreePairs(size: 64))
    var before = gr_heap_stats(), after = gr_heap_stats()
    gr_heap_read_stats(&before)
    workOn.append(swiftWorkload(iterations: 20_000))
    gr_heap_read_stats(&after)
    workloadSamples += after.samples - before.samples
}
report("malloc_free_pair_64B", "glibc_direct", pairLibc, unit: "ns_per_pair")
report("malloc_free_pair_64B", "interposed_rate_0", pairOff, unit: "ns_per_pair")
report("malloc_free_pair_64B", "interposed_rate_524288", pairOn, unit: "ns_per_pair")
report("malloc_free_pair_64B", "interposed_rate_1", pairEvery, unit: "ns_per_pair")
report("swift_alloc_workload", "rate_0", workOff, unit: "ns_per_iteration")
report("swift_alloc_workload", "rate_524288", workOn, unit: "ns_per_iteration")
let slowdown = (median(workOn) / median(workOff) - 1) * 100
print("{\"bench\":\"swift_alloc_workload\",\"slowdown_percent\":\(fixed2(slowdown)),\"samples_during_workload\":\(workloadSamples),\"checksum\":\(checksum & 0xffff)}")
