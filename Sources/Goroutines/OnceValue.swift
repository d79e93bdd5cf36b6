// Go's sync.OnceFunc / OnceValue / OnceValues, as closures that call `f` at most once.
//
// Go's OnceValues(f func() (T, error)) is the throwing `onceValue` here (a tuple result covers other
// pairs). Where Go re-panics with the first call's panic value on every call, the throwing forms rethrow
// the first call's error on every call. If the first call ended its goroutine with `Go.goexit`, every
// later call does the same (Go leaves that case unspecified).
// (Plain `throws` overloads rather than one `throws(E)` function: a generic typed-throws closure result
// with E == Never crashes the Swift 6.3 compiler at the call site.)

/// Go's sync.OnceFunc: a function that calls `f` on its first call only; concurrent callers wait for that
/// call to finish. `f` is released after it has run.
public func onceFunc(_ f: @escaping @Sendable () -> Void) -> @Sendable () -> Void {
    let state = OnceResult<Void>(f)
    return { try! state.get() }
}

/// Go's sync.OnceFunc for a function that can fail: every call throws the first call's error.
public func onceFunc(_ f: @escaping @Sendable () throws -> Void) -> @Sendable () throws -> Void {
    let state = OnceResult<Void>(f)
    return { try state.get() }
}

/// Go's sync.OnceValue: a function that calls `f` on its first call only and returns that call's result
/// on every call.
public func onceValue<T: Sendable>(_ f: @escaping @Sendable () -> T) -> @Sendable () -> T {
    let state = OnceResult<T>(f)
    return { try! state.get() }
}

/// Go's sync.OnceValues (a value and an error): every call returns the first call's value or throws its
/// error.
public func onceValue<T: Sendable>(_ f: @escaping @Sendable () throws -> T) -> @Sendable () throws -> T {
    let state = OnceResult<T>(f)
    return { try state.get() }
}

/// The first call's outcome. Written once under `once`, read only after `once.run` returns.
private final class OnceResult<T>: @unchecked Sendable {
    private let once = Once()
    private var f: (() throws -> T)?
    private var result: Result<T, any Error>?

    init(_ f: @escaping () throws -> T) { self.f = f }

    func get() throws -> T {
        once.run {
            guard let f else { return }
            self.f = nil
            result = Result { try f() }
        }
        guard let result else { Go.goexit() }  // the first call ended its goroutine
        return try result.get()
    }
}
