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
        // Block and mutex profiles are off by default, as in Go; a service that wants them turns them on.
        Go.setBlockProfileRate(10_000)
        Go.setMutexProfileFraction(5)
        go { Go.withLabels(["workload": "worker-pool"]) { workerPool(workers: 4) } }
        go { Go.withLabels(["workload": "fan-out"]) { fanOutFanIn(width: 8) } }
        go { Go.withLabels(["workload": "mutex-hotspot"]) { mutexHotspot(goroutines: 4) } }
        go { Go.withLabels(["workload": "forgotten-cancel"]) { forgottenCancel() } }
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

    /// Receivers on a channel nobody closes or sends on: the classic goroutine leak, growing over time
    /// (`[chan receive]` in goroutine dumps, with a wait that keeps growing).
    static func leakGoroutines(every interval: Duration) {
        let neverSent = Channel<Int>()
        while true {
            go { waitForReply(on: neverSent) }
            Go.sleep(for: interval)
        }
    }

    @inline(never) static func waitForReply(on channel: Channel<Int>) {
        _ = channel.receive()
    }

    /// A worker pool: a producer feeds jobs, workers compute and send results, a collector drains them.
    static func workerPool(workers: Int) {
        let jobs = Channel<Int>(capacity: 16)
        let results = Channel<Int>(capacity: 16)
        for _ in 0..<workers {
            go {
                for job in jobs { results.send(processJob(job)) }
            }
        }
        go {
            var total = 0
            for result in results { total &+= result }
        }
        var next = 0
        while true {
            for _ in 0..<50 {
                jobs.send(next)
                next &+= 1
            }
            Go.sleep(for: .milliseconds(5))
        }
    }

    /// A fan-out/fan-in stage: a coordinator starts parallel lookups and waits for all of them
    /// (`[sync.WaitGroup.Wait]` in goroutine dumps while the slowest one is still out).
    static func fanOutFanIn(width: Int) {
        var round = 0
        while true {
            let wg = WaitGroup()
            let results = Channel<Int>(capacity: width)
            let current = round
            for part in 0..<width {
                wg.go { results.send(lookUpPart(part, round: current)) }
            }
            waitForParts(wg)
            results.close()
            var merged = 0
            for r in results { merged &+= r }
            round &+= merged & 1
            Go.sleep(for: .milliseconds(20))
        }
    }

    @inline(never) static func waitForParts(_ wg: WaitGroup) { wg.wait() }

    @inline(never) static func lookUpPart(_ part: Int, round: Int) -> Int {
        Go.sleep(for: .milliseconds(10 + 5 * part))
        return checksum(of: part &+ round)
    }

    @inline(never) static func processJob(_ job: Int) -> Int {
        checksum(of: job)
    }

    /// Several goroutines fighting over one mutex held while doing work, and now and then while waiting
    /// (a slow flush under the lock): a contention hot spot in the mutex profile and goroutines parked in
    /// `[sync.Mutex.Lock]` in goroutine dumps.
    static func mutexHotspot(goroutines: Int) {
        let lock = GoMutex()
        let shared = SharedCounter()
        for _ in 0..<goroutines {
            go {
                while true {
                    updateSharedState(lock, shared)
                    Go.sleep(for: .milliseconds(1))
                }
            }
        }
    }

    @inline(never) static func updateSharedState(_ lock: GoMutex, _ shared: SharedCounter) {
        lock.withLock {
            for _ in 0..<20 { shared.value &+= checksum(of: shared.value) }
            shared.updates &+= 1
            if shared.updates % 8 == 0 { Go.sleep(for: .milliseconds(20)) }
        }
    }

    /// A request handler that creates a context with a timeout and never calls its cancel function, and
    /// waits for a reply that never comes: each one leaves a goroutine and a timer behind until the
    /// timeout fires (Go's `go vet` "lostcancel" story).
    static func forgottenCancel() {
        while true {
            let (context, _) = Context.background.withTimeout(.seconds(30))  // cancel forgotten
            let reply = Channel<String>()
            go { handleRequest(context, reply: reply) }
            Go.sleep(for: .milliseconds(500))
        }
    }

    @inline(never) static func handleRequest(_ context: Context, reply: Channel<String>) {
        select {
            Receive(reply) { _ in }
            Receive(context.done) { _ in }
        }
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

/// State guarded by the hot-spot mutex.
final class SharedCounter: @unchecked Sendable {
    var value = 0
    var updates = 0
}

/// Buffers the churn workload never frees (the slow leak the heap profile should point at).
final class LeakedBuffers: @unchecked Sendable {
    private var buffers: [[UInt8]] = []
    func keep(_ buffer: [UInt8]) { buffers.append(buffer) }
}
