import CStackSwitch
import Synchronization

// Go's context package: a tree of contexts where cancelling one cancels its whole subtree.
//
// Only cancelable contexts (withCancel / withTimeout / withDeadline) own state: a lock, a `done` channel
// closed on cancellation, the error, their cancelable children, and for deadlines a runtime timer. Value
// contexts and the background context delegate `done`/`err` to their nearest cancelable ancestor. A child
// registers with that ancestor and unregisters when cancelled, and a deadline's timer is stopped the moment
// the context is cancelled, so a cancelled context leaves nothing behind in the runtime. `afterFunc`
// registers a child of the same kind whose cancellation starts the function instead of closing a channel.
// A context's `description` is Go's: the chain of constructors from the root ("context.Background.WithCancel").

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

/// Cancels a context with a cause (Go's CancelCauseFunc): the first call wins; a nil cause means
/// `ContextError.canceled`.
public typealias CancelCauseFunction = @Sendable ((any Error)?) -> Void

/// Go's context.Context: cancellation, a deadline and request-scoped values, passed down a call tree.
public final class Context: @unchecked Sendable, CustomStringConvertible {
    /// How this context was made from its parent, for `description`.
    private enum Origin {
        case background, todo, withCancel, withDeadline, withValue, withoutCancel
    }

    private let parent: Context?
    private let origin: Origin
    /// The nearest cancelable context at or above this one.
    private let canceler: CancelState?
    private let valueKey: AnyHashable?
    private let storedValue: (any Sendable)?
    /// Monotonic ns (gr_nanotime clock) of the effective deadline, if any.
    private let deadlineNanos: Int64?

    private init(parent: Context?, origin: Origin, canceler: CancelState?, key: AnyHashable? = nil, value: (any Sendable)? = nil, deadline: Int64?) {
        self.parent = parent
        self.origin = origin
        self.canceler = canceler
        valueKey = key
        storedValue = value
        deadlineNanos = deadline
    }

    /// The root context: never cancelled, no deadline, no values (Go's context.Background()).
    public static let background = Context(parent: nil, origin: .background, canceler: nil, deadline: nil)

    /// Go's context.TODO(): the same as `background`, for code that does not know yet which context to use.
    public static let todo = Context(parent: nil, origin: .todo, canceler: nil, deadline: nil)

    /// Closed when this context is cancelled; nil for a context that can never be (receiving from it, or
    /// selecting on it, then waits forever, as on Go's nil Done channel).
    public var done: Channel<Void>? { canceler?.done }

    /// nil while the context is live; then `.canceled` or `.deadlineExceeded`.
    public var err: ContextError? { canceler?.error }

    /// Go's context.Cause: why the context was cancelled. nil while it is live; the cause given to a
    /// `withCancelCause` cancel function or a `withDeadlineCause`/`withTimeoutCause` deadline, otherwise
    /// the same as `err`. A child cancelled with its parent has its parent's cause.
    public var cause: (any Error)? { canceler?.cause }

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
        Context(parent: self, origin: .withValue, canceler: canceler, key: AnyHashable(key), value: value, deadline: deadlineNanos)
    }

    /// A child cancelled by the returned function or when this context is.
    public func withCancel() -> (context: Context, cancel: CancelFunction) {
        let (context, state) = makeCancelable(deadline: deadlineNanos, timerCause: nil)
        return (context, { state.cancel(.canceled, cause: nil, detach: true) })
    }

    /// Go's WithCancelCause: like `withCancel`, but the cancel function records why; read it with `cause`.
    public func withCancelCause() -> (context: Context, cancel: CancelCauseFunction) {
        let (context, state) = makeCancelable(deadline: deadlineNanos, timerCause: nil)
        return (context, { cause in state.cancel(.canceled, cause: cause, detach: true) })
    }

    /// A child cancelled after `timeout` (with `.deadlineExceeded`), by the returned function, or with this one.
    public func withTimeout(_ timeout: Duration) -> (context: Context, cancel: CancelFunction) {
        withDeadlineNanos(runtimeDeadline(after: timeout), cause: nil)
    }

    /// A child cancelled at `deadline` (with `.deadlineExceeded`), by the returned function, or with this one.
    public func withDeadline(_ deadline: ContinuousClock.Instant) -> (context: Context, cancel: CancelFunction) {
        withDeadlineNanos(Self.nanos(deadline), cause: nil)
    }

    /// Go's WithTimeoutCause: like `withTimeout`, and when the timeout expires `cause` is the cause.
    public func withTimeoutCause(_ timeout: Duration, cause: any Error) -> (context: Context, cancel: CancelFunction) {
        withDeadlineNanos(runtimeDeadline(after: timeout), cause: cause)
    }

    /// Go's WithDeadlineCause: like `withDeadline`, and when the deadline passes `cause` is the cause.
    public func withDeadlineCause(_ deadline: ContinuousClock.Instant, cause: any Error) -> (context: Context, cancel: CancelFunction) {
        withDeadlineNanos(Self.nanos(deadline), cause: cause)
    }

    /// Go's WithoutCancel: a child with this context's values but never cancelled, without deadline,
    /// `done`, `err` or `cause`.
    public func withoutCancel() -> Context {
        Context(parent: self, origin: .withoutCancel, canceler: nil, deadline: nil)
    }

    /// Go's context.AfterFunc: runs `body` in its own goroutine once this context is cancelled (at once if
    /// it already is). The returned `stop` unregisters it: true if that prevented `body` from starting,
    /// false if it had started or `stop` was called before. On a context that can never be cancelled,
    /// `body` never runs and `stop` returns true.
    public func afterFunc(_ body: @escaping @Sendable () -> Void) -> @Sendable () -> Bool {
        guard let canceler else { return { true } }
        let registration = AfterFuncRegistration(body)
        let state = CancelState(parent: canceler, onCancel: { registration.start() })
        canceler.adopt(state)
        return {
            guard registration.claim() else { return false }
            state.cancel(.canceled, cause: nil, detach: true)
            return true
        }
    }

    /// Go's String(): the constructors from the root, e.g. `context.Background.WithCancel`,
    /// `context.Background.WithValue(Key, value)`, `context.Background.WithDeadline(<time> [<remaining>])`.
    public var description: String {
        switch origin {
        case .background: return "context.Background"
        case .todo: return "context.TODO"
        case .withCancel: return parentDescription + ".WithCancel"
        case .withoutCancel: return parentDescription + ".WithoutCancel"
        case .withValue:
            return parentDescription + ".WithValue(" + Self.stringify(valueKey?.base) + ", " + Self.stringify(storedValue) + ")"
        case .withDeadline:
            let when = deadlineNanos ?? 0
            return parentDescription + ".WithDeadline(" + GoTimeText.wallClock(monotonicNanos: when) + " ["
                + GoTimeText.duration(nanoseconds: when - gr_nanotime()) + "])"
        }
    }

    private var parentDescription: String { parent?.description ?? "" }

    /// Go's stringify: strings as they are, describable values by their description, others by type name.
    private static func stringify(_ value: Any?) -> String {
        guard let value, !((value as? any OptionalValue)?.isNone ?? false) else { return "<nil>" }
        if let s = value as? String { return s }
        if let s = value as? any CustomStringConvertible { return s.description }
        return String(reflecting: type(of: value))
    }

    private static func nanos(_ instant: ContinuousClock.Instant) -> Int64 {
        runtimeDeadline(after: instant - ContinuousClock.now)
    }

    private func withDeadlineNanos(_ when: Int64, cause: (any Error)?) -> (context: Context, cancel: CancelFunction) {
        let (context, state): (Context, CancelState)
        if let current = deadlineNanos, current <= when {
            // The parent's deadline comes first: it alone decides (Go returns WithCancel here).
            (context, state) = makeCancelable(deadline: current, timerCause: nil)
        } else {
            (context, state) = makeCancelable(deadline: when, timerCause: .some(cause))
        }
        return (context, { state.cancel(.canceled, cause: nil, detach: true) })
    }

    /// `timerCause` non-nil: the child has a deadline of its own, and this is the cause it expires with.
    private func makeCancelable(deadline: Int64?, timerCause: (any Error)??) -> (Context, CancelState) {
        let state = CancelState(parent: canceler)
        let child = Context(parent: self, origin: timerCause == nil ? .withCancel : .withDeadline, canceler: state, deadline: deadline)
        canceler?.adopt(state)
        if let timerCause, let deadline, state.error == nil {
            if deadline - gr_nanotime() <= 0 {
                state.cancel(.deadlineExceeded, cause: timerCause, detach: true)
            } else {
                state.arm(at: deadline, cause: timerCause)
            }
        }
        return (child, state)
    }
}

/// The shared part of a cancelable context.
final class CancelState: @unchecked Sendable {
    let done = Channel<Void>()
    private let lock = RuntimeLock()
    private weak var parent: CancelState?
    private var children: [ObjectIdentifier: CancelState] = [:]
    private var storedError: ContextError?
    private var storedCause: (any Error)?
    private var timer: RuntimeTimer?
    /// An `afterFunc` registration: what to start when cancelled.
    private let onCancel: (@Sendable () -> Void)?

    init(parent: CancelState?, onCancel: (@Sendable () -> Void)? = nil) {
        self.parent = parent
        self.onCancel = onCancel
    }

    var error: ContextError? {
        lock.lock()
        defer { lock.unlock() }
        return storedError
    }

    var cause: (any Error)? {
        lock.lock()
        defer { lock.unlock() }
        return storedCause
    }

    /// Registers `child` to be cancelled with us (or cancels it at once if we already are).
    func adopt(_ child: CancelState) {
        lock.lock()
        if let err = storedError {
            let cause = storedCause
            lock.unlock()
            child.cancel(err, cause: cause, detach: false)
            return
        }
        children[ObjectIdentifier(child)] = child
        lock.unlock()
    }

    func arm(at when: Int64, cause: (any Error)?) {
        let timer = RuntimeTimer(action: .run({ [weak self] in self?.cancel(.deadlineExceeded, cause: cause, detach: true) }))
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

    /// Cancels this context and its subtree; `detach` also removes it from its parent's children. A nil
    /// `cause` means `err`.
    func cancel(_ err: ContextError, cause: (any Error)?, detach: Bool) {
        lock.lock()
        if storedError != nil {
            lock.unlock()
            return
        }
        storedError = err
        let cause = cause ?? err
        storedCause = cause
        let kids = children
        children = [:]
        let timer = self.timer
        self.timer = nil
        lock.unlock()
        if let timer { Scheduler.shared.cancelTimer(timer) }
        done.close()
        for child in kids.values { child.cancel(err, cause: cause, detach: false) }
        if detach { parent?.forget(self) }
        onCancel?()
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

/// One `afterFunc` body: started by cancellation or prevented by `stop`, whichever claims it first.
private final class AfterFuncRegistration: @unchecked Sendable {
    private let claimed = Atomic<Bool>(false)
    private let body: @Sendable () -> Void

    init(_ body: @escaping @Sendable () -> Void) { self.body = body }

    func claim() -> Bool {
        claimed.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
    }

    func start() {
        if claim() { go(body) }
    }
}

/// Lets `stringify` print a stored nil as Go prints a nil value.
private protocol OptionalValue {
    var isNone: Bool { get }
}

extension Optional: OptionalValue {
    var isNone: Bool { self == nil }
}

extension Context {
    var cancelState: CancelState? { canceler }
}
