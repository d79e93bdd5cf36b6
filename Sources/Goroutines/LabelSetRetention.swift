// Keeps goroutine label sets alive while a CPU profile may still hold their address.
//
// The SIGPROF handler records the running goroutine's label set as a bare pointer (it may not touch
// reference counts), and the profiler's collector reads the set a tick later. A set the runtime lets go
// of in between (labels replaced, goroutine exited) would be freed under it. So while retention is on,
// the runtime hands every set it drops to `retire` instead of just releasing it, and the collector
// releases the retired sets only after it has read every sample recorded before they were retired.
import Synchronization

/// Keeps dropped label sets alive while the CPU profiler may still read them (used by Profiling's
/// CPU profiler; applications do not need it).
public enum LabelSetRetention {
    private static let isActive = Atomic<Bool>(false)
    private static let retired = Mutex<[GoroutineLabelSet]>([])

    /// Turns retention on (before the profiler starts sampling).
    public static func begin() {
        retired.withLock { _ in isActive.store(true, ordering: .sequentiallyConsistent) }
    }

    /// Turns retention off (after the profiler's last read) and releases everything retired.
    public static func end() {
        let released = retired.withLock { sets -> [GoroutineLabelSet] in
            isActive.store(false, ordering: .sequentiallyConsistent)
            defer { sets.removeAll() }
            return sets
        }
        _ = released
    }

    /// The sets retired so far; the caller keeps them alive until it has read the samples recorded
    /// before this call, then lets them go.
    public static func takeRetired() -> [GoroutineLabelSet] {
        retired.withLock { sets in
            defer { sets.removeAll() }
            return sets
        }
    }

    /// Called by the runtime for a label set it no longer holds, after the running goroutine's label
    /// word stopped pointing at it. Cheap when no profile runs: one atomic load.
    static func retire(_ set: GoroutineLabelSet?) {
        guard let set, isActive.load(ordering: .sequentiallyConsistent) else { return }
        retired.withLock { sets in
            if isActive.load(ordering: .relaxed) { sets.append(set) }
        }
    }
}
