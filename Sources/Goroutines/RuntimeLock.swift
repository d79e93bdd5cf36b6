import CStackSwitch

/// The runtime's own lock for short critical sections (run queues, timers, channel state). Unlike
/// `Synchronization.Mutex` it is not scoped: `park(committing:)` releases it on the scheduler stack after
/// the goroutine's registers are saved, which is what makes "check, then sleep" free of lost wakeups.
/// A goroutine never parks while holding one except through that hand-over.
final class RuntimeLock: @unchecked Sendable, ParkCommit {
    private let word: UnsafeMutablePointer<UInt32>

    init() {
        word = .allocate(capacity: 1)
        word.initialize(to: 0)
    }

    deinit { word.deallocate() }

    @inline(__always) func lock() {
        if !gr_mutex_trylock(word) { gr_mutex_lock_slow(word) }
    }

    @inline(__always) func unlock() { gr_mutex_unlock(word) }

    @inline(__always) func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }

    func commitPark(_ g: G) -> Bool {
        unlock()
        return true
    }
}

/// Work the scheduler does on its own stack right after a goroutine has switched away to park: typically
/// releasing the lock that protected the decision to park. Returning false cancels the park and the
/// goroutine runs again at once.
protocol ParkCommit: AnyObject {
    func commitPark(_ g: G) -> Bool
}
