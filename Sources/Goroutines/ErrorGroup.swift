import CStackSwitch

/// golang.org/x/sync/errgroup: goroutines working on parts of one task. The first error wins and cancels
/// the group's `context`, so the others can stop early; `wait` returns after all of them and throws that
/// first error.
public final class ErrorGroup: @unchecked Sendable {
    /// Cancelled when a member fails or `wait` returns.
    public let context: Context
    private let cancel: CancelFunction
    private let group = WaitGroup()
    private let lock = RuntimeLock()
    private var firstError: (any Error)?
    private var limit: Semaphore?

    /// A group whose context (`context`) is cancelled when the first task fails or `wait` returns
    /// (Go's `errgroup.WithContext`).
    public init(context parent: Context = .background) {
        (context, cancel) = parent.withCancel()
    }

    /// At most `n` members run at once; `go` waits for a free slot. Set it before starting any.
    public func setLimit(_ n: Int) {
        limit = n > 0 ? Semaphore(capacity: n) : nil
    }

    /// Runs `body` in a new goroutine of the group; it gets the group's context.
    @inline(never)
    public func go(_ body: @escaping @Sendable (Context) throws -> Void) {
        let slot = limit
        slot?.acquire()
        group.add(1)
        _ = Scheduler.shared.spawn({ [self] in
            defer {
                slot?.release()
                group.done()
            }
            do {
                try body(context)
            } catch {
                lock.lock()
                let first = firstError == nil
                if first { firstError = error }
                lock.unlock()
                if first { cancel() }
            }
        }, creatorPC: gr_caller_return_address())
    }

    /// Waits for every member, cancels the context, and throws the first error, if any.
    public func wait() throws {
        group.wait()
        cancel()
        lock.lock()
        let error = firstError
        lock.unlock()
        if let error { throw error }
    }
}
