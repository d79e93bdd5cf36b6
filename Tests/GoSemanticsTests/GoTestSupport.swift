import Foundation
import Synchronization
import XCTest
import Goroutines

// What Go's tests lean on, in the shape the ports need: the test body runs as a goroutine, Go's shared
// variables become boxes (goroutine closures are @Sendable), GOMAXPROCS changes are undone afterwards.

/// Runs a Go test body as a goroutine and waits for it (Go runs every test function in its own goroutine).
func goTest(_ body: @escaping @Sendable () throws -> Void) throws {
    try Go.runBlocking(body)
}

/// Go's `defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(n))`.
func withMaxProcs<T>(_ n: Int, _ body: () throws -> T) rethrows -> T {
    let previous = setMaxProcsForTest(n)
    defer { setMaxProcsForTest(previous) }
    return try body()
}

/// Go's `runtime.GOMAXPROCS(n)` in a test. Returns the previous value.
@discardableResult
func setMaxProcsForTest(_ n: Int) -> Int { Go.setMaxProcs(n) }

/// A variable shared between goroutines the way Go's tests share one: its accesses are ordered by the
/// test's own channels, locks or wait groups (or, where Go's test reads it racily, so does the port).
final class Shared<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}

/// Go's `atomic.Int64` / `sync/atomic` counters.
final class AtomicInt: @unchecked Sendable {
    private let storage: Atomic<Int>
    init(_ value: Int = 0) { storage = Atomic(value) }
    var value: Int { storage.load(ordering: .sequentiallyConsistent) }
    func store(_ v: Int) { storage.store(v, ordering: .sequentiallyConsistent) }
    @discardableResult func add(_ d: Int) -> Int { storage.add(d, ordering: .sequentiallyConsistent).newValue }
    func compareAndSwap(_ old: Int, _ new: Int) -> Bool {
        storage.compareExchange(expected: old, desired: new, ordering: .sequentiallyConsistent).exchanged
    }
}

/// Go's stackGrowthRecursive: uses about 1 KiB of stack per level.
@inline(never)
func stackGrowthRecursive(_ i: Int) {
    var pad = [UInt64](repeating: 0, count: 128)
    withUnsafeMutableBytes(of: &pad) { _ in }
    if pad.contains(where: { $0 != 0 }) { return }
    if i != 0 { stackGrowthRecursive(i - 1) }
}

/// Seconds since `start`, for Go tests that measure elapsed time.
func since(_ start: ContinuousClock.Instant) -> Duration { ContinuousClock.now - start }

/// Go's `testing.Short()`: false, as in CI.
let testingShort = false
