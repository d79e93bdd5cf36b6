import CSampling
import CStackSwitch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The G/M/P scheduler, as Go's proc.go arranges it: Ps hold run queues, Ms (threads) take a P and run its
/// goroutines on their own stack ("g0"), idle Ms sleep on a futex note, and a bounded number of Ms spin
/// looking for work so that a goroutine made runnable is picked up without waiting for a thread wake-up.
///
/// Locking: `lock` guards the idle P and M lists, the M list and the global run queue. Counters that hot
/// paths read without the lock are atomics mirrored under it.
final class Scheduler: @unchecked Sendable {
    static let shared = Scheduler()
    static let maxProcs = 1024

    let lock = RuntimeLock()

    // Ps: a fixed table so readers never race with growth; entries are never removed.
    private let allpTable: UnsafeMutablePointer<Unmanaged<P>?>
    let procsCreated = Atomic<Int>(0)
    let gomaxprocs = Atomic<Int>(0)
    private var idlePs: [P] = []
    let npidle = Atomic<Int>(0)

    // Ms
    private var idleMs: [M] = []
    let nmidle = Atomic<Int>(0)
    let nmidlelocked = Atomic<Int>(0)
    private(set) var allMs: [M] = []
    let mcount = Atomic<Int>(0)
    let nmsys = Atomic<Int>(0)
    let nmspinning = Atomic<Int>(0)

    // Global run queue (under `lock`), count readable without it.
    @Unretained private var globalHead: G?
    @Unretained private var globalTail: G?
    let globalCount = Atomic<Int>(0)
    private var globalFreeGs: [G] = []
    /// Dead Gs beyond `globalFreeGsKeepingPages` in the global cache: their stacks' pages went back to the
    /// kernel, so a burst of goroutines does not stay resident after it ends (under `lock`).
    private var globalFreeGsReleased: [G] = []
    static let globalFreeGsKeepingPages = 256

    // Goroutines
    let allgLock = RuntimeLock()
    private(set) var allGs: [G] = []
    let goidgen = Atomic<Int64>(0)
    /// The goroutine profile being collected, if any.
    let goroutineProfiles = ConsistentGoroutineProfile()
    /// Goroutines started and not yet exited (Go's NumGoroutine), kept live so counting is free.
    let liveGoroutines = Atomic<Int>(0)
    /// Goroutines inside `blockingCall`.
    let blockingCalls = Atomic<Int>(0)
    /// Plain threads blocked on runtime objects (channels, wait groups): they may still wake goroutines.
    let externalWaiters = Atomic<Int>(0)

    // The one idle M that sleeps with a timeout until the earliest timer.
    @Unretained var timedSleeper: M?
    var timedSleeperDeadline = Int64.max
    let timedSleeperDeadlineMirror = Atomic<Int64>(Int64.max)

    /// True when `Goroutines.main` owns the process: only then can "all goroutines asleep" be proven.
    let ownsProcess = Atomic<Bool>(false)
    let started = Atomic<Bool>(false)
    private let startLock = RuntimeLock()
    private(set) var stacks = StackAllocator(stackSize: RuntimeConfiguration.defaultStackSize)
    private(set) var configuration = RuntimeConfiguration.fromEnvironment()
    /// Coarse monotonic clock (ns), advanced by sysmon; good enough for wait durations.
    let coarseNow = Atomic<Int64>(0)
    let startTime = gr_nanotime()
    let panicking = Atomic<Bool>(false)
    /// Ps taken from goroutines that ran 10 ms without yielding (SchedulerDisplacement.swift).
    let displacements = Atomic<Int>(0)

    private init() {
        allpTable = .allocate(capacity: Self.maxProcs)
        allpTable.initialize(repeating: nil, count: Self.maxProcs)
        coarseNow.store(startTime, ordering: .relaxed)
    }

    @inline(__always) func p(_ index: Int) -> P { allpTable[index]!.takeUnretainedValue() }

    /// Every P created so far, including those above the current GOMAXPROCS (Ps are never freed).
    func allCreatedPs() -> [P] {
        (0..<procsCreated.load(ordering: .acquiring)).map { p($0) }
    }

    var procs: Int { gomaxprocs.load(ordering: .acquiring) }

    // MARK: start-up

    /// Creates the Ps and sysmon once. Safe to call from any thread, any number of times.
    func ensureStarted(adoptingMainThread: Bool = false) {
        if started.load(ordering: .acquiring) { return }
        startLock.lock()
        defer { startLock.unlock() }
        if started.load(ordering: .acquiring) { return }
        stacks = StackAllocator(stackSize: configuration.stackSize)
        installStackOverflowHandler()
        gr_displace_install()
        resizeProcs(to: configuration.gomaxprocs)
        // The main thread becomes M0 before sysmon (M1) exists, as in Go.
        if adoptingMainThread { mainThreadM = adoptCurrentThreadAsM() }
        started.store(true, ordering: .releasing)
        Sysmon.start()
    }

    /// M0 when `Go.main` owns the process.
    private(set) var mainThreadM: M?

    /// Turns the calling thread into an M that holds a P (the main thread under `Go.main`).
    private func adoptCurrentThreadAsM() -> M {
        let m = newMRecord(isSystem: false)
        bindThread(m)
        lock.lock()
        let p = pidleget()
        lock.unlock()
        guard let p else { fatalRuntimeError("no idle P for the main thread") }
        acquireP(m, p)
        return m
    }

    // MARK: Ps

    func acquireP(_ m: M, _ p: P) {
        // A request left for the P's previous holder is not about this one.
        _ = gr_displace_cas(p.displaceWord, UInt32(GR_DISPLACE_REQUESTED), UInt32(GR_DISPLACE_NONE))
        // A new holder starts a new time slice, even if its first goroutine inherits one from `runnext`.
        p.schedtick.wrappingAdd(1, ordering: .relaxed)
        m.setP(p)
        p.m = m
        p.status = .running
    }

    @discardableResult
    func releaseP(_ m: M) -> P {
        let p = m.p!
        p.m = nil
        p.status = .idle
        m.setP(nil)
        return p
    }

    /// Caller holds `lock`.
    private func pidleput(_ p: P) {
        if p.id >= procs {
            p.status = .dead
            return
        }
        p.status = .idle
        idlePs.append(p)
        npidle.wrappingAdd(1, ordering: .relaxed)
    }

    /// Caller holds `lock`.
    func pidleget() -> P? {
        guard let p = idlePs.popLast() else { return nil }
        npidle.wrappingSubtract(1, ordering: .relaxed)
        return p
    }

    /// GOMAXPROCS: grows by adding idle Ps; shrinks by retiring Ps as their Ms next reach the scheduler.
    @discardableResult
    func resizeProcs(to requested: Int) -> Int {
        let n = min(max(1, requested), Self.maxProcs)
        lock.lock()
        let old = procs
        // Ps first, `procs` after: other Ms read `procs` without the lock and index the table with it
        // (stealing, sysmon), so a P must exist before its id is below `procs`.
        let created = procsCreated.load(ordering: .relaxed)
        if n > created {
            for i in created..<n {
                let p = P(id: i)
                allpTable[i] = Unmanaged.passRetained(p)
            }
            procsCreated.store(n, ordering: .releasing)
        }
        gomaxprocs.store(n, ordering: .releasing)
        // Highest id first, so that popping hands out P0 first (the main thread gets P0, as in Go). Only
        // Ps nobody holds become idle: new ones and fully retired (dead) ones. A P that is idle but not in
        // the list is in someone's hands (being retired, or handed to a waking M): that owner puts it
        // back, and putting it here too would give it two owners.
        for i in (0..<n).reversed() where i >= created || self.p(i).status == .dead {
            pidleput(self.p(i))
        }
        if n < old {
            idlePs.removeAll { p in
                if p.id >= n {
                    p.status = .dead
                    npidle.wrappingSubtract(1, ordering: .relaxed)
                    return true
                }
                return false
            }
        }
        lock.unlock()
        if old > 0 && n > old { for _ in old..<n { wakep() } }
        return old
    }

    /// A running M whose P was retired by a GOMAXPROCS decrease hands its work to the global queue.
    private func retireP(_ m: M) {
        // A spinning M (just handed this P by wakep) stops counting as spinning before it sleeps:
        // otherwise wakep, seeing a spinner, wakes nobody for the work queued below or already global.
        if m.spinning {
            m.setSpinning(false)
            nmspinning.wrappingSubtract(1, ordering: .relaxed)
        }
        let p = releaseP(m)
        var work = p.runq.drain()
        let next = p.runnext.exchange(0, ordering: .acquiringAndReleasing)
        if next != 0 { work.append(G.fromOpaque(next)) }
        p.timers.lock.lock()
        let timers = p.timers.removeAll()
        p.timers.lock.unlock()
        lock.lock()
        p.status = .dead
        for g in work { globalPush(g) }
        lock.unlock()
        for t in timers { addTimer(t, to: self.p(0)) }
        if !work.isEmpty || globalCount.load(ordering: .acquiring) > 0 { wakep() }
    }

    // MARK: run queues

    @inline(__always) func runqput(_ p: P, _ g: G, next: Bool) {
        var g = g
        if next {
            let old = p.runnext.exchange(g.opaque, ordering: .acquiringAndReleasing)
            if old == 0 { return }
            g = G.fromOpaque(old)
        }
        if !p.runq.push(g) { runqputSlow(p, g) }
    }

    private func runqputSlow(_ p: P, _ g: G) {
        var batch: [G] = []
        if !p.runq.popHalf(into: &batch) {
            if p.runq.push(g) { return }
        }
        batch.append(g)
        lock.lock()
        for x in batch { globalPush(x) }
        lock.unlock()
    }

    @inline(__always) func runqget(_ p: P) -> G? {
        var inheritTime = false
        return runqget(p, inheritTime: &inheritTime)
    }

    /// `inheritTime` is set when the goroutine comes from `runnext`: it runs in the current time slice.
    @inline(__always) func runqget(_ p: P, inheritTime: inout Bool) -> G? {
        let next = p.runnext.load(ordering: .relaxed)
        if next != 0 && p.runnext.compareExchange(expected: next, desired: 0, ordering: .acquiringAndReleasing).exchanged {
            inheritTime = true
            return G.fromOpaque(next)
        }
        inheritTime = false
        return p.runq.pop()
    }

    /// Caller holds `lock`.
    private func globalPush(_ g: G) {
        g.schedLink = nil
        if let tail = globalTail { tail.schedLink = g } else { globalHead = g }
        globalTail = g
        globalCount.wrappingAdd(1, ordering: .relaxed)
    }

    /// Caller holds `lock`.
    private func globalPop() -> G? {
        guard let g = globalHead else { return nil }
        globalHead = g.schedLink
        if globalHead == nil { globalTail = nil }
        g.schedLink = nil
        globalCount.wrappingSubtract(1, ordering: .relaxed)
        return g
    }

    func globalRunqPut(_ g: G) {
        lock.lock()
        globalPush(g)
        lock.unlock()
    }

    /// Takes a fair share of the global queue into `p`'s local queue and returns one to run.
    private func globalRunqGet(_ p: P, max limit: Int) -> G? {
        lock.lock()
        defer { lock.unlock() }
        let count = globalCount.load(ordering: .relaxed)
        if count == 0 { return nil }
        var n = min(count, count / procs + 1, Int(RunQueue.capacity) / 2)
        if limit > 0 { n = min(n, limit) }
        let first = globalPop()
        for _ in 1..<max(n, 1) {
            guard let g = globalPop() else { break }
            if !p.runq.push(g) { globalPush(g); break }
        }
        return first
    }

    // MARK: spawning and readying

    /// Makes `g` runnable: into the current P's `runnext` when called on a P (the woken goroutine runs next,
    /// as in Go), otherwise into the global queue; then makes sure an M will pick it up.
    @inline(__always) func ready(_ g: G, next: Bool = true) {
        g.waitReason = .zero
        g.status = .runnable
        stampRunnable(g)
        if let m = M.current {
            if gr_p_section_enter() != 0 { dropGivenAwayP(m) }
            if let p = m.p { runqput(p, g, next: next) } else { globalRunqPut(g) }
            gr_p_section_exit()
        } else {
            globalRunqPut(g)
        }
        wakep()
    }

    func newGoroutineID() -> Int64 { goidgen.wrappingAdd(1, ordering: .relaxed).newValue }

    /// A G from the current P's cache or the global cache (with the stack of its last life), or a fresh
    /// one whose stack comes when it first runs.
    func getG() -> G {
        if let g = takeFreeG() { return g }
        let g = G(stack: .none)
        allgLock.lock()
        allGs.append(g)
        allgLock.unlock()
        return g
    }

    private func takeFreeG() -> G? {
        guard let m = M.current else { return globalFreeGs(take: 1) }
        // The free-G cache is the P's own: a P section, so this thread cannot give the P away meanwhile.
        if gr_p_section_enter() != 0 { dropGivenAwayP(m) }
        defer { gr_p_section_exit() }
        guard let p = m.p else { return globalFreeGs(take: 1) }
        if let g = p.freeGs.popLast() { return g }
        lock.lock()
        // Stacks with pages first; released ones fault their pages back in as they run.
        for _ in 0..<32 {
            guard let g = globalFreeGs.popLast() ?? globalFreeGsReleased.popLast() else { break }
            p.freeGs.append(g)
        }
        lock.unlock()
        return p.freeGs.popLast()
    }

    private func globalFreeGs(take _: Int) -> G? {
        lock.lock()
        defer { lock.unlock() }
        return globalFreeGs.popLast() ?? globalFreeGsReleased.popLast()
    }

    private func putFreeG(_ g: G, _ p: P?) {
        guard let p else {
            putGlobalFreeGs(CollectionOfOne(g))
            return
        }
        p.freeGs.append(g)
        if p.freeGs.count < 64 { return }
        putGlobalFreeGs(p.freeGs.suffix(32))
        p.freeGs.removeLast(32)
    }

    /// Moves dead Gs to the global cache; past `globalFreeGsKeepingPages` their stack pages are released
    /// first (outside the lock; one madvise per run of neighbouring stacks).
    private func putGlobalFreeGs<C: Collection<G>>(_ gs: C) {
        lock.lock()
        let keep = globalFreeGs.count < Self.globalFreeGsKeepingPages
        if keep { globalFreeGs.append(contentsOf: gs) }
        lock.unlock()
        if keep { return }
        StackAllocator.releasePages(gs.map(\.stack))
        lock.lock()
        globalFreeGsReleased.append(contentsOf: gs)
        lock.unlock()
    }

    /// Copy of the registered goroutines (dead ones included; callers filter by status).
    func goroutinesCopy() -> [G] {
        allgLock.lock()
        defer { allgLock.unlock() }
        return allGs
    }

    func spawn(_ body: @escaping @Sendable () throws -> Void, creatorPC: UInt) -> G {
        ensureStarted()
        let g = getG()
        launch(g, body: body, creatorPC: creatorPC)
        return g
    }

    /// Gives a G from `getG` its body and makes it runnable.
    func launch(_ g: G, body: @escaping @Sendable () throws -> Void, creatorPC: UInt) {
        let parent = M.current?.curG
        g.id = newGoroutineID()
        g.body = body
        g.parentID = parent?.id ?? 0
        g.creatorPC = creatorPC
        g.labels = parent?.labels
        g.waitReason = .zero
        // A fresh G keeps its zeroed context (walks see a goroutine that never ran) until `execute`.
        if !g.stack.isNone { makeEntryContext(g) }
        g.exclusivity.update(repeating: 0, count: G.exclusivityStateSize)
        g.cachedStackRunCount = .max
        g.cachedStack = []
        // Goroutines born while a goroutine profile is being taken are not part of it (as in Go).
        g.profiledGeneration.store(goroutineProfiles.generation.load(ordering: .acquiring), ordering: .relaxed)
        liveGoroutines.wrappingAdd(1, ordering: .relaxed)
        ready(g, next: true)
    }

    /// Sets `g` up to enter `goroutineEntry` at the top of its stack.
    private func makeEntryContext(_ g: G) {
        gr_context_make(g.context, g.stack.high, goroutineEntry, UnsafeMutableRawPointer(bitPattern: g.opaque))
    }

    // MARK: switching

    /// Runs `g` on this M until it switches back, then finishes what it asked for.
    private func execute(_ m: M, _ g: G, inheritTime: Bool = false) {
        // A goroutine from `runnext` runs in the current time slice (Go's inheritTime), so sysmon sees a
        // ping-pong pair that never lets the rest of the queue run as one goroutine hogging the P.
        if !inheritTime { m.p!.schedtick.wrappingAdd(1, ordering: .relaxed) }
        recordRunnableDelay(g, on: m.p!)
        while !g.scanLock.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged {
            gr_cpu_relax()
        }
        if goroutineProfiles.generation.load(ordering: .relaxed) != 0 { goroutineProfiles.recordBeforeRunning(g) }
        g.runCount &+= 1
        g.m = m
        m.curG = g
        m.curGID.store(g.id, ordering: .relaxed)
        g.status = .running
        if g.stack.isNone {
            g.stack = stacks.allocate()
            makeEntryContext(g)
        }
        gr_tls_set_goroutine_stack(g.stack.low, g.stack.high, g.stack.guardLow)
        gr_heap_set_stack_bounds(g.stack.low, g.stack.high)
        gr_tls_set_goroutine_word(UInt(bitPattern: g.labels.map { Unmanaged.passUnretained($0).toOpaque() }))
        gr_context_switch(m.g0Context, g.context)
        gr_tls_set_goroutine_stack(0, 0, 0)
        if gr_displace_take_given_away() != 0 { dropGivenAwayP(m) }
        gr_heap_set_stack_bounds(0, 0)
        gr_tls_set_goroutine_word(0)
        if !StackAllocator.canaryIntact(g.stack) { reportStackOverflowAfterTheFact(g) }
        let action = m.pending
        m.pending = .none
        m.curG = nil
        m.curGID.store(0, ordering: .relaxed)
        switch action {
        case .park(let commit):
            g.status = .waiting
            g.m = nil
            g.scanLock.store(false, ordering: .releasing)
            if let commit, !commit.commitPark(g) {
                ready(g, next: true)
            }
        case .yield:
            g.status = .runnable
            stampRunnable(g)
            g.m = nil
            g.scanLock.store(false, ordering: .releasing)
            globalRunqPut(g)
            // A displaced goroutine yielding gives its place back: wake a P to run it.
            if m.p == nil { wakep() }
        case .exit:
            g.m = nil
            if g.lockedM != nil {
                g.lockedM = nil
                m.lockedG = nil
                m.lockedGID.store(0, ordering: .relaxed)
            }
            g.status = .dead
            liveGoroutines.wrappingSubtract(1, ordering: .relaxed)
            g.scanLock.store(false, ordering: .releasing)
            if let done = g.completion {
                g.completion = nil
                gr_note_wakeup(done)
            }
            putFreeG(g, m.p)
        case .exitBlockingCallWithoutP:
            g.status = .runnable
            stampRunnable(g)
            g.m = nil
            g.scanLock.store(false, ordering: .releasing)
            globalRunqPut(g)
            wakep()
        case .none:
            fatalRuntimeError("goroutine \(g.id) switched to the scheduler without saying why")
        }
    }

    /// Leaves the goroutine's stack for the scheduler's. Returns when the goroutine runs again,
    /// possibly on another thread: callers must not reuse anything thread-bound from before.
    @inline(never)
    func switchToScheduler(_ g: G, _ m: M) {
        swift_task_exitThreadLocalContext(g.exclusivity)
        gr_context_switch(g.context, m.g0Context)
        swift_task_enterThreadLocalContext(g.exclusivity)
    }

    /// Parks the current goroutine with `reason`. `commit` runs on the scheduler stack once the goroutine
    /// is switched out: release there the lock under which you decided to park and registered for wake-up.
    /// `target` is the primitive waited on, for the leak scan.
    func park(_ reason: WaitReason, commit: ParkCommit?, target: AnyObject? = nil) {
        guard let m = M.current, let g = m.curG else {
            fatalRuntimeError("park called outside a goroutine")
        }
        g.waitReason = reason
        g.waitSince = coarseNow.load(ordering: .relaxed)
        g.waitTarget = target.map { ~UInt(bitPattern: ObjectIdentifier($0)) } ?? 0  // hidden: LeakDetection
        m.pending = .park(commit)
        switchToScheduler(g, m)
    }

    func yieldCurrent() {
        guard let m = M.current, let g = m.curG else { sched_yield(); return }
        m.pending = .yield
        switchToScheduler(g, m)
    }

    func exitCurrent(_ g: G) -> Never {
        let m = M.current!
        g.body = nil
        dropLabels(of: g)
        m.pending = .exit
        swift_task_exitThreadLocalContext(g.exclusivity)
        gr_context_switch(g.context, m.g0Context)
        fatalRuntimeError("dead goroutine \(g.id) resumed")
    }

    /// Out of line so the label set is released when it returns (exitCurrent never does).
    private func dropLabels(of g: G) {
        let labels = g.labels
        g.labels = nil
        gr_tls_set_goroutine_word(0)
        LabelSetRetention.retire(labels)   // a CPU sample may still point at it
    }

    // MARK: the scheduler loop

    /// The body of every M: find a goroutine, run it, repeat. Never returns.
    func schedulerLoop(_ m: M) -> Never {
        while true {
            // An M with a locked goroutine runs nothing else: it waits until whoever dequeues that goroutine
            // hands it over together with a P.
            if let locked = m.lockedG {
                waitForLockedG(m)
                execute(m, locked)
                continue
            }
            m.inheritTime = false
            let g = findRunnable(m)
            if m.spinning { resetSpinning(m) }
            if let owner = g.lockedM, owner !== m {
                handOffToLockedM(owner, g, from: m)
                continue
            }
            execute(m, g, inheritTime: m.inheritTime)
        }
    }

    private func resetSpinning(_ m: M) {
        m.setSpinning(false)
        nmspinning.wrappingSubtract(1, ordering: .relaxed)
        wakep()
    }

    /// Finds work for `m`, sleeping when there is none. Returns with `m.p` held.
    private func findRunnable(_ m: M) -> G {
        while true {
            guard let p = m.p else {
                // Without a P (retired by a GOMAXPROCS decrease, or given away while its goroutine ran) an
                // M must not go idle still counted as spinning: wakep would trust it to find new work.
                if m.spinning { resetSpinning(m) }
                stopM(m, until: earliestTimer())
                continue
            }
            if p.id >= procs {
                retireP(m)
                continue
            }
            // Read the clock only when some P has a timer: most scheduling rounds have none.
            let timersPending = earliestTimer() < Int64.max
            let now = timersPending ? gr_nanotime() : 0
            if timersPending { runTimers(p, now: now) }
            if p.schedtick.load(ordering: .relaxed) % 61 == 0 && globalCount.load(ordering: .relaxed) > 0 {
                if let g = globalRunqGet(p, max: 1) { return g }
            }
            if let g = runqget(p, inheritTime: &m.inheritTime) { return g }
            if globalCount.load(ordering: .relaxed) > 0, let g = globalRunqGet(p, max: 0) { return g }
            if timersPending, let g = runOtherPsTimers(p, now: now) { return g }
            if let g = pollNetworkWithoutBlocking() { return g }

            let busy = procs - npidle.load(ordering: .relaxed)
            if m.spinning || 2 * nmspinning.load(ordering: .relaxed) < busy {
                if !m.spinning {
                    m.setSpinning(true)
                    nmspinning.wrappingAdd(1, ordering: .relaxed)
                }
                if let g = stealWork(p, m) { return g }
            }

            // Nothing to do: give up the P and sleep.
            lock.lock()
            if globalCount.load(ordering: .relaxed) > 0 {
                lock.unlock()
                if let g = globalRunqGet(p, max: 0) { return g }
                continue
            }
            let released = releaseP(m)
            pidleput(released)
            lock.unlock()

            if m.spinning {
                m.setSpinning(false)
                nmspinning.wrappingSubtract(1, ordering: .relaxed)
                // Work may have been queued after we looked and before we stopped counting as spinning:
                // the readier saw a spinning M and woke nobody. Look once more, global queue included.
                if globalCount.load(ordering: .acquiring) > 0 || anyPWithStealableWork() != nil {
                    lock.lock()
                    if let p2 = pidleget() {
                        lock.unlock()
                        acquireP(m, p2)
                        m.setSpinning(true)
                        nmspinning.wrappingAdd(1, ordering: .relaxed)
                        continue
                    }
                    lock.unlock()
                }
            }
            // Goroutines waiting on sockets: the last M to go idle blocks in the poller instead.
            switch blockInNetpoll(m) {
            case .run(let g): return g
            case .retry: continue
            case .notNeeded: stopM(m, until: earliestTimer())
            }
        }
    }

    func anyPWithWork() -> P? {
        for i in 0..<procs where p(i).hasRunnableWork { return p(i) }
        return nil
    }

    private func anyPWithStealableWork() -> P? {
        for i in 0..<procs where p(i).hasStealableWork { return p(i) }
        return nil
    }

    /// Four rounds over the other Ps in random order, taking half of a victim's queue.
    private func stealWork(_ mine: P, _ m: M) -> G? {
        let n = procs
        if n <= 1 { return nil }
        for round in 0..<4 {
            let start = m.cheapRandom(below: n)
            for k in 0..<n {
                let victim = p((start + k) % n)
                if victim === mine { continue }
                if let g = mine.runq.steal(from: victim.runq) { return g }
                // A P in a blocking call cannot run its runnext soon; on the last round take it.
                if round == 3 && victim.status != .running {
                    let next = victim.runnext.load(ordering: .relaxed)
                    if next != 0 && victim.runnext.compareExchange(expected: next, desired: 0, ordering: .acquiringAndReleasing).exchanged {
                        return G.fromOpaque(next)
                    }
                }
            }
        }
        return nil
    }

    // MARK: Ms

    /// Puts `m` to sleep until it is handed a P (or, with a deadline, until a timer is due and an idle P
    /// can be taken). Returns with `m.p` held.
    func stopM(_ m: M, until initialDeadline: Int64) {
        var deadline = initialDeadline
        while true {
            gr_note_clear(m.note)
            lock.lock()
            m.nextP = nil
            idleMs.append(m)
            nmidle.wrappingAdd(1, ordering: .relaxed)
            var timed = false
            if deadline < Int64.max && deadline < timedSleeperDeadline {
                timedSleeper = m
                timedSleeperDeadline = deadline
                timedSleeperDeadlineMirror.store(deadline, ordering: .relaxed)
                timed = true
            }
            let verdict = checkDeadlock()
            lock.unlock()
            report(verdict)
            if timed {
                // A timer added between our scan and registering as the timed sleeper must not be missed.
                let recheck = earliestTimer()
                if recheck < deadline { deadline = recheck }
            }
            m.blocked.store(true, ordering: .relaxed)
            _ = gr_note_sleep(m.note, timed ? max(0, deadline - gr_nanotime()) : -1)
            m.blocked.store(false, ordering: .relaxed)
            lock.lock()
            if timedSleeper === m {
                timedSleeper = nil
                timedSleeperDeadline = Int64.max
                timedSleeperDeadlineMirror.store(Int64.max, ordering: .relaxed)
            }
            if let p = m.nextP {
                m.nextP = nil
                lock.unlock()
                acquireP(m, p)
                return
            }
            // Woken by a timeout or a nudge: leave the idle list ourselves.
            if let i = idleMs.firstIndex(where: { $0 === m }) {
                idleMs.remove(at: i)
                nmidle.wrappingSubtract(1, ordering: .relaxed)
            }
            let next = earliestTimer()
            if next <= gr_nanotime() || globalCount.load(ordering: .relaxed) > 0 || anyPWithStealableWork() != nil,
               let p = pidleget() {
                lock.unlock()
                acquireP(m, p)
                return
            }
            lock.unlock()
            // An overdue timer with no idle P to run it: the M holding its P runs it at its next schedule
            // (or loses the P to sysmon); sleeping until then, not spinning on a zero timeout.
            deadline = next <= gr_nanotime() ? Int64.max : next
        }
    }

    /// Wakes an idle M (or creates one) to run `p`.
    private func startM(_ p: P, spinning: Bool) {
        lock.lock()
        if let m = idleMs.popLast() {
            nmidle.wrappingSubtract(1, ordering: .relaxed)
            m.nextP = p
            m.setSpinning(spinning)
            lock.unlock()
            gr_note_wakeup(m.note)
            return
        }
        lock.unlock()
        startNewM(p, spinning: spinning)
    }

    /// If there is an idle P and nobody is already looking for work, wake an M to spin.
    @inline(__always) func wakep() {
        if npidle.load(ordering: .relaxed) == 0 { return }
        if nmspinning.load(ordering: .relaxed) != 0 { return }
        wakepSlow()
    }

    private func wakepSlow() {
        if !nmspinning.compareExchange(expected: 0, desired: 1, ordering: .acquiringAndReleasing).exchanged { return }
        lock.lock()
        let p = pidleget()
        lock.unlock()
        guard let p else {
            nmspinning.wrappingSubtract(1, ordering: .relaxed)
            return
        }
        startM(p, spinning: true)
    }

    /// Gives away a P this M no longer uses (blocking call retaken, locked goroutine parked).
    func handOffP(_ p: P) {
        if p.hasRunnableWork || globalCount.load(ordering: .relaxed) > 0 {
            startM(p, spinning: false)
            return
        }
        if nmspinning.load(ordering: .relaxed) + npidle.load(ordering: .relaxed) == 0,
           nmspinning.compareExchange(expected: 0, desired: 1, ordering: .acquiringAndReleasing).exchanged {
            startM(p, spinning: true)
            return
        }
        lock.lock()
        // Checked again under the lock that global-queue pushes take: a goroutine queued since the check
        // above (by a thread without a P, whose wakep saw no idle P) would otherwise wait with nobody awake.
        if globalCount.load(ordering: .relaxed) > 0 {
            lock.unlock()
            startM(p, spinning: false)
            return
        }
        pidleput(p)
        lock.unlock()
        let when = p.timers.earliest.load(ordering: .relaxed)
        if when < Int64.max { notifyTimer(when) }
    }

    private func newMRecord(isSystem: Bool) -> M {
        lock.lock()
        let m = M(id: allMs.count, isSystem: isSystem)
        allMs.append(m)
        mcount.wrappingAdd(1, ordering: .relaxed)
        if isSystem { nmsys.wrappingAdd(1, ordering: .relaxed) }
        lock.unlock()
        return m
    }

    func allMsCopy() -> [M] {
        lock.lock()
        defer { lock.unlock() }
        return allMs
    }

    /// Sets up the calling thread's thread-local state for `m`.
    func bindThread(_ m: M) {
        m.tid = gr_gettid()
        gr_tls_set_current_m(UnsafeMutableRawPointer(Unmanaged.passUnretained(m).toOpaque()))
        gr_thread_setup_signal_stack()
        gr_cpuprof_cover_current_thread()   // a CPU profile in progress samples the new M from now on
    }

    private func startNewM(_ p: P, spinning: Bool) {
        let m = newMRecord(isSystem: false)
        m.creationStack = captureCallerStack()
        m.nextP = p
        m.setSpinning(spinning)
        ThreadStarter.start(name: nil) {
            Scheduler.shared.bindThread(m)
            let p = m.nextP!
            m.nextP = nil
            Scheduler.shared.acquireP(m, p)
            Scheduler.shared.schedulerLoop(m)
        }
    }

    /// A system thread (sysmon) registered as an M so thread counts match Go's.
    func registerSystemM() -> M {
        let m = newMRecord(isSystem: true)
        m.creationStack = captureCallerStack()
        return m
    }

}

/// Entry of every goroutine (reached through the trampoline with the G as argument).
private let goroutineEntry: @convention(c) (UnsafeMutableRawPointer?) -> Void = { raw in
    let g = Unmanaged<G>.fromOpaque(raw!).takeUnretainedValue()
    swift_task_enterThreadLocalContext(g.exclusivity)
    runGoroutineBody(g)
    Scheduler.shared.exitCurrent(g)
}

@inline(never)
private func runGoroutineBody(_ g: G) {
    guard let body = g.body else { return }
    do {
        try body()
    } catch {
        uncaughtErrorPanic(error)
    }
    if g.id == MainGoroutine.id.load(ordering: .relaxed) { MainGoroutine.finished() }
}
