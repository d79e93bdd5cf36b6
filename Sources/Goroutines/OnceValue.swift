// Go's sync.OnceFunc / OnceValue / OnceValues, as closures that call `f` at most once.
//
// Go's OnceValues(f func() (T, error)) is a throwing function here: one `onceValue` with typed throws
// covers both (E == Never for a function that cannot fail). Where Go re-panics with the first call's
// panic value on every call, these rethrow the first call's error on every call. If the first call ended
// its goroutine with `Go.goexit`, every later call does the same (Go leaves that case unspecified).

/// Go's sync.OnceFunc: a function that calls `f` on its first call only; concurrent callers wait for that
/// call to finish. `f` is released after it has run.
public func onceFunc<E: Error>(_ f: @escaping @Sendable () throws(E) -> Void) -> @Sendable () throws(E) -> Void {
    let state = OnceResult<Void, E>(f)
    return { () throws(E) in try state.get() }
}

/// Go's sync.OnceValue (and OnceValues, with a throwing `f`): a function that calls `f` on its first call
/// only and returns (or throws) that call's result on every call.
public func onceValue<T: Sendable, E: Error>(_ f: @escaping @Sendable () throws(E) -> T) -> @Sendable () throws(E) -> T {
    let state = OnceResult<T, E>(f)
    return { () throws(E) -> T in try state.get() }
}

/// The first call's outcome. Written once under `once`, read only after `once.run` returns.
private final class OnceResult<T, E: Error>: @unchecked Sendable {
    private let once = Once()
    private var f: (() throws(E) -> T)?
    private var result: Result<T, E>?

    init(_ f: @escaping () throws(E) -> T) { self.f = f }

    func get() throws(E) -> T {
        once.run {
            guard let f else { return }
            self.f = nil
            do throws(E) { result = .success(try f()) } catch { result = .failure(error) }
        }
        guard let result else { Go.goexit() }  // the first call ended its goroutine
        return try result.get()
    }
}
