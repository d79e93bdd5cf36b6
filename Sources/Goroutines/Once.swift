import Synchronization

/// Go's sync.Once: `run` calls its body the first time only; every caller returns after that first call
/// has finished. A body that throws, or calls `Go.goexit`, still counts as done (as a panicking function
/// does in Go).
public final class Once: @unchecked Sendable {
    private let done = Atomic<Bool>(false)
    private let mutex = GoMutex()

    /// A `Once` whose body has not run yet.
    public init() {}

    /// Runs `body` if no call has run it yet; every caller returns after that first call finished
    /// (Go's `Once.Do`).
    public func run(_ body: () throws -> Void) rethrows {
        if done.load(ordering: .acquiring) { return }
        mutex.lock()
        try Go.withCleanup({
            done.store(true, ordering: .releasing)
            mutex.unlock()
        }) {
            if done.load(ordering: .relaxed) { return }
            try body()
        }
    }

    /// Whether the body has run (or thrown).
    public var hasRun: Bool { done.load(ordering: .acquiring) }
}
