/// A weighted semaphore (golang.org/x/sync/semaphore): `acquire(n)` waits until `n` of `capacity` units
/// are free, in FIFO order (a large request is not overtaken by smaller ones behind it). Waiting parks the
/// goroutine (`[semacquire]`) or blocks the thread.
public final class Semaphore: @unchecked Sendable {
    /// Units in total.
    public let capacity: Int
    private let lock = RuntimeLock()
    private var inUse = 0
    private var waiters = WaitNodeQueue()

    /// A semaphore of `capacity` units, all free.
    public init(capacity: Int) {
        precondition(capacity > 0, "Semaphore capacity must be positive, got \(capacity)")
        self.capacity = capacity
    }

    /// Waits for `n` units. Asking for more than `capacity` waits forever, as in Go.
    public func acquire(_ n: Int = 1) {
        precondition(n > 0, "Semaphore.acquire needs a positive weight, got \(n)")
        lock.lock()
        if capacity - inUse >= n && waiters.isEmpty {
            inUse += n
            lock.unlock()
            return
        }
        let start = ContentionProfiler.blockStart()
        withUnsafeTemporaryAllocation(of: WaitNode.self, capacity: 1) { buffer in
            let node = buffer.baseAddress!
            node.initialize(to: WaitNode())
            node.pointee.ticket = n
            waiters.enqueue(node)
            WaitNode.block(node, lock: lock, reason: .semacquire, owner: self)
        }
        if start != 0 { ContentionProfiler.recordBlock(since: start) }
    }

    /// Takes `n` units if they are free now and nobody waits ahead.
    public func tryAcquire(_ n: Int = 1) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if capacity - inUse >= n && waiters.isEmpty {
            inUse += n
            return true
        }
        return false
    }

    /// Returns `n` units and admits waiters, oldest first, while they fit. Releasing more than is held
    /// is fatal (`panic: semaphore: released more than held`).
    public func release(_ n: Int = 1) {
        lock.lock()
        inUse -= n
        if inUse < 0 {
            lock.unlock()
            goroutinePanic("semaphore: released more than held")
        }
        var wakeList: UnsafeMutablePointer<WaitNode>? = nil
        while let first = waiters.head, first.pointee.ticket <= capacity - inUse {
            waiters.remove(first)
            inUse += first.pointee.ticket
            first.pointee.success = true
            first.pointee.next = wakeList
            wakeList = first
        }
        lock.unlock()
        while let node = wakeList {
            wakeList = node.pointee.next
            WaitNode.wake(node)
        }
    }
}
