import CStackSwitch
import Synchronization

// Go's context package: a tree of contexts where cancelling one cancels its whole subtree.
//
// Only cancelable contexts (withCancel / withTimeout / withDeadline) own state: a lock, a `done` channel
// closed on cancellation, the error, their cancelable children, and for deadlines a runtime timer. Value
// contexts and the background context delegate `done`/`err` to their nearest cancelable ancestor. A child
// registers with that ancestor and unregisters when cancelled, and a deadline's timer is stopped the moment
// the context is cancelled, so a cancelled context leaves nothing behind in the runtime.

/// Why a context ended, with Go's messages.
public enum ContextError: Error, Sendable, Equatable, CustomStringConvertible {
    case canceled
    case deadlineExceeded

    /// Go's error text: `context canceled` or `context deadline exceeded`.
    public var description: String {
        switch self {
        case .canceled: "context canceled"
        case .deadlineExceeded: "context deadline exceeded"
        }
    }
}

/// Cancels a context and its descendants; safe to call any number of times, from anywhere.
public typealias CancelFunction = @Sendable () -> Void

/// Go's context.Context: cancellation, a deadline and request-scoped values, passed down a call tree.
public final class Context: @unchecked Sendable {
    private let parent: Context?
    /// The nearest cancelable context at or above this one.
    private let canceler: CancelState?
    private let valueKey: AnyHashable?
    private let storedValue: (any Sendable)?
    /// Monotonic ns (gr_nanotime clock) of the effective deadline, if any.
    private let deadlineNanos: Int64?

    private init(parent: Context?, canceler: CancelState?, key: AnyHashable?, value: (any Sendable)?, deadline: Int64?) {
        self.parent = parent
        self.canceler = canceler
        valueKey = key
        storedValue = value
        deadlineNanos = deadline
    }

    /// The root context: never cancelled, no deadline, no values (Go's context.Background()).
    public static let background = Context(parent: nil, canceler: nil, key: nil, value: nil, deadline: nil)

    /// Closed when this context is cancelled; nil for a context that can never be (receiving from it, or
    /// selecting on it, then waits forever, as on Go's nil Done channel).
    public var done: Channel<Void>? { canceler?.done }

    /// nil while the context is live; then `.canceled` or `.deadlineExceeded`.
    public var err: ContextError? { canceler?.error }

    /// When the context will be cancelled by its deadline, if it has one.
    public var deadline: ContinuousClock.Instant? {
        guard let deadlineNanos else { return nil }
        return ContinuousClock.now + .nanoseconds(deadlineNanos - gr_nanotime())
    }

    /// The value stored under `key` here or in an ancestor.
    public func value<Key: Hashable & Sendable>(forKey key: Key) -> (any Sendable)? {
        let wanted = AnyHashable(key)
        var context: Context? = self
        while let c = context {
            if let k = c.valueKey, k == wanted { return c.storedValue }
            context = c.parent
        }
        return nil
    }

    /// A child carrying `value` under `key` (use a type of your own as the key, as in Go).
    public func withValue<Key: Hashable & Sendable>(_ key: Key, _ value: any Sendable) -> Context {
        Context(parent: self, canceler: canceler, key: AnyHashable(key), value: value, deadline: deadlineNanos)
    }

    /// A child cancelled by the returned function or when this context is.
    public func withCancel() -> (context: Context, cancel: CancelFunction) {
        makeCancelable(deadline: deadlineNanos, ownDeadline: false)
    }

    /// A child cancelled after `timeout` (with `.deadlineExceeded`), by the returned function, or with this one.
    public func withTimeout(_ timeout: Duration) -> (context: Context, cancel: CancelFunction) {
        withDeadlineNanos(gr_nanotime() + timeout.nanoseconds)
    }

    /// A child cancelled at `deadline` (with `.deadlineExceeded`), by the returned function, or with this one.
    public func withDeadline(_ deadline: ContinuousClock.Instant) -> (context: Context, cancel: CancelFunction) {
        withDeadlineNanos(gr_nanotime() + (deadline - ContinuousClock.now).nanoseconds)
    }

    private func withDeadlineNanos(_ when: Int64) -> (context: Context, cancel: CancelFunction) {
        if let current = deadlineNanos, current <= when {
            // The parent's deadline comes first: it alone decides.
            return makeCancelable(deadline: current, ownDeadline: false)
        }
        return makeCancelable(deadline: when, ownDeadline: true)
    }

    private func makeCancelable(deadline: Int64?, ownDeadline: Bool) -> (context: Context, cancel: CancelFunction) {
        let state = CancelState(parent: canceler)
        let child = Context(parent: self, canceler: state, key: nil, value: nil, deadline: deadline)
        canceler?.adopt(state)
        if ownDeadline, let deadline, state.error == nil {
            let remaining = deadline - gr_nanotime()
            if remaining <= 0 {
                state.cancel(.deadlineExceeded, detach: true)
            } else {
                state.arm(at: deadline)
            }
        }
        return (child, { state.cancel(.canceled, detach: true) })
    }
}

/// The shared part of a cancelable context.
final class CancelState: @unchecked Sendable {
    let done = Channel<Void>()
    private let lock = RuntimeLock()
    private weak var parent: CancelState?
    private var children: [ObjectIdentifier: CancelState] = [:]
    private var storedError: ContextError?
    private var timer: RuntimeTimer?

    init(parent: CancelState?) { self.parent = parent }

    var error: ContextError? {
        lock.lock()
        defer { lock.unlock() }
        return storedError
    }

    /// Registers `child` to be cancelled with us (or cancels it at once if we already are).
    func adopt(_ child: CancelState) {
        lock.lock()
        if let err = storedError {
            lock.unlock()
            child.cancel(err, detach: false)
            return
        }
        children[ObjectIdentifier(child)] = child
        lock.unlock()
    }

    func arm(at when: Int64) {
        let timer = RuntimeTimer(action: .run({ [weak self] in self?.cancel(.deadlineExceeded, detach: true) }))
        timer.when = when
        lock.lock()
        if storedError != nil {
            lock.unlock()
            return
        }
        self.timer = timer
        Scheduler.shared.ensureStarted()
        Scheduler.shared.addTimer(timer)
        lock.unlock()
    }

    /// Cancels this context and its subtree; `detach` also removes it from its parent's children.
    func cancel(_ err: ContextError, detach: Bool) {
        lock.lock()
        if storedError != nil {
            lock.unlock()
            return
        }
        storedError = err
        let kids = children
        children = [:]
        let timer = self.timer
        self.timer = nil
        lock.unlock()
        if let timer { Scheduler.shared.cancelTimer(timer) }
        done.close()
        for child in kids.values { child.cancel(err, detach: false) }
        if detach { parent?.forget(self) }
    }

    private func forget(_ child: CancelState) {
        lock.lock()
        children[ObjectIdentifier(child)] = nil
        lock.unlock()
    }

    /// Children still registered (tests: a cancelled child must not linger).
    var childCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return children.count
    }
}

extension Context {
    var cancelState: CancelState? { canceler }
}
