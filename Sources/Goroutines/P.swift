import CStackSwitch
import Synchronization

/// P status values as Go numbers them (scheddetail prints them).
enum PStatus: UInt32 {
    case idle = 0, running = 1, syscall = 2, gcstop = 3, dead = 4
}

/// A processor: the right to run goroutines. GOMAXPROCS of them exist; an M must hold one to run Go code.
final class P: @unchecked Sendable {
    let id: Int
    let statusWord = Atomic<UInt32>(PStatus.idle.rawValue)
    /// The M holding this P (nil when idle). Atomic: sysmon reads it without the scheduler's lock (and
    /// holders change without it); unretained, as Ms live for the whole process.
    private let mWord = Atomic<UInt>(0)
    var m: M? {
        get {
            let word = mWord.load(ordering: .acquiring)
            return word == 0 ? nil : Unmanaged<M>.fromOpaque(UnsafeRawPointer(bitPattern: word)!).takeUnretainedValue()
        }
        set { mWord.store(newValue.map { UInt(bitPattern: Unmanaged.passUnretained($0).toOpaque()) } ?? 0, ordering: .releasing) }
    }
    let runq = RunQueue()
    /// A goroutine readied by this P's current goroutine, run next (inheriting the time slice), so
    /// ping-pong between two goroutines never goes through the queue or another thread.
    let runnext = Atomic<UInt>(0)
    let timers = TimerHeap()
    let schedtick = Atomic<UInt>(0)
    let syscalltick = Atomic<UInt>(0)
    /// Runnable-to-running delays of goroutines this P started (written by its M only).
    let schedulingLatency = SchedulingLatencyHistogram()
    /// Dead Gs with their stacks, for cheap spawns (owner only).
    var freeGs: [G] = [] {
        didSet { freeGCount.store(freeGs.count, ordering: .relaxed) }
    }
    /// `freeGs.count` for readers that are not the owner (snapshots, schedtrace).
    let freeGCount = Atomic<Int>(0)
    /// sysmon's view of syscalltick, to detect long blocking calls.
    var sysmonSyscallWatch = TickWatch()
    /// sysmon's view of schedtick + syscalltick, to notice a goroutine that has held this P for a long time.
    var sysmonScheduleWatch = TickWatch()
    /// GR_DISPLACE_NONE / REQUESTED / ACCEPTED (SchedulerDisplacement.swift); C-visible, never freed.
    let displaceWord: UnsafeMutablePointer<UInt32>
    /// When sysmon last signalled this P's thread (sysmon only).
    var displaceRequestedAt: Int64 = 0

    init(id: Int) {
        self.id = id
        displaceWord = .allocate(capacity: 1)
        displaceWord.initialize(to: 0)
    }

    var status: PStatus {
        get { PStatus(rawValue: statusWord.load(ordering: .acquiring)) ?? .idle }
        set { statusWord.store(newValue.rawValue, ordering: .releasing) }
    }

    var hasRunnableWork: Bool { !runq.isEmpty || runnext.load(ordering: .acquiring) != 0 }

    /// Work another M could take: the queue, or `runnext` of a P whose M is not about to run it.
    var hasStealableWork: Bool {
        !runq.isEmpty || (status != .running && runnext.load(ordering: .acquiring) != 0)
    }
}

/// Remembers a counter's value and when it was first seen, so sysmon can tell how long it has stood still.
struct TickWatch {
    private var tick: UInt = 0
    private var since: Int64 = 0

    /// Nanoseconds `current` has stayed unchanged, as of `now` (0 when it just moved).
    mutating func unchangedFor(_ current: UInt, now: Int64) -> Int64 {
        if current != tick {
            tick = current
            since = now
            return 0
        }
        return now - since
    }
}
