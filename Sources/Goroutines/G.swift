import CStackSwitch
import Synchronization

/// A goroutine. G objects are kept for the life of the process (registered in `allGoroutines`) and reused
/// with their stacks after the goroutine exits, as Go does, so run queues can hold unretained pointers.
final class G: @unchecked Sendable {
    /// 1 is the main goroutine; every spawn (including a reused G) takes a fresh id.
    var id: Int64 {
        get { idWord.load(ordering: .relaxed) }
        set { idWord.store(newValue, ordering: .relaxed) }
    }
    // id, parentID and creatorPC are atomic words (plain moves on x86-64): profiles read them from
    // goroutines that another thread is running, or relaunching, at that moment.
    private let idWord = Atomic<Int64>(0)
    private let parentIDWord = Atomic<Int64>(0)
    private let creatorPCWord = Atomic<UInt>(0)
    /// Saved registers while not running: the goroutine's truth for dumps and profiles.
    let context: UnsafeMutablePointer<gr_context>
    /// Swift's dynamic-exclusivity access set of this goroutine while it is switched out (two words).
    let exclusivity: UnsafeMutablePointer<CChar>
    let statusWord = Atomic<UInt32>(GoroutineStatus.idle.rawValue)
    /// Why it waits. This and `waitSince` are atomic words (plain moves on x86-64): a waker readies a
    /// goroutine while a snapshot that pinned it reads them.
    var waitReason: WaitReason {
        get { WaitReason(rawValue: waitReasonWord.load(ordering: .relaxed)) ?? .zero }
        set { waitReasonWord.store(newValue.rawValue, ordering: .relaxed) }
    }
    private let waitReasonWord = Atomic<UInt8>(WaitReason.zero.rawValue)
    /// Monotonic ns when the current wait began (coarse clock).
    var waitSince: Int64 {
        get { waitSinceWord.load(ordering: .relaxed) }
        set { waitSinceWord.store(newValue, ordering: .relaxed) }
    }
    private let waitSinceWord = Atomic<Int64>(0)
    /// The object this goroutine parked on (its `ParkCommit`), complemented so that the G object itself is
    /// never a reference to it for the leak scan (see LeakDetection.swift). 0 when it parked on nothing.
    var waitTarget: UInt = 0
    /// `runCount` when the leak scan found this goroutine leaked; it stays leaked while it has not run since.
    var leakedAtRun: UInt64 = .max
    var stack: GoroutineStack
    var body: (@Sendable () throws -> Void)?
    var parentID: Int64 {
        get { parentIDWord.load(ordering: .relaxed) }
        set { parentIDWord.store(newValue, ordering: .relaxed) }
    }
    /// Return address in the function that spawned this goroutine (for "created by").
    var creatorPC: UInt {
        get { creatorPCWord.load(ordering: .relaxed) }
        set { creatorPCWord.store(newValue, ordering: .relaxed) }
    }
    /// Goroutine labels (profiling); inherited from the parent at spawn. Written only by the goroutine
    /// itself (or its spawner before it can run), so its own reads need no lock; writes and reads from
    /// other threads (`labelsForSnapshot`) take `labelsLock`, since a snapshot may read a running
    /// goroutine's set while it replaces or drops it.
    var labels: GoroutineLabelSet? {
        get { labelStorage }
        set {
            if newValue == nil && labelStorage == nil { return }   // the common case: no labels, no lock
            lockLabels()
            labelStorage = newValue
            labelsLock.store(false, ordering: .releasing)
        }
    }
    private var labelStorage: GoroutineLabelSet?
    private let labelsLock = Atomic<Bool>(false)

    /// `labels`, read from another thread.
    func labelsForSnapshot() -> GoroutineLabelSet? {
        lockLabels()
        defer { labelsLock.store(false, ordering: .releasing) }
        return labelStorage
    }

    private func lockLabels() {
        while !labelsLock.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged { gr_cpu_relax() }
    }
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
