import CSampling
import CStackSwitch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// Leaked goroutines, found without a garbage collector.
//
// What "leaked" means. Go 1.27's goroutineleak profile lists goroutines blocked on a channel, a select,
// a mutex, a condition variable or a wait group that nothing can ever wake: no goroutine that could
// still run can reach the primitive. Go learns this from a special GC cycle that treats blocked
// goroutines as unreachable until a reachable object names their primitive. Swift has no tracing GC, so
// we do the same marking ourselves, conservatively, over the process's own memory.
//
// Precision first. A goroutine is reported only when the scan has proved that no word of memory that a
// live thread or goroutine can reach holds the address of the primitive it waits on. Every doubt is
// resolved towards "reachable": a word that merely looks like a pointer counts as one; memory that cannot
// be classified is a root; a failed step (a thread that does not stop, unreadable maps, an unrecognised
// heap) makes the whole scan report nothing. The price is recall: a stale copy of a pointer in a live
// frame or in a freed block hides a leak. Never the other way round.
//
// The scan, step by step (Goroutines side here, C side in CSampling/LeakScan.c):
// 1. Classify every goroutine. One that is running, runnable, sleeping, in I/O or a blocking call is
//    live. One parked on a channel, select, mutex, RWMutex, Cond, WaitGroup or semaphore is a candidate;
//    its primitive is the object recorded at park (`G.waitTarget`, stored complemented so that the G
//    itself is not a reference to it); a select's primitives are its channels, and a select with a
//    timeout is live (its timer will fire). Parked on a nil channel or `select {}`: a candidate with no
//    primitive, always leaked. Exited goroutines are dead. Candidates and dead goroutines are pinned
//    (their scan lock held), so none of them can run, and so change its stack, until the scan is over.
// 2. Stop the world: every other thread of the process gets a signal whose handler saves its registers
//    in a static table and waits on a futex. From here until the restart nothing allocates.
// 3. Find malloc's heap in /proc/self/maps: the main arena (walking chunk headers from sbrk's base), the
//    64 MiB-aligned heaps of other arenas (heap_info header) and blocks mmapped on their own. Each heap
//    run is split at chunk headers into blocks; a pointer anywhere into a block reaches the whole block.
// 4. Roots are all other readable memory that may hold pointers: images' data and bss, thread stacks
//    from their stack pointer up, thread-local blocks, the saved registers, anonymous mappings; plus the
//    live goroutines' stacks (from their stack pointer up) and G objects. Never roots: candidates' and
//    dead goroutines' stacks, their G objects (barriers: reaching one does not reach its closure), the
//    scan's own tables and the heap sampler's table of sampled pointers.
// 5. Mark from the roots through the heap. Then, until nothing changes, any candidate whose primitive's
//    block is marked (or lies outside the heap) becomes live: its stack and G object are marked too.
// 6. Restart the world. Candidates left are leaked, provided no pinned goroutine changed state during the
//    scan or in the 2 ms after it (a waker readied one: then the whole scan is retried, at most three
//    times). A waker caught between dequeuing a waiter and readying it holds a pointer into the waiter's
//    stack (its wait node): any scanned word pointing into a candidate's stack makes it live too.
//
// Leaked goroutines stay marked (`G.leakedAtRun`) while they have not run since: tracebacks print
// `[chan receive (leaked)]` as Go 1.27 does, and the index page counts them.
//
// Debugging: GOROUTINES_LEAK_DEBUG=1 prints, for every primitive found reachable, the chain of blocks
// back to the root word that reached it, and for every leaked goroutine the words that still point at
// its primitive (all of them in memory that cannot run).
//
// Known limits (all on the side of missing leaks): references hidden from memory (in the kernel, in
// files, XOR-ed), primitives stored only in stale stack slots of live frames, a scan refused because a
// thread blocks both stop signals (SIGRTMAX-4, then SIGSYS for threads such as libdispatch workers that
// block every asynchronous signal) for more than two seconds.

/// Runs the leak scan; one at a time.
enum LeakDetection {
    private static let scanLock = RuntimeLock()

    /// Wait reasons of goroutines that only another goroutine can wake through a primitive.
    static func waitsOnPrimitive(_ reason: WaitReason) -> Bool {
        switch reason {
        case .chanReceive, .chanSend, .select, .syncMutexLock, .syncRWMutexRLock, .syncRWMutexLock,
             .syncCondWait, .syncWaitGroupWait, .semacquire, .chanReceiveNilChan, .chanSendNilChan, .selectNoCases:
            true
        default: false
        }
    }

    /// Scans and marks; returns the ids of the leaked goroutines (empty when the scan could not be done).
    @discardableResult
    @inline(never)
    static func detect() -> Set<Int64> {
        let ownFramesTop = gr_current_frame_address()
        scanLock.lock()
        defer { scanLock.unlock() }
        for _ in 0..<3 {
            if let leaked = attempt(ownFramesTop: ownFramesTop) { return leaked }
        }
        return []
    }

    private struct Pinned {
        let g: G
        let status: GoroutineStatus
    }

    /// One scan; nil when a pinned goroutine changed state meanwhile (the verdicts may be stale).
    private static func attempt(ownFramesTop: UInt) -> Set<Int64>? {
        let gs = Scheduler.shared.goroutinesCopy()
        let me = M.current?.curG
        let maxTargets = 4 * gs.count + 64
        let tableBytes = gs.count * MemoryLayout<gr_leak_goroutine>.stride
        let targetBytes = maxTargets * MemoryLayout<UInt>.stride
        guard let tableRaw = gr_leak_scratch_alloc(tableBytes), let targetRaw = gr_leak_scratch_alloc(targetBytes) else { return [] }
        defer {
            gr_leak_scratch_free(tableRaw, tableBytes)
            gr_leak_scratch_free(targetRaw, targetBytes)
        }
        let table = tableRaw.bindMemory(to: gr_leak_goroutine.self, capacity: max(gs.count, 1))
        let targets = targetRaw.bindMemory(to: UInt.self, capacity: maxTargets)
        var targetCount = 0
        var pinned: [Pinned] = []
        pinned.reserveCapacity(gs.count)
        for (i, g) in gs.enumerated() {
            var entry = gr_leak_goroutine()
            entry.object = g.opaque
            entry.context = UInt(bitPattern: g.context)
            // A G that never ran has no stack yet; a stack being given to it right now may read torn.
            let stack = g.stack
            if stack.guardLow != 0 && stack.high != 0 {
                entry.stack_lo = stack.guardLow
                entry.stack_hi = stack.high
            }
            entry.kind = UInt32(GR_LEAK_LIVE)
            if g !== me, g.scanLock.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged {
                let status = g.status
                pinned.append(Pinned(g: g, status: status))
                if status == .dead || status == .idle || g.id == 0 {
                    entry.kind = UInt32(GR_LEAK_DEAD)
                } else if status == .waiting && waitsOnPrimitive(g.waitReason) {
                    let first = targetCount
                    if collectTargets(g, &entry, into: targets, count: &targetCount, capacity: maxTargets) {
                        entry.kind = UInt32(GR_LEAK_CANDIDATE)
                        entry.first_target = UInt32(first)
                        entry.target_count = UInt32(targetCount - first)
                    } else {
                        targetCount = first
                    }
                }
            }
            table[i] = entry
        }
        // Nothing parked on a primitive: nothing can be leaked, and the world need not stop.
        let anyCandidate = (0..<gs.count).contains { table[$0].kind == UInt32(GR_LEAK_CANDIDATE) }
        let result = anyCandidate ? gr_leak_analyze(table, gs.count, targets, targetCount, ownFramesTop) : 0
        if getenv("GOROUTINES_LEAK_DEBUG") != nil { writeStderr("leakscan: result \(result)\n") }
        var changed = false
        var runCounts: [UInt64] = []
        runCounts.reserveCapacity(pinned.count)
        for p in pinned {
            if p.g.status != p.status { changed = true }
            runCounts.append(p.g.runCount)
            p.g.scanLock.store(false, ordering: .releasing)
        }
        if changed { return nil }
        // A waker stopped between taking a waiter off a queue and readying it shows up here: give the
        // resumed threads a moment, then require that no pinned goroutine has moved.
        Go.sleep(for: .milliseconds(2))
        for (p, runs) in zip(pinned, runCounts) where p.status == .waiting && (p.g.status != .waiting || p.g.runCount != runs) {
            return nil
        }
        guard result == 0 else { return [] }
        var leaked = Set<Int64>()
        for (i, g) in gs.enumerated() where table[i].leaked != 0 {
            g.leakedAtRun = g.runCount
            leaked.insert(g.id)
        }
        return leaked
    }

    /// The hidden primitive addresses `g` waits on (`g` pinned and waiting). False when they cannot be
    /// known, or when the goroutine does not need them to wake (a select with a timeout): then it is live.
    private static func collectTargets(_ g: G, _ entry: inout gr_leak_goroutine, into targets: UnsafeMutablePointer<UInt>,
                                       count: inout Int, capacity: Int) -> Bool {
        let hidden = g.waitTarget
        switch g.waitReason {
        case .chanReceiveNilChan, .chanSendNilChan, .selectNoCases:
            return true   // nothing can ever wake it
        case .select:
            if hidden == 0 { return true }   // every case on a nil channel
            let wait = Unmanaged<SelectWait>.fromOpaque(UnsafeRawPointer(bitPattern: ~hidden)!).takeUnretainedValue()
            guard wait.timer == nil, let scratch = wait.scratch else { return false }
            // Schedulers keep stale pointers to the SelectWait (the park's commit); it points into the
            // select's stack, so it must not count as a waker holding a wait node.
            entry.wait_state = ~hidden
            for i in 0..<wait.lockCount {
                guard count < capacity else { return false }
                targets[count] = ~scratch[scratch[i].lockOwner].operation.takeUnretainedValue().channelAddress
                count += 1
            }
            return true
        default:
            guard hidden != 0, count < capacity else { return false }
            targets[count] = hidden
            count += 1
            return true
        }
    }

    /// Whether `g` was found leaked and has not run since.
    static func isMarkedLeaked(_ g: G) -> Bool {
        g.leakedAtRun == g.runCount && g.status == .waiting
    }
}
