import CStackSwitch
import Synchronization

/// A goroutine. G objects are kept for the life of the process (registered in `allGoroutines`) and reused
/// with their stacks after the goroutine exits, as Go does, so run queues can hold unretained pointers.
final class G: @unchecked Sendable {
    /// 1 is the main goroutine; every spawn (including a reused G) takes a fresh id.
    var id: Int64 = 0
    /// Saved registers while not running: the goroutine's truth for dumps and profiles.
    let context: UnsafeMutablePointer<gr_context>
    /// Swift's dynamic-exclusivity access set of this goroutine while it is switched out (two words).
    let exclusivity: UnsafeMutablePointer<CChar>
    let statusWord = Atomic<UInt32>(GoroutineStatus.idle.rawValue)
    var waitReason = WaitReason.zero
    /// Monotonic ns when the current wait began (coarse clock).
    var waitSince: Int64 = 0
    /// The object this goroutine parked on (its `ParkCommit`), complemented so that the G object itself is
    /// never a reference to it for the leak scan (see LeakDetection.swift). 0 when it parked on nothing.
    var waitTarget: UInt = 0
    /// `runCount` when the leak scan found this goroutine leaked; it stays leaked while it has not run since.
    var leakedAtRun: UInt64 = .max
    var stack: GoroutineStack
    var body: (@Sendable () throws -> Void)?
    var parentID: Int64 = 0
    /// Return address in the function that spawned this goroutine (for "created by").
    var creatorPC: UInt = 0
    /// Goroutine labels (profiling); inherited from the parent at spawn.
    var labels: GoroutineLabelSet?
    /// Set by LockOSThread: this goroutine only runs on that M.
    @Unretained var lockedM: M?
    /// The M running it, while running or in a blocking call.
    @Unretained var m: M?
    /// Intrusive link for the global run queue and free lists.
    @Unretained var schedLink: G?
    /// Held while the goroutine runs and while a snapshot walks its stack: a parked G is never resumed
    /// in the middle of a walk, and a running G is never walked.
    let scanLock = Atomic<Bool>(false)
    /// The goroutine-profile generation this goroutine has been recorded in (Go's record-before-run
    /// scheme: see `Scheduler.recordBeforeRunning`).
    let profiledGeneration = Atomic<UInt64>(0)
    /// Counts the times this goroutine was switched in; a parked goroutine's stack cannot change until it
    /// runs again, so a walk made at the same count is still valid.
    var runCount: UInt64 = 0
    /// When this goroutine last became runnable (ns), for one transition in eight; 0 otherwise
    /// (see SchedulingLatency.swift).
    var runnableSince: Int64 = 0
    /// The last stack walked while parked, valid while `cachedStackRunCount == runCount`.
    var cachedStack: [UInt] = []
    var cachedStackRunCount: UInt64 = .max
    var cachedStackDepth = 0
    /// Frame pointer of `blockingCall`, so goroutines in blocking calls can be walked from there.
    var syscallFP: UInt = 0
    /// When the blocking call started (ns), for sysmon's retake decision and dumps.
    var syscallSince: Int64 = 0
    /// A timer the scheduler reuses for `sleep`, allocated on first use.
    var sleepTimer: RuntimeTimer?
    /// Set while the goroutine blocks a plain thread's call (`runBlocking`): signalled at exit.
    var completion: UnsafeMutablePointer<gr_note>?

    var status: GoroutineStatus {
        get { GoroutineStatus(rawValue: statusWord.load(ordering: .acquiring)) ?? .idle }
        set { statusWord.store(newValue.rawValue, ordering: .releasing) }
    }

    /// The runtime uses two words; a little slack costs nothing and guards against a larger future layout.
    static let exclusivityStateSize = 8 * MemoryLayout<UInt>.size

    init(stack: GoroutineStack) {
        self.stack = stack
        context = .allocate(capacity: 1)
        context.initialize(to: gr_context())
        exclusivity = .allocate(capacity: G.exclusivityStateSize)
        exclusivity.initialize(repeating: 0, count: G.exclusivityStateSize)
    }

    @inline(__always) var opaque: UInt { UInt(bitPattern: Unmanaged.passUnretained(self).toOpaque()) }

    @inline(__always) static func fromOpaque(_ word: UInt) -> G {
        Unmanaged<G>.fromOpaque(UnsafeRawPointer(bitPattern: word)!).takeUnretainedValue()
    }
}
