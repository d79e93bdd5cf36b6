#if canImport(Glibc)
import Glibc
#endif
import Goroutines

/// Ctrl-C and SIGTERM handling on a thread of its own: the signals are blocked everywhere else and
/// taken here with sigwait, so the handler may do ordinary work (stop the server, print, exit).
enum ShutdownSignals {
    /// Blocks SIGINT and SIGTERM in the calling thread; threads it creates later inherit the mask. Call it
    /// first thing in main, before any thread is started.
    static func blockInThisThread() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Starts the thread that waits for SIGINT/SIGTERM and runs `onSignal` once.
    static func install(_ onSignal: @escaping @Sendable (String) -> Void) {
        blockInThisThread()
        let box = Unmanaged.passRetained(SignalBox(onSignal)).toOpaque()
        var thread = pthread_t()
        pthread_create(&thread, nil, { raw in
            let box = Unmanaged<SignalBox>.fromOpaque(raw!).takeRetainedValue()
            var set = sigset_t()
            sigemptyset(&set)
            sigaddset(&set, SIGINT)
            sigaddset(&set, SIGTERM)
            var received: Int32 = 0
            sigwait(&set, &received)
            box.handler(received == SIGINT ? "interrupt" : "terminated")
            return nil
        }, box)
    }

    private final class SignalBox {
        let handler: @Sendable (String) -> Void
        init(_ handler: @escaping @Sendable (String) -> Void) { self.handler = handler }
    }
}
