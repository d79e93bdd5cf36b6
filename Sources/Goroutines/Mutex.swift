import CStackSwitch
import Synchronization

/// Something that can be locked and unlocked (Go's sync.Locker): `GoMutex`, `RWMutex`, its `readLocker`.
public protocol Locker: AnyObject, Sendable {
    func lock()
    func unlock()
}

extension Locker {
    /// Runs `body` holding the lock.
    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}

/// Go's sync.Mutex, with Go's fairness: an uncontended lock is one compare-and-swap; a contended one spins
/// briefly (when other Ps run), then parks the goroutine (`[sync.Mutex.Lock]`) or blocks the thread.
/// Woken waiters compete with newcomers (which keeps throughput high), but a waiter that has waited more
/// than 1 ms switches the mutex to starvation mode: unlock then hands ownership straight to the longest
/// waiter, and newcomers queue behind it, until a waiter is served in under 1 ms or the queue empties.
///
/// Named `GoMutex` because Swift 6's `Synchronization.Mutex` (a scoped, non-copyable lock) is in scope in
/// most programs that import Synchronization; a second `Mutex` would make every use ambiguous.
/// Not reentrant; unlocking an unlocked mutex is fatal (`fatal error: sync: unlock of unlocked mutex`).
/// As in Go, it is not tied to a goroutine: one goroutine may lock it and another unlock it.
public final class GoMutex: Locker, @unchecked Sendable {
    private static let locked = 1, starving = 2, waiting = 4
    private static let starvationThreshold: Int64 = 1_000_000

    private let state = Atomic<Int>(0)
    private let queueLock = RuntimeLock()
    private var waiters = WaitNodeQueue()

    /// An unlocked mutex.
    public init() {}

    @inline(__always)
    public func lock() {
        if state.compareExchange(expected: 0, desired: Self.locked, ordering: .acquiring).exchanged { return }
        lockSlow()
    }

    /// Locks if that needs no waiting (Go's TryLock).
    public func tryLock() -> Bool {
        var s = state.load(ordering: .relaxed)
        while s & (Self.locked | Self.starving) == 0 {
            let (done, now) = state.compareExchange(expected: s, desired: s | Self.locked, ordering: .acquiring)
            if done { return true }
            s = now
        }
        return false
    }

    @inline(__always)
    public func unlock() {
        if state.compareExchange(expected: Self.locked, desired: 0, ordering: .releasing).exchanged { return }
        unlockSlow()
    }

    @inline(never)
    private func lockSlow() {
        var waitStart: Int64 = 0
        var blockStart: Int64 = 0
        var spins = 0
        var requeue = false
        let maySpin = Scheduler.shared.procs > 1
        while true {
            let s = state.load(ordering: .relaxed)
            if s & (Self.locked | Self.starving) == 0 {
                if state.compareExchange(expected: s, desired: s | Self.locked, ordering: .acquiring).exchanged { break }
                continue
            }
            // Spin only in normal mode: in starvation mode the lock goes to a waiter anyway.
            if s & Self.starving == 0 && maySpin && spins < 4 {
                for _ in 0..<30 { gr_cpu_relax() }
                spins += 1
                continue
            }
            queueLock.lock()
            if waitStart == 0 { waitStart = gr_nanotime() }
            let starved = gr_nanotime() - waitStart > Self.starvationThreshold
            var acquired = false
            while true {
                let s = state.load(ordering: .relaxed)
                if s & (Self.locked | Self.starving) == 0 {
                    if state.compareExchange(expected: s, desired: s | Self.locked, ordering: .acquiring).exchanged {
                        acquired = true
                        break
                    }
                    continue
                }
                let flagged = s | Self.waiting | (starved ? Self.starving : 0)
                if state.compareExchange(expected: s, desired: flagged, ordering: .relaxed).exchanged { break }
            }
            if acquired {
                queueLock.unlock()
                break
            }
            if blockStart == 0 { blockStart = ContentionProfiler.blockStart() }
            let handedOff = withUnsafeTemporaryAllocation(of: WaitNode.self, capacity: 1) { buffer in
                let node = buffer.baseAddress!
                node.initialize(to: WaitNode())
                node.pointee.waitStart = waitStart
                node.pointee.profileSince = ContentionProfiler.mutexWaitStart()
                if requeue { waiters.enqueueFront(node) } else { waiters.enqueue(node) }
                WaitNode.block(node, lock: queueLock, reason: .syncMutexLock, owner: self)
                return node.pointee.success
            }
            if handedOff { break }
            requeue = true
            spins = 0
        }
        if blockStart != 0 { ContentionProfiler.recordBlock(since: blockStart) }
    }

    @inline(never)
    private func unlockSlow() {
        queueLock.lock()
        let s = state.load(ordering: .relaxed)
        if s & Self.locked == 0 {
            queueLock.unlock()
            fatalRuntimeError("sync: unlock of unlocked mutex")
        }
        // While locked, the state changes only under `queueLock` (which we hold), so plain stores are safe.
        guard let node = waiters.dequeue() else {
            state.store(0, ordering: .releasing)
            queueLock.unlock()
            return
        }
        let more = waiters.isEmpty ? 0 : Self.waiting
        if s & Self.starving != 0 {
            // Hand the lock over: it stays locked, now owned by the waiter. Leave starvation mode once the
            // queue is empty or this waiter was served quickly.
            node.pointee.success = true
            let quick = gr_nanotime() - node.pointee.waitStart < Self.starvationThreshold
            let keepStarving = more != 0 && !quick ? Self.starving : 0
            state.store(Self.locked | more | keepStarving, ordering: .releasing)
        } else {
            node.pointee.success = false
            state.store(more, ordering: .releasing)
        }
        let handedOff = node.pointee.success
        let since = node.pointee.profileSince
        queueLock.unlock()
        if since != 0 { ContentionProfiler.recordMutex(since: since) }
        if handedOff {
            // As Go's handoff: the new owner runs next, on our P, and we step aside for it.
            WaitNode.wake(node, next: true)
            if M.current?.curG != nil { Scheduler.shared.yieldCurrent() }
        } else {
            // The woken waiter competes for the lock. Queued behind our P's work rather than in runnext, so
            // an idle P can steal it while we keep running (goroutines are not preempted here).
            WaitNode.wake(node, next: false)
        }
    }
}

/// A counting semaphore for the runtime's own primitives (Go's runtime semacquire/semrelease): `release`
/// hands a permit directly to the longest waiter.
final class RuntimeSemaphore: @unchecked Sendable {
    private let lock = RuntimeLock()
    private var permits = 0
    private var waiters = WaitNodeQueue()

    func acquire(reason: WaitReason) {
        lock.lock()
        if permits > 0 {
            permits -= 1
            lock.unlock()
            return
        }
        let start = ContentionProfiler.blockStart()
        withUnsafeTemporaryAllocation(of: WaitNode.self, capacity: 1) { buffer in
            let node = buffer.baseAddress!
            node.initialize(to: WaitNode())
            waiters.enqueue(node)
            WaitNode.block(node, lock: lock, reason: reason, owner: self)
        }
        if start != 0 { ContentionProfiler.recordBlock(since: start) }
    }

    func release() {
        lock.lock()
        if let node = waiters.dequeue() {
            node.pointee.success = true
            lock.unlock()
            WaitNode.wake(node)
            return
        }
        permits += 1
        lock.unlock()
    }
}
