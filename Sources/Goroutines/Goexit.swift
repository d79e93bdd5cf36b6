import Synchronization

// Go's runtime.Goexit and the deferred calls it runs.
//
// Go's Goexit unwinds the calling goroutine, running its deferred calls, without a panic. Swift cannot
// unwind a stack from non-throwing code: a `defer` block runs only when its scope is left normally or by a
// thrown error. So the runtime keeps its own per-goroutine stack of cleanups, pushed and popped by
// `Go.withCleanup`, and `Go.goexit` runs them (innermost first) and then switches away from the goroutine
// for good. The frames between the call to `goexit` and the goroutine's entry are abandoned, not unwound:
// their `defer` blocks do not run, and whatever they retain is leaked. The runtime's own cleanups that
// other goroutines depend on (`WaitGroup.go`'s `done`, `Once`'s completion, `onceFunc`'s result) are
// registered with `withCleanup`, so they hold under `goexit` as in Go.

/// Each goroutine's pending cleanups, innermost last, keyed by goroutine id. Only a goroutine touches its
/// own entry; the lock is striped by id so goroutines on different Ps do not contend.
enum GoroutineCleanups {
    private static let stripes: [CleanupStripe] = (0..<64).map { _ in CleanupStripe() }

    private static func stripe(_ id: Int64) -> CleanupStripe { stripes[Int(UInt64(bitPattern: id) % 64)] }

    static func push(_ cleanup: @escaping () -> Void, for id: Int64) {
        let s = stripe(id)
        s.lock.lock()
        s.cleanups[id, default: []].append(CleanupEntry(run: cleanup))
        s.lock.unlock()
    }

    /// Removes and returns the innermost cleanup of goroutine `id`, if any.
    static func pop(for id: Int64) -> (() -> Void)? {
        let s = stripe(id)
        s.lock.lock()
        defer { s.lock.unlock() }
        guard var list = s.cleanups[id], let last = list.popLast() else { return nil }
        s.cleanups[id] = list.isEmpty ? nil : list
        return last.run
    }
}

private final class CleanupStripe: @unchecked Sendable {
    let lock = RuntimeLock()
    var cleanups: [Int64: [CleanupEntry]] = [:]
}

/// Only its own goroutine ever runs it.
private struct CleanupEntry: @unchecked Sendable {
    let run: () -> Void
}

extension Go {
    /// Runs `body`, then `cleanup`, as Go's `defer cleanup()` at the top of a function: `cleanup` runs when
    /// `body` returns, throws, or calls `Go.goexit` (directly or deeper down). Nested calls run their
    /// cleanups innermost first. On a plain thread it is a `defer`.
    public static func withCleanup<T>(_ cleanup: () -> Void, _ body: () throws -> T) rethrows -> T {
        guard let g = M.current?.curG else {
            defer { cleanup() }
            return try body()
        }
        let id = g.id
        return try withoutActuallyEscaping(cleanup) { cleanup in
            GoroutineCleanups.push(cleanup, for: id)
            // `goexit` inside `body` runs (and pops) the cleanup itself and never comes back here.
            defer { GoroutineCleanups.pop(for: id)?() }
            return try body()
        }
    }

    /// Go's runtime.Goexit: ends the calling goroutine. The cleanups registered with `Go.withCleanup`
    /// that are still pending run first, innermost first; then the goroutine is gone and its stack is
    /// reused. Limitation: Swift cannot unwind from non-throwing code, so the frames between this call and
    /// the goroutine's entry are abandoned: their `defer` blocks do not run, locks they hold stay held, and
    /// objects only they retain leak. Put what must happen in `withCleanup`.
    ///
    /// In the main goroutine of `Go.main`, the program goes on with the other goroutines and ends in
    /// Go's `fatal error: no goroutines (main called runtime.Goexit) - deadlock!` once none is left. Inside
    /// `Go.runBlocking` the waiting thread gets `GoroutineExitError`. Called outside a goroutine it is a
    /// fatal error.
    public static func goexit() -> Never {
        guard let m = M.current, let g = m.curG else {
            fatalRuntimeError("Go.goexit called outside a goroutine")
        }
        while let cleanup = GoroutineCleanups.pop(for: g.id) { cleanup() }
        Scheduler.shared.exitCurrent(g)
    }
}

/// `Go.runBlocking`'s goroutine called `Go.goexit` before producing its result.
public struct GoroutineExitError: Error, CustomStringConvertible {
    public var description: String { "the goroutine called Go.goexit before returning a value" }
}
