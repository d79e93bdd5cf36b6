import CStackSwitch
#if canImport(Glibc)
import Glibc
#endif

/// Starts OS threads running a Swift closure (Ms, sysmon). Failure to create a thread is fatal, as in Go.
enum ThreadStarter {
    private final class Box {
        let body: () -> Void
        let name: String?
        init(_ body: @escaping () -> Void, name: String?) {
            self.body = body
            self.name = name
        }
    }

    static func start(name: String?, _ body: @escaping () -> Void) {
        let box = Unmanaged.passRetained(Box(body, name: name.map { String($0.prefix(15)) })).toOpaque()
        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        pthread_attr_setdetachstate(&attr, Int32(PTHREAD_CREATE_DETACHED))
        var thread = pthread_t()
        let rc = pthread_create(&thread, &attr, { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            if let name = box.name { gr_thread_set_name(name) }
            box.body()
            return nil
        }, box)
        pthread_attr_destroy(&attr)
        if rc != 0 {
            Unmanaged<Box>.fromOpaque(box).release()
            fatalRuntimeError("newosproc: pthread_create failed (errno=\(rc))")
        }
    }
}
