import CStackSwitch
import Synchronization

/// One party blocked on a channel or a sync primitive (Go's sudog). It lives on the blocked goroutine's or
/// thread's own stack for exactly as long as it waits, so blocking allocates nothing; queues link these in
/// place. Everything but `selection`'s winner flag is read and written under the owning object's lock.
struct WaitNode {
    /// The parked goroutine (unretained: Gs live for the process), or 0 for a plain thread.
    var g: UInt = 0
    /// What a plain thread sleeps on.
    var note = gr_note()
    /// Sender: the value to send (`Element`). Receiver: where to put it (`Element?`).
    var element: UnsafeMutableRawPointer?
    var next: UnsafeMutablePointer<WaitNode>?
    var prev: UnsafeMutablePointer<WaitNode>?
    var queued = false
    /// False when woken by close rather than by a transfer.
    var success = false
    /// Set for the cases of a blocked select: only the first to claim it may complete.
    var selection: Unmanaged<SelectWait>?
    var caseIndex = 0
    /// Sync primitives: when this party began waiting (mutex starvation), a ticket (Cond) or a weight
    /// (semaphore), and the start of the wait the mutex profile charges to the unlocker (0 = not profiled).
    var waitStart: Int64 = 0
    var ticket = 0
    var profileSince: Int64 = 0

    /// Blocks the caller on `node` (already queued under `lock`), releasing `lock` only once the goroutine
    /// is parked, or, on a plain thread, just before sleeping.
    /// `owner` is the primitive waited on (the channel, the mutex…): what the leak scan looks for.
    static func block(_ node: UnsafeMutablePointer<WaitNode>, lock: RuntimeLock, reason: WaitReason, owner: AnyObject? = nil) {
        if let m = M.current, let g = m.curG {
            node.pointee.g = g.opaque
            Scheduler.shared.park(reason, commit: lock, target: owner)
            return
        }
        node.pointee.g = 0
        gr_note_clear(node.pointer(to: \.note)!)
        let sched = Scheduler.shared
        sched.externalWaiters.wrappingAdd(1, ordering: .relaxed)
        lock.unlock()
        _ = gr_note_sleep(node.pointer(to: \.note)!, -1)
        sched.externalWaiters.wrappingSubtract(1, ordering: .relaxed)
    }

    /// Makes a dequeued waiter run again. Call it after releasing the channel's lock where possible; the
    /// node may be gone the moment this returns.
    /// `next: false` queues a goroutine behind the current P's others, where an idle P can steal it.
    static func wake(_ node: UnsafeMutablePointer<WaitNode>, next: Bool = true) {
        if let selection = node.pointee.selection {
            selection.takeUnretainedValue().wake()
            return
        }
        let g = node.pointee.g
        if g != 0 {
            Scheduler.shared.ready(G.fromOpaque(g), next: next)
        } else {
            gr_note_wakeup(node.pointer(to: \.note)!)
        }
    }
}

/// A FIFO of waiters, linked through the waiters themselves.
struct WaitNodeQueue {
    private(set) var head: UnsafeMutablePointer<WaitNode>?
    private var tail: UnsafeMutablePointer<WaitNode>?

    var isEmpty: Bool { head == nil }

    mutating func enqueue(_ node: UnsafeMutablePointer<WaitNode>) {
        node.pointee.next = nil
        node.pointee.prev = tail
        node.pointee.queued = true
        if let tail { tail.pointee.next = node } else { head = node }
        tail = node
    }

    /// Goes first: a waiter that was woken but lost the race queues ahead of newcomers (as Go's mutex).
    mutating func enqueueFront(_ node: UnsafeMutablePointer<WaitNode>) {
        node.pointee.prev = nil
        node.pointee.next = head
        node.pointee.queued = true
        if let head { head.pointee.prev = node } else { tail = node }
        head = node
    }

    mutating func remove(_ node: UnsafeMutablePointer<WaitNode>) {
        guard node.pointee.queued else { return }
        if let prev = node.pointee.prev { prev.pointee.next = node.pointee.next } else { head = node.pointee.next }
        if let next = node.pointee.next { next.pointee.prev = node.pointee.prev } else { tail = node.pointee.prev }
        node.pointee.next = nil
        node.pointee.prev = nil
        node.pointee.queued = false
    }

    /// The first waiter that may still complete: a select already decided elsewhere is dropped.
    mutating func dequeue() -> UnsafeMutablePointer<WaitNode>? {
        while let node = head {
            remove(node)
            if let selection = node.pointee.selection,
               !selection.takeUnretainedValue().claim(node.pointee.caseIndex) { continue }
            return node
        }
        return nil
    }
}
