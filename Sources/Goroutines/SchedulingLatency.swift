// Runnable-to-running delay, as Go's /sched/latencies:seconds measures it: the time a goroutine spends
// made runnable (spawned, woken, yielded) before an M starts running it.
//
// Like Go, only one transition in eight is timed (two clock reads per timed transition), chosen by the
// goroutine's run count, so the hot path pays a branch most of the time. Each P owns its histogram and
// only the M holding that P writes it, so the counters never bounce between cores; readers sum the Ps.
import CStackSwitch
import Synchronization

/// Bucket edges in nanoseconds (lower bounds, inclusive), the edges client_golang reports for Go's
/// histogram after folding it to powers of ten: 64 ns, 640 ns, 7.168 µs, 81.92 µs, 917.504 µs,
/// 10.48576 ms, 117.440512 ms. A first bucket [0, 64 ns) and a last one [117 ms, ∞) complete it.
let schedulingLatencyEdges: [Int64] = [64, 640, 7_168, 81_920, 917_504, 10_485_760, 117_440_512]

final class SchedulingLatencyHistogram: @unchecked Sendable {
    /// One counter per bucket: the edges above plus the open last bucket.
    let counts = InlineArray<8, Atomic<UInt64>> { _ in Atomic(0) }
    let sumNanoseconds = Atomic<UInt64>(0)

    init() {}

    var bucketCounts: [UInt64] { (0..<8).map { counts[$0].load(ordering: .relaxed) } }

    @inline(__always) func record(_ nanoseconds: Int64) {
        var index = 0
        while index < schedulingLatencyEdges.count && nanoseconds >= schedulingLatencyEdges[index] { index += 1 }
        counts[index].wrappingAdd(1, ordering: .relaxed)
        sumNanoseconds.wrappingAdd(UInt64(max(0, nanoseconds)), ordering: .relaxed)
    }
}

/// Whether this transition of `g` to runnable is one of the timed ones; if so, stamps it.
@inline(__always) func stampRunnable(_ g: G) {
    g.runnableSince = (g.runCount & 7) == 0 ? gr_nanotime() : 0
}

/// Called as `g` starts running on `p`: records the delay when the transition was timed.
@inline(__always) func recordRunnableDelay(_ g: G, on p: P) {
    let since = g.runnableSince
    guard since != 0 else { return }
    g.runnableSince = 0
    p.schedulingLatency.record(gr_nanotime() - since)
}

/// The scheduling-latency histogram summed over every P ever created (Ps dropped by a lower
/// GOMAXPROCS keep their counts, so the totals only grow).
public struct SchedulingLatencies: Sendable, Hashable {
    /// Lower bounds of the buckets after the first, in nanoseconds; bucket 0 is [0, edges[0]).
    public var bucketEdgesNanoseconds: [Int64]
    /// Timed transitions per bucket (`bucketEdgesNanoseconds.count + 1` entries; the last is open-ended).
    public var counts: [UInt64]
    /// Sum of the timed delays.
    public var sumNanoseconds: UInt64
}

extension RuntimeSnapshot {
    /// How long goroutines waited, runnable, before running (one transition in eight is timed, as in
    /// Go's `/sched/latencies:seconds`). Counts only grow.
    public static func schedulingLatencies() -> SchedulingLatencies {
        var counts = [UInt64](repeating: 0, count: schedulingLatencyEdges.count + 1)
        var sum: UInt64 = 0
        for p in Scheduler.shared.allCreatedPs() {
            for (index, count) in p.schedulingLatency.bucketCounts.enumerated() { counts[index] &+= count }
            sum &+= p.schedulingLatency.sumNanoseconds.load(ordering: .relaxed)
        }
        return SchedulingLatencies(bucketEdgesNanoseconds: schedulingLatencyEdges, counts: counts, sumNanoseconds: sum)
    }
}

extension RuntimeSnapshot {
    /// Goroutines started since the program began (Go's `/sched/goroutines-created:goroutines`).
    public static var goroutinesCreated: Int64 { Scheduler.shared.goidgen.load(ordering: .relaxed) }
}
