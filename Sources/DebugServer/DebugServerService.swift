// swift-service-lifecycle integration: run the debug server as one service of a ServiceGroup, and
// stop it gracefully when the group shuts down (SIGTERM, SIGINT, or another service ending).
import Foundation
import ServiceLifecycle
import Synchronization

extension DebugServer: Service {
    /// Starts the server, waits for graceful shutdown or task cancellation, then stops it (in-flight
    /// requests get `shutdownGracePeriod` to finish).
    public func run() async throws {
        try start()
        let signal = ShutdownSignal()
        await withTaskCancellationOrGracefulShutdownHandler {
            await signal.wait()
        } onCancelOrGracefulShutdown: {
            signal.fire()
        }
        // stop() waits up to the grace period for in-flight requests; wait on a plain thread so no
        // cooperative-pool thread is blocked meanwhile.
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            Thread {
                self.stop()
                continuation.resume()
            }.start()
        }
    }
}

/// A one-shot latch between the lifecycle's handler (any thread) and `run()`'s await.
private final class ShutdownSignal: Sendable {
    private enum State {
        case waiting(CheckedContinuation<Void, Never>?)
        case fired
    }

    private let state = Mutex<State>(.waiting(nil))

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { state -> Bool in
                if case .fired = state { return true }
                state = .waiting(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    func fire() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            defer { state = .fired }
            if case .waiting(let continuation) = state { return continuation }
            return nil
        }
        waiter?.resume()
    }
}
