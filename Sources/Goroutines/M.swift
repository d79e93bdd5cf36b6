import CStackSwitch
import Synchronization

/// What the scheduler does on an M's own stack after its goroutine switched away.
enum AfterSwitch {
    case none
    /// Park the goroutine, then run the commit (usually unlocking what guarded the decision).
    case park(ParkCommit?)
    /// Gosched: back to the global queue.
    case yield
    /// The goroutine finished.
    case exit
    /// Leaving a blocking call found no P: queue the goroutine and stop this M.
    case exitBlockingCallWithoutP
}

/// An OS thread. It runs the scheduler loop on its own (native) stack, the "g0" context, and switches
/// into goroutines from there.
final class M: @unchecked Sendable {
    let id: Int
    /// The scheduler loop's saved registers while a goroutine runs on this thread.
    let g0Context: UnsafeMutablePointer<gr_context>
    let note: UnsafeMutablePointer<gr_note>
    @Unretained var curG: G?
    /// Mirror of curG's id for snapshots from other threads (0 = none).
    let curGID = Atomic<Int64>(0)
    @Unretained var p: P?
    /// Mirror of p's id for snapshots (-1 = none).
    let pID = Atomic<Int>(-1)
    /// A P handed to this M while it slept (set under the scheduler lock).
    @Unretained var nextP: P?
    /// The P this M held when its goroutine entered a blocking call.
    @Unretained var oldP: P?
    var spinning = false
    let spinningFlag = Atomic<Bool>(false)
    /// Sleeping in the idle list.
    let blocked = Atomic<Bool>(false)
    @Unretained var lockedG: G?
    let lockedGID = Atomic<Int64>(0)
    var pending = AfterSwitch.none
    /// The goroutine findRunnable returned came from `runnext` (it runs in the current time slice).
    var inheritTime = false
    var tid: Int32 = 0
    /// Return addresses of the code that caused this thread's creation (threadcreate profile).
    var creationStack: [UInt] = []
    /// sysmon and other runtime threads that never run goroutines.
    let isSystem: Bool
    /// xorshift state for choosing steal victims (no syscall, unlike the system generator).
    private var rngState: UInt64

    /// A cheap pseudo-random number in 0..<bound.
    @inline(__always) func cheapRandom(below bound: Int) -> Int {
        rngState ^= rngState << 13
        rngState ^= rngState >> 7
        rngState ^= rngState << 17
        return Int(truncatingIfNeeded: rngState % UInt64(bound))
    }

    init(id: Int, isSystem: Bool = false) {
        self.id = id
        self.isSystem = isSystem
        rngState = 0x9E37_79B9_7F4A_7C15 &* UInt64(id + 1)
        g0Context = .allocate(capacity: 1)
        g0Context.initialize(to: gr_context())
        note = .allocate(capacity: 1)
        note.initialize(to: gr_note())
    }

    /// Only ever called on this M's own thread: it also tells the displacement handler which P it holds.
    func setP(_ p: P?) {
        self.p = p
        pID.store(p?.id ?? -1, ordering: .relaxed)
        gr_displace_set_held_p(p?.displaceWord)
    }

    func setSpinning(_ on: Bool) {
        spinning = on
        spinningFlag.store(on, ordering: .relaxed)
    }

    @inline(__always) static var current: M? {
        guard let raw = gr_tls_current_m() else { return nil }
        return Unmanaged<M>.fromOpaque(raw).takeUnretainedValue()
    }
}
