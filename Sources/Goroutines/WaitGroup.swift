import CStackSwitch

/// Go's sync.WaitGroup: `add` work, `done` it, `wait` until the count is zero. A negative count is a
/// panic with Go's message. Waiting works from goroutines (parks, `[sync.WaitGroup.Wait]`) and from plain
/// threads (blocks the thread).
public final class WaitGroup: @unchecked Sendable {
    private let lock = RuntimeLock()
    private var counter = 0
    private var waiters: [Waiter] = []

    /// A wait group with a zero count.
    public init() {}

    /// Adds `delta` (may be negative) to the count; at zero, waiters wake. Below zero is Go's panic.
    public func add(_ delta: Int) {
        lock.lock()
        counter += delta
        if counter < 0 {
            lock.unlock()
            goroutinePanic("sync: negative WaitGroup counter")
        }
        var toWake: [Waiter] = []
        if counter == 0 && !waiters.isEmpty {
            toWake = waiters
            waiters.removeAll()
        }
        lock.unlock()
        for w in toWake { w.wake() }
    }

    /// One unit of work finished (`add(-1)`).
    public func done() { add(-1) }

    @inline(never)
    public func wait() {
        lock.lock()
        if counter == 0 {
            lock.unlock()
            return
        }
        let start = ContentionProfiler.blockStart()
        Waiter.block(on: lock, reason: .syncWaitGroupWait, owner: self) { waiters.append($0) }
        if start != 0 { ContentionProfiler.recordBlock(since: start) }
    }

    /// Go 1.25's WaitGroup.Go: runs `body` in a new goroutine counted by this group. The count drops
    /// when `body` returns or throws, and also when it calls `Go.goexit`.
    @inline(never)
    public func go(_ body: @escaping @Sendable () throws -> Void) {
        add(1)
        _ = Scheduler.shared.spawn({ [self] in
            try Go.withCleanup({ done() }, body)
        }, creatorPC: gr_caller_return_address())
    }
}
