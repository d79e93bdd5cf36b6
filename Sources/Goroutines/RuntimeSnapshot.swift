import CStackSwitch

/// A goroutine as seen by a snapshot: what dumps and profiles need, copied out so it stays valid.
public struct GoroutineSnapshot: Sendable {
    /// The goroutine id, as dumps print it (`goroutine 7 [...]`).
    public var id: Int64
    /// Running, runnable, waiting or in a blocking call.
    public var status: GoroutineStatus
    /// Why it waits (Go's strings); `.zero` when not waiting.
    public var waitReason: WaitReason
    /// How long it has been waiting or in a blocking call (zero otherwise).
    public var waitDuration: Duration
    /// Return addresses, leaf first. Empty for a goroutine running on another thread (never walked) and for
    /// one that has not started yet.
    public var stack: [UInt]
    /// Return address in the function that spawned it, 0 for the main goroutine.
    public var creatorPC: UInt
    /// The goroutine that started it (`created by … in goroutine N`); 0 for goroutine 1.
    public var parentID: Int64
    /// Its profiler labels (`Go.withLabels`).
    public var labels: [GoroutineLabel]
    /// Whether it is wired to its thread (`Go.lockOSThread()`).
    public var lockedToThread: Bool
    /// The goroutine that took the snapshot (shown as running, with its own stack).
    public var isCurrent: Bool
    /// Found leaked by the last leak scan and not run since (see `Go.findLeakedGoroutines`); tracebacks
    /// print `[<wait reason> (leaked)]`, as Go 1.27 does.
    public var isLeaked: Bool = false
}

/// A P as scheddetail prints it.
public struct ProcessorSnapshot: Sendable {
    /// The P's index, 0..<GOMAXPROCS.
    public var id: Int
    /// Go's P status number (0 idle, 1 running, 2 syscall, 3 gcstop, 4 dead).
    public var status: UInt32
    /// Goroutines this P has started running.
    public var schedtick: UInt
    /// Blocking calls made on this P.
    public var syscalltick: UInt
    /// The M holding this P, if any.
    public var threadID: Int?
    /// Goroutines in its local run queue.
    public var runQueueLength: Int
    /// Exited goroutines cached for reuse (`gfreecnt`).
    public var freeGoroutines: Int
    /// Timers on this P's heap (`timerslen`).
    public var timers: Int
}

/// An M (OS thread) as scheddetail and the threadcreate profile need it.
public struct ThreadSnapshot: Sendable {
    /// The M's number (`M3`).
    public var id: Int
    /// The P it holds, if any.
    public var processorID: Int?
    /// The goroutine it runs now, if any (`curg`).
    public var currentGoroutineID: Int64?
    /// Looking for work without any (Go's spinning M).
    public var spinning: Bool
    /// Asleep, waiting for work.
    public var blocked: Bool
    /// The goroutine wired to it by `lockOSThread`, if any.
    public var lockedGoroutineID: Int64?
    /// Return addresses of the code that made the runtime create this thread, leaf first.
    public var creationStack: [UInt]
}

/// The scheduler-wide counters of a SCHED line.
public struct SchedulerSummary: Sendable {
    /// Number of Ps (GOMAXPROCS).
    public var gomaxprocs: Int
    /// Ps without an M.
    public var idleProcs: Int
    /// Ms (OS threads) created.
    public var threads: Int
    /// Ms looking for work.
    public var spinningThreads: Int
    /// Ms asleep, waiting for work.
    public var idleThreads: Int
    /// Goroutines in the global run queue.
    public var globalRunQueue: Int
    /// Idle Ms that are wired to a goroutine (`nmidlelocked`).
    public var lockedIdleThreads: Int
    /// Each P's local run-queue length.
    public var localRunQueues: [Int]
    /// Each P's `schedtick`.
    public var schedticks: [UInt]
}

/// Read-only views of the runtime for schedtrace, profiles and the debug server. Nothing here blocks the
/// scheduler: a parked goroutine is pinned (its scan lock held) only while its stack is walked, and a
/// running one is never walked.
public enum RuntimeSnapshot {
    /// All goroutines alive when the call started, the caller first if it is a goroutine, then by id.
    /// With stacks, this is a consistent profile (see `ConsistentGoroutineProfile`); `maxDepth` bounds each
    /// stack walk. Without stacks, it is a quick look at ids and states.
    public static func goroutines(withStacks: Bool = true, maxDepth: Int = 1024) -> [GoroutineSnapshot] {
        let sched = Scheduler.shared
        if withStacks { return sched.goroutineProfiles.collect(maxDepth: maxDepth) }
        let me = M.current?.curG
        var result: [GoroutineSnapshot] = []
        for g in sched.goroutinesCopy() {
            let status = g.status
            if g === me {
                result.insert(describe(g, status: .running, isCurrent: true), at: 0)
            } else if status != .dead && status != .idle && g.id != 0 {
                result.append(describe(g, status: status, isCurrent: false))
            }
        }
        return result
    }

    /// A goroutine's description without its stack.
    static func describe(_ g: G, status: GoroutineStatus, isCurrent: Bool) -> GoroutineSnapshot {
        let now = Scheduler.shared.coarseNow.load(ordering: .relaxed)
        var waited: Int64 = 0
        if status == .waiting { waited = max(0, now - g.waitSince) }
        if status == .syscall { waited = max(0, now - g.syscallSince) }
        return GoroutineSnapshot(
            id: g.id, status: status, waitReason: status == .waiting ? g.waitReason : .zero,
            waitDuration: .nanoseconds(waited), stack: [], creatorPC: g.creatorPC, parentID: g.parentID,
            labels: g.labelsForSnapshot()?.labels ?? [], lockedToThread: g.lockedM != nil, isCurrent: isCurrent,
            isLeaked: status == .waiting && LeakDetection.isMarkedLeaked(g))
    }

    /// A goroutine pinned by its scan lock (so not running), with its stack walked.
    static func pinnedSnapshot(_ g: G, status: GoroutineStatus, maxDepth: Int) -> GoroutineSnapshot {
        var snap = describe(g, status: status, isCurrent: false)
        snap.stack = walkGoroutineStack(g, maxDepth: maxDepth)
        return snap
    }

    /// Number of live goroutines (Go's runtime.NumGoroutine), without walking anything.
    public static var goroutineCount: Int {
        Scheduler.shared.liveGoroutines.load(ordering: .relaxed)
    }

    /// Every P, by index, as scheddetail prints them.
    public static func processors() -> [ProcessorSnapshot] {
        let sched = Scheduler.shared
        // Which M holds which P, from the Ms' atomic mirrors: `P.m` is written under the scheduler's
        // lock and must not be read without it (ThreadSanitizer reported that race).
        var holders: [Int: Int] = [:]
        for m in sched.allMsCopy() {
            let pid = m.pID.load(ordering: .relaxed)
            if pid >= 0 { holders[pid] = m.id }
        }
        return (0..<sched.procs).map { i in
            let p = sched.p(i)
            return ProcessorSnapshot(
                id: i, status: p.statusWord.load(ordering: .relaxed), schedtick: p.schedtick.load(ordering: .relaxed),
                syscalltick: p.syscalltick.load(ordering: .relaxed), threadID: holders[i], runQueueLength: p.runq.count,
                freeGoroutines: p.freeGCount.load(ordering: .relaxed), timers: p.timers.count.load(ordering: .relaxed))
        }
    }

    /// All Ms, newest first (Go's allm order).
    public static func threads() -> [ThreadSnapshot] {
        Scheduler.shared.allMsCopy().reversed().map { m in
            let pid = m.pID.load(ordering: .relaxed)
            let gid = m.curGID.load(ordering: .relaxed)
            let locked = m.lockedGID.load(ordering: .relaxed)
            return ThreadSnapshot(
                id: m.id, processorID: pid >= 0 ? pid : nil, currentGoroutineID: gid > 0 ? gid : nil,
                spinning: m.spinningFlag.load(ordering: .relaxed), blocked: m.blocked.load(ordering: .relaxed),
                lockedGoroutineID: locked > 0 ? locked : nil, creationStack: m.creationStack)
        }
    }

    /// The counters of a `SCHED` line.
    public static func summary() -> SchedulerSummary {
        let sched = Scheduler.shared
        let ps = (0..<sched.procs).map { sched.p($0) }
        return SchedulerSummary(
            gomaxprocs: sched.procs, idleProcs: sched.npidle.load(ordering: .relaxed),
            threads: sched.mcount.load(ordering: .relaxed), spinningThreads: sched.nmspinning.load(ordering: .relaxed),
            idleThreads: sched.nmidle.load(ordering: .relaxed), globalRunQueue: sched.globalCount.load(ordering: .relaxed),
            lockedIdleThreads: sched.nmidlelocked.load(ordering: .relaxed),
            localRunQueues: ps.map { $0.runq.count }, schedticks: ps.map { $0.schedtick.load(ordering: .relaxed) })
    }
}
