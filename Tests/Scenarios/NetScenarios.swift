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
    "net-eagain-storm": {
        // N clients x M numbered lines through an echo server that reads 7 bytes at a time (nearly every
        // read ends in EAGAIN), with exact totals: no wake-up lost under edge triggering.
        let clients = 30, messages = 400
        let listener = try Net.listen("tcp", "127.0.0.1:0")
        go {
            while let conn = try? listener.accept() {
                go {
                    while let bytes = try? conn.read(upTo: 7), !bytes.isEmpty { try conn.write(bytes) }
                    try? conn.close()
                }
            }
        }
        let results = ResultsBox(count: 2 * clients)
        let wg = WaitGroup()
        for c in 0..<clients {
            wg.go {
                let conn = try Net.dial("tcp", listener.address.description)
                let writer = WaitGroup()
                writer.go {
                    for m in 0..<messages { try conn.write("client \(c) message \(m)\n") }
                    try conn.closeWrite()
                }
                var expected: [UInt8] = [], got: [UInt8] = []
                for m in 0..<messages { expected += Array("client \(c) message \(m)\n".utf8) }
                while case let chunk = try conn.read(upTo: 4096), !chunk.isEmpty { got += chunk }
                writer.wait()
                results.set(c, got.count)
                results.set(clients + c, got == expected ? 0 : 1)
                try conn.close()
            }
        }
        wg.wait()
        var bytes = 0, wrong = 0
        for c in 0..<clients { bytes += results.get(c); wrong += results.get(clients + c) }
        print("clients=\(clients) messages=\(messages) bytes=\(bytes) wrong=\(wrong)")
    },
    "net-timers-and-sockets": {
        // GOMAXPROCS=1: while a goroutine waits on a socket, the only M blocks in epoll_wait; sleeps and
        // timers must still fire, and the socket waiter must still wake.
        let listener = try Net.listen("tcp", "127.0.0.1:0")
        let accepted = Channel<Conn>(capacity: 1)
        go { accepted.send(try listener.accept()) }
        let client = try Net.dial("tcp", listener.address.description)
        let server = accepted.receive()!
        let got = Channel<String>(capacity: 1)
        go { got.send(String(decoding: (try? client.read(upTo: 16)) ?? [], as: UTF8.self)) }
        var slept = 0
        for _ in 0..<5 { Go.sleep(for: .milliseconds(5)); slept += 1 }
        print("slept \(slept) times")
        let fired = Channel<Bool>(capacity: 1)
        _ = GoTimer.after(.milliseconds(5)) { fired.send(true) }
        if fired.receive() == true { print("timer fired") }
        try server.write("io")
        print("reader got \(got.receive()!)")
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
