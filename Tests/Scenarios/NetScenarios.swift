import Goroutines
#if canImport(Glibc)
import Glibc
#endif

// Scenarios for goroutine sockets (issue 12): a program whose goroutines all wait on the network is not
// deadlocked (Go prints nothing while a listener waits), and schedtrace shows them in `IO wait`.

let netScenarios: [String: @Sendable () throws -> Void] = [
    "net-listener-only": {
        // Every goroutine waits in accept for 300 ms; a plain thread (not a goroutine) then connects.
        let listener = try Net.listen("tcp", "127.0.0.1:0")
        connectFromPlainThread(port: listener.address.port, afterMillis: 300)
        let conn = try listener.accept()
        print("accepted from \(conn.remoteAddress.host)")
    },
    "net-schedtrace": {
        let listener = try Net.listen("tcp", "127.0.0.1:0")
        go { _ = try? listener.accept() }
        Go.sleep(for: .milliseconds(350))
    },
]

/// Starts a pthread that sleeps, then connects to 127.0.0.1:`port` with blocking calls and closes.
func connectFromPlainThread(port: Int, afterMillis: Int) {
    let arg = UnsafeMutablePointer<Int>.allocate(capacity: 2)
    arg[0] = port
    arg[1] = afterMillis
    var thread = pthread_t()
    pthread_create(&thread, nil, { raw in
        let arg = raw!.assumingMemoryBound(to: Int.self)
        usleep(UInt32(arg[1] * 1000))
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = in_port_t(UInt16(arg[0]).bigEndian)
        sin.sin_addr = in_addr(s_addr: INADDR_LOOPBACK.bigEndian)
        _ = withUnsafePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        close(fd)
        return nil
    }, arg)
}
