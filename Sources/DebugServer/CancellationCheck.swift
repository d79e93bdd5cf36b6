// A flag the socket loop raises when the client of a request is gone (connection closed, HTTP/2
// stream reset, server stopping), so profile building can stop early instead of holding a worker.
import Foundation
import Synchronization

/// Tells a handler running on a worker thread that nobody is waiting for its answer any more.
public final class CancellationCheck: Sendable {
    private let flag = Atomic<Bool>(false)
    private let condition = NSCondition()

    /// A flag not raised yet.
    public init() {}

    /// True once the request's client went away or the server is stopping.
    public var isCancelled: Bool { flag.load(ordering: .acquiring) }

    /// Throws `PprofError.cancelled` when cancelled; handy between steps of a long build.
    public func check() throws {
        if isCancelled { throw PprofError.cancelled }
    }

    /// Sleeps `seconds` (as delta and CPU profiles do between snapshots), waking early on
    /// cancellation. Returns false when it was cancelled.
    @discardableResult
    public func sleep(seconds: Double) -> Bool {
        let deadline = Date(timeIntervalSinceNow: seconds)
        condition.lock()
        defer { condition.unlock() }
        while !isCancelled {
            if !condition.wait(until: deadline) { break }
        }
        return !isCancelled
    }

    /// Raises the flag and wakes sleepers. Safe from any thread, idempotent.
    public func cancel() {
        condition.lock()
        flag.store(true, ordering: .releasing)
        condition.broadcast()
        condition.unlock()
    }
}
