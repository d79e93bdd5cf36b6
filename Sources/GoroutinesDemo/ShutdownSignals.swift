#if canImport(Glibc)
import Glibc
#endif
import Goroutines

/// Ctrl-C and SIGTERM handling on a thread of its own: the signals are blocked everywhere else and
/// taken here with sigwait, so the handler may do ordinary work (stop the server, print, exit).
enum ShutdownSignals {
    static func install(_ onSignal: @escaping @Sendable (String) -> Void) {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        // Threads created from now on (the runtime's Ms, the server's workers) inherit the mask.
        pthread_sigmask(SIG_BLOCK, &set, nil)
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
