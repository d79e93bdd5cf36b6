import Goroutines
#if canImport(Glibc)
import Glibc
#endif

struct DemoSettings: Sendable {
    var leakEvery: Duration
    /// Goroutines that burn CPU without ever yielding.
    var spinners: Int
}

/// The workloads, each in goroutines carrying a `workload` label so profiles can be sliced by it.
enum Workloads {
    static func startAll(_ settings: DemoSettings) {
        go { Go.withLabels(["workload": "timer"]) { timerTask() } }
        go { Go.withLabels(["workload": "blocking-call"]) { blockingCaller() } }
        go { Go.withLabels(["workload": "alloc-churn"]) { allocationChurn() } }
        go { Go.withLabels(["workload": "leak"]) { leakGoroutines(every: settings.leakEvery) } }
        for _ in 0..<settings.spinners {
            go { Go.withLabels(["workload": "spin"]) { spinForever() } }
        }
    }

    /// Busy computation that never yields: with as many spinners as Ps, no other goroutine runs (the
    /// runtime has no preemption), yet the debug server, on its own threads, still answers.
    @inline(never) static func spinForever() {
        var x = 0
        while true { x = checksum(of: x) &+ 1 }
    }

    /// A sleepy, timer-driven task: wakes every 100 ms, does a little work.
    static func timerTask() {
        var ticks = 0
        while true {
            Go.sleep(for: .milliseconds(100))
            ticks &+= checksum(of: ticks)
        }
    }

    /// A goroutine that spends most of its time in blocking system calls (the runtime hands its P to
    /// another thread meanwhile).
    static func blockingCaller() {
        while true {
            Go.blockingCall { _ = usleep(50_000) }
            Go.sleep(for: .milliseconds(10))
        }
    }

    /// Allocation churn with a slow leak: most buffers die young, one in a hundred is kept forever.
    static func allocationChurn() {
        let retained = LeakedBuffers()
        var round = 0
        while true {
            for _ in 0..<100 {
                let buffer = makeRequestBuffer(size: 4096 + round % 4096)
                if round % 100 == 0 { retained.keep(buffer) }
                round &+= 1
            }
            Go.sleep(for: .milliseconds(20))
        }
    }

    /// Goroutines that wait for a signal nobody will ever send: the classic leak, growing over time.
    static func leakGoroutines(every interval: Duration) {
        let neverDone = WaitGroup()
        neverDone.add(1)
        while true {
            go { waitForever(on: neverDone) }
            Go.sleep(for: interval)
        }
    }

    @inline(never) static func waitForever(on group: WaitGroup) {
        group.wait()
    }

    @inline(never) static func makeRequestBuffer(size: Int) -> [UInt8] {
        [UInt8](repeating: UInt8(truncatingIfNeeded: size), count: size)
    }

    @inline(never) static func checksum(of n: Int) -> Int {
        var h = n
        for i in 0..<1000 { h = h &* 31 &+ i }
        return h & 1
    }
}

/// Buffers the churn workload never frees (the slow leak the heap profile should point at).
final class LeakedBuffers: @unchecked Sendable {
    private var buffers: [[UInt8]] = []
    func keep(_ buffer: [UInt8]) { buffers.append(buffer) }
}
