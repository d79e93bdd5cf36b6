/// Go's sync.Cond: goroutines wait for a condition guarded by `locker`. `wait` releases the lock, parks
/// (`[sync.Cond.Wait]`) and takes the lock back before returning; check the condition in a loop.
/// Tickets make it lost-wakeup free: a signal sent between unlocking and parking is still delivered.
public final class Cond: @unchecked Sendable {
    /// The lock that guards the condition (Go's `Cond.L`); hold it around `wait`.
    public let locker: any Locker
    private let lock = RuntimeLock()
    private var nextTicket = 0
    private var notified = 0
    private var waiters = WaitNodeQueue()

    /// A condition variable guarded by `locker` (Go's `sync.NewCond`).
    public init(_ locker: any Locker) { self.locker = locker }

    /// Caller holds `locker`.
    public func wait() {
        lock.lock()
        let ticket = nextTicket
        nextTicket += 1
        lock.unlock()
        locker.unlock()
        lock.lock()
        if ticket < notified {
            lock.unlock()
        } else {
            let start = ContentionProfiler.blockStart()
            withUnsafeTemporaryAllocation(of: WaitNode.self, capacity: 1) { buffer in
                let node = buffer.baseAddress!
                node.initialize(to: WaitNode())
                node.pointee.ticket = ticket
                waiters.enqueue(node)
                WaitNode.block(node, lock: lock, reason: .syncCondWait, owner: self)
            }
            if start != 0 { ContentionProfiler.recordBlock(since: start) }
        }
        locker.lock()
    }

    /// Wakes the longest-waiting goroutine, if any.
    public func signal() {
        lock.lock()
        if notified == nextTicket {
            lock.unlock()
            return
        }
        let ticket = notified
        notified += 1
        var node = waiters.head
        while let n = node, n.pointee.ticket != ticket { node = n.pointee.next }
        if let node { waiters.remove(node) }
        lock.unlock()
        if let node { WaitNode.wake(node) }
    }

    /// Wakes every waiting goroutine.
    public func broadcast() {
        lock.lock()
        notified = nextTicket
        var wakeList: UnsafeMutablePointer<WaitNode>? = nil
        while let n = waiters.head {
            waiters.remove(n)
            n.pointee.next = wakeList
            wakeList = n
        }
        lock.unlock()
        while let n = wakeList {
            wakeList = n.pointee.next
            WaitNode.wake(n)
        }
    }
}
