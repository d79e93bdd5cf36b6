import CStackSwitch
import Synchronization

/// A point-in-time set of goroutine stacks without stopping the world, as Go 1.19+ takes its goroutine
/// profile: the collector opens a generation, then records every goroutine it can pin; the scheduler,
/// about to run a goroutine not yet recorded in the open generation, records it first. So every stack
/// is the one the goroutine had when the profile started. Goroutines started afterwards are left out.
/// One that was already running when the profile started cannot be walked (we never stop a running
/// goroutine) and is reported as running without a stack.
final class ConsistentGoroutineProfile: @unchecked Sendable {
    /// The open generation, 0 when no profile is being taken. Read on every schedule.
    let generation = Atomic<UInt64>(0)
    /// Schedulers between seeing an open generation and finishing their record.
    private let recordersInFlight = Atomic<Int>(0)
    private let collectorLock = RuntimeLock()
    private let recordsLock = RuntimeLock()
    private var lastGeneration: UInt64 = 0
    private var recordedByScheduler: [GoroutineSnapshot] = []
    private var maxDepth = 1024

    /// Called by the scheduler holding `g`'s scan lock, right before switching to it.
    func recordBeforeRunning(_ g: G) {
        recordersInFlight.wrappingAdd(1, ordering: .sequentiallyConsistent)
        defer { recordersInFlight.wrappingSubtract(1, ordering: .sequentiallyConsistent) }
        let open = generation.load(ordering: .sequentiallyConsistent)
        guard open != 0, claim(g, for: open) else { return }
        let snapshot = RuntimeSnapshot.pinnedSnapshot(g, status: g.status, maxDepth: maxDepth)
        recordsLock.lock()
        recordedByScheduler.append(snapshot)
        recordsLock.unlock()
    }

    /// Marks `g` as recorded in generation `open`; true for exactly one caller per generation.
    private func claim(_ g: G, for open: UInt64) -> Bool {
        let seen = g.profiledGeneration.load(ordering: .acquiring)
        if seen == open { return false }
        return g.profiledGeneration.compareExchange(expected: seen, desired: open, ordering: .acquiringAndReleasing).exchanged
    }

    /// Every goroutine alive when the call started, with its stack from that moment.
    func collect(maxDepth: Int) -> [GoroutineSnapshot] {
        let sched = Scheduler.shared
        collectorLock.lock()
        defer { collectorLock.unlock() }
        self.maxDepth = maxDepth
        lastGeneration += 1
        let open = lastGeneration
        recordsLock.lock()
        recordedByScheduler.removeAll()
        recordsLock.unlock()
        generation.store(open, ordering: .sequentiallyConsistent)

        let me = M.current?.curG
        var result: [GoroutineSnapshot] = []
        for g in sched.goroutinesCopy() {
            if g === me {
                g.profiledGeneration.store(open, ordering: .relaxed)
                var snap = RuntimeSnapshot.describe(g, status: .running, isCurrent: true)
                snap.stack = captureCallerStack(maxDepth: maxDepth)
                result.append(snap)
                continue
            }
            if g.profiledGeneration.load(ordering: .relaxed) == open || g.id == 0 { continue }
            if g.scanLock.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged {
                let status = g.status
                if status != .dead && status != .idle && claim(g, for: open) {
                    result.append(RuntimeSnapshot.pinnedSnapshot(g, status: status, maxDepth: maxDepth))
                }
                g.scanLock.store(false, ordering: .releasing)
            } else {
                // Running since before the profile opened, or a scheduler is just about to run it. Whoever
                // claims it records it: the scheduler with its stack, or we, as running without one.
                let status = g.status
                if status != .dead && status != .idle && claim(g, for: open) {
                    result.append(RuntimeSnapshot.describe(g, status: .running, isCurrent: false))
                }
            }
        }

        generation.store(0, ordering: .sequentiallyConsistent)
        while recordersInFlight.load(ordering: .sequentiallyConsistent) != 0 { gr_cpu_relax() }
        recordsLock.lock()
        result += recordedByScheduler
        recordedByScheduler.removeAll()
        recordsLock.unlock()
        return result.sorted { a, b in
            if a.isCurrent != b.isCurrent { return a.isCurrent }
            return a.id < b.id
        }
    }
}
