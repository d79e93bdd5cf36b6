import CStackSwitch
import Goroutines
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// Goroutine sockets over loopback TCP; Tests/GoPeers/net does the same work with Go's net package.

/// Echoes everything back until the peer closes.
private func echo(_ conn: Conn, bufferSize: Int) {
    var buffer = [UInt8](repeating: 0, count: bufferSize)
    while let n = try? conn.read(into: &buffer), n > 0 {
        do {
            try buffer.withUnsafeBytes { raw in try conn.write(UnsafeRawBufferPointer(rebasing: raw[..<n])) }
        } catch {
            break
        }
    }
    try? conn.close()
}

private func startEchoServer() throws(NetError) -> Listener {
    let listener = try Net.listen("tcp", "127.0.0.1:0")
    go {
        while let conn = try? listener.accept() { go { echo(conn, bufferSize: 32 * 1024) } }
    }
    return listener
}

/// Reads exactly `buffer.count` bytes.
private func readFull(_ conn: Conn, _ buffer: inout [UInt8]) throws {
    var got = 0
    while got < buffer.count {
        let n = try buffer.withUnsafeMutableBytes { raw in
            try conn.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[got...]))
        }
        if n == 0 { fatalError("echo server closed early") }
        got += n
    }
}

/// One connection, 64-byte messages, one at a time: ops = round trips.
func benchEchoRoundTrip(roundTrips: Int) throws -> BenchResult {
    let listener = try startEchoServer()
    let conn = try Net.dial("tcp", listener.address.description)
    let message = [UInt8](repeating: 0x61, count: 64)
    var reply = [UInt8](repeating: 0, count: 64)
    for _ in 0..<1_000 { try conn.write(message); try readFull(conn, &reply) }   // warm-up
    let start = gr_nanotime()
    for _ in 0..<roundTrips {
        try conn.write(message)
        try readFull(conn, &reply)
    }
    let elapsed = gr_nanotime() - start
    try conn.close()
    try listener.close()
    return BenchResult(name: "net_echo_rtt_64b", ops: roundTrips, elapsedNanos: elapsed)
}

/// 100 connections, each sending `perConnection` 4 KiB messages and reading each echo back:
/// ops = messages echoed; bytes_per_s counts both directions' payload once.
func benchEchoThroughput(connections: Int, perConnection: Int) throws -> BenchResult {
    let listener = try startEchoServer()
    let address = listener.address.description
    let conns = try (0..<connections).map { _ throws(NetError) in try Net.dial("tcp", address) }
    let wg = WaitGroup()
    let start = gr_nanotime()
    for conn in conns {
        wg.go {
            let message = [UInt8](repeating: 0x62, count: 4096)
            var reply = [UInt8](repeating: 0, count: 4096)
            for _ in 0..<perConnection {
                try conn.write(message)
                try readFull(conn, &reply)
            }
        }
    }
    wg.wait()
    let elapsed = gr_nanotime() - start
    for conn in conns { try conn.close() }
    try listener.close()
    let messages = connections * perConnection
    var result = BenchResult(name: "net_echo_throughput_100conns_4k", ops: messages, elapsedNanos: elapsed)
    result.extra["mib_per_s"] = Double(messages * 4096) / (Double(elapsed) / 1e9) / 1_048_576
    return result
}

/// Four goroutines dialing in a loop; the server accepts and closes each connection: ops = connections.
func benchAcceptRate(connections: Int) throws -> BenchResult {
    let listener = try Net.listen("tcp", "127.0.0.1:0")
    let address = listener.address.description
    let accepted = WaitGroup()
    accepted.add(connections)
    go {
        while let conn = try? listener.accept() {
            try? conn.close()
            accepted.done()
        }
    }
    let dialers = 4
    let wg = WaitGroup()
    let start = gr_nanotime()
    for d in 0..<dialers {
        wg.go {
            for _ in stride(from: d, to: connections, by: dialers) {
                let conn = try Net.dial("tcp", address)
                _ = try conn.read(upTo: 1)   // the server's close
                try conn.close()
            }
        }
    }
    wg.wait()
    accepted.wait()
    let elapsed = gr_nanotime() - start
    try listener.close()
    return BenchResult(name: "net_accept_rate", ops: connections, elapsedNanos: elapsed)
}

/// `count` idle connections from a child process, each with a handler goroutine parked in a read:
/// the server's resident memory per connection and its thread count.
func benchIdleConnections(count: Int) throws -> BenchResult {
    let listener = try Net.listen("tcp", "127.0.0.1:0")
    let reading = Atomic<Int>(0)
    let rssBefore = currentRSSKiB()
    let start = gr_nanotime()
    go {
        while let conn = try? listener.accept() {
            go {
                var buffer = [UInt8](repeating: 0, count: 512)
                reading.add(1, ordering: .relaxed)
                _ = try? conn.read(into: &buffer)
                try? conn.close()
            }
        }
    }
    let child = spawnIdleClients(port: listener.address.port, count: count)
    while reading.load(ordering: .relaxed) < count { Go.sleep(for: .milliseconds(10)) }
    let elapsed = gr_nanotime() - start
    Go.sleep(for: .milliseconds(300))   // every handler parked
    let rssAfter = currentRSSKiB()
    let threads = threadCount()
    kill(child, SIGKILL)
    var status: Int32 = 0
    waitpid(child, &status, 0)
    var result = BenchResult(name: "net_idle_conns_x\(count)", ops: count, elapsedNanos: elapsed)
    result.extra["rss_per_conn_bytes"] = Double((rssAfter - rssBefore) * 1024) / Double(count)
    result.extra["threads"] = Double(threads)
    return result
}

/// The client side of `benchIdleConnections`, in its own process (two fds per connection would not fit
/// one process's descriptor limit): blocking connects, then sleep until killed.
func runIdleClients(port: Int, count: Int) -> Never {
    var fds: [Int32] = []
    for _ in 0..<count {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = in_port_t(UInt16(port).bigEndian)
        sin.sin_addr = in_addr(s_addr: INADDR_LOOPBACK.bigEndian)
        let rc = withUnsafePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 { perror("idle client connect"); exit(1) }
        fds.append(fd)
    }
    while true { pause() }
}

private func spawnIdleClients(port: Int, count: Int) -> pid_t {
    var pid: pid_t = 0
    let args = ["/proc/self/exe", "net_idle_client", String(port), String(count)]
    var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
    defer { for p in argv { free(p) } }
    let rc = posix_spawn(&pid, "/proc/self/exe", nil, nil, &argv, environ)
    if rc != 0 { fatalError("posix_spawn failed: \(rc)") }
    return pid
}

/// VmRSS from /proc/self/status, in KiB.
func currentRSSKiB() -> Int { procStatusField("VmRSS:") }

func threadCount() -> Int { procStatusField("Threads:") }

private func procStatusField(_ name: String) -> Int {
    guard let f = fopen("/proc/self/status", "r") else { return 0 }
    defer { fclose(f) }
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, 256, f) != nil {
        let s = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if s.hasPrefix(name) { return Int(s.dropFirst(name.count).filter { $0.isNumber }) ?? 0 }
    }
    return 0
}
