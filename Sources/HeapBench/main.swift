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

@inline(never) func mallocFreePairs(size: Int) -> Double {
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

var pairLibc: [Double] = [], pairOff: [Double] = [], pairOn: [Double] = []
var workOff: [Double] = [], workOn: [Double] = []
_ = swiftWorkload(iterations: 2_000)   // warm up caches and lazy metadata
for _ in 0..<rounds {
    gr_heap_set_rate(0)
    pairLibc.append(libcMallocFreePairs(size: 64))
    pairOff.append(mallocFreePairs(size: 64))
    workOff.append(swiftWorkload(iterations: 20_000))
    gr_heap_set_rate(onRate)
    pairOn.append(mallocFreePairs(size: 64))
    workOn.append(swiftWorkload(iterations: 20_000))
}
var stats = gr_heap_stats()
gr_heap_read_stats(&stats)
report("malloc_free_pair_64B", "glibc_direct", pairLibc, unit: "ns_per_pair")
report("malloc_free_pair_64B", "interposed_rate_0", pairOff, unit: "ns_per_pair")
report("malloc_free_pair_64B", "interposed_rate_524288", pairOn, unit: "ns_per_pair")
report("swift_alloc_workload", "rate_0", workOff, unit: "ns_per_iteration")
report("swift_alloc_workload", "rate_524288", workOn, unit: "ns_per_iteration")
let slowdown = (median(workOn) / median(workOff) - 1) * 100
print("{\"bench\":\"swift_alloc_workload\",\"slowdown_percent\":\(fixed2(slowdown)),\"samples\":\(stats.samples),\"checksum\":\(checksum & 0xffff)}")
