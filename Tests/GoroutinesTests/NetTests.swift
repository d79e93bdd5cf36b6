import Foundation
import Synchronization
import XCTest
@testable import Goroutines

/// Goroutine sockets on the netpoller: the Go-shaped API (listen, dial, accept, read, write, close,
/// closeWrite, deadlines), Go's error texts, and no lost wake-up under edge triggering.
final class NetTests: XCTestCase {
    // MARK: basics

    func testTCPAcceptDialReadWriteClose() throws {
        try Go.runBlocking {
            let listener = try Net.listen("tcp", "127.0.0.1:0")
            XCTAssertEqual(listener.address.host, "127.0.0.1")
            XCTAssertGreaterThan(listener.address.port, 0)
            let accepted = Channel<Conn>(capacity: 1)
            go { accepted.send(try listener.accept()) }
            let conn = try Net.dial("tcp", listener.address.description, timeout: .seconds(5))
            let server = accepted.receive()!
            XCTAssertEqual(conn.remoteAddress, listener.address)
            XCTAssertEqual(server.remoteAddress, conn.localAddress)
            XCTAssertEqual(server.localAddress, listener.address)

            try conn.write("hello, ")
            try conn.write(Array("world".utf8))
            XCTAssertEqual(String(decoding: try readExactly(server, 12), as: UTF8.self), "hello, world")
            try server.write("back")
            XCTAssertEqual(try readExactly(conn, 4), Array("back".utf8))

            try conn.close()
            XCTAssertEqual(try server.read(upTo: 16), [], "the peer sees end of stream")
            XCTAssertThrowsNetError(try conn.read(upTo: 16), .closed,
                "read tcp \(conn.localAddress)->\(conn.remoteAddress): use of closed network connection")
            XCTAssertThrowsNetError(try conn.write("x"), .closed,
                "write tcp \(conn.localAddress)->\(conn.remoteAddress): use of closed network connection")
            XCTAssertThrowsNetError(try conn.close(), .closed,
                "close tcp \(conn.localAddress)->\(conn.remoteAddress): use of closed network connection")
            try server.close()
            try listener.close()
        }
    }

    func testUnixSocketEchoAndListenerRemovesItsFile() throws {
        let path = NSTemporaryDirectory() + "goroutines-net-\(getpid()).sock"
        unlink(path)
        try Go.runBlocking {
            let listener = try Net.listen("unix", path)
            XCTAssertEqual(listener.address.network, "unix")
            XCTAssertEqual(listener.address.description, path)
            XCTAssertTrue(FileManager.default.fileExists(atPath: path))
            go { try echoUntilEOF(try listener.accept()) }
            let conn = try Net.dial("unix", path)
            XCTAssertEqual(conn.remoteAddress.description, path)
            try conn.write("over a unix socket")
            try conn.closeWrite()
            XCTAssertEqual(String(decoding: try readToEnd(conn), as: UTF8.self), "over a unix socket")
            try conn.close()
            XCTAssertThrowsNetError(try Net.listen("unix", path), .addressInUse,
                "listen unix \(path): bind: address already in use")
            try listener.close()
            XCTAssertFalse(FileManager.default.fileExists(atPath: path), "close removes the socket file, as in Go")
        }
    }

    func testThousandConcurrentConnectionsEchoExactBytes() throws {
        let clients = 1_000
        let mismatches = Atomic<Int>(0), completed = Atomic<Int>(0)
        try Go.runBlocking {
            let listener = try Net.listen("tcp", "127.0.0.1:0")
            go {
                while let conn = try? listener.accept() { go { try echoUntilEOF(conn) } }
            }
            let wg = WaitGroup()
            for i in 0..<clients {
                wg.go {
                    let conn = try Net.dial("tcp", listener.address.description)
                    // Distinct content per client, long enough to need more than one read.
                    let payload = (0..<(3_000 + i)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i) }
                    try conn.write(payload)
                    try conn.closeWrite()
                    if try readToEnd(conn) != payload { mismatches.add(1, ordering: .relaxed) }
                    try conn.close()
                    completed.add(1, ordering: .relaxed)
                }
            }
            wg.wait()
            try listener.close()
        }
        XCTAssertEqual(completed.load(ordering: .relaxed), clients)
        XCTAssertEqual(mismatches.load(ordering: .relaxed), 0, "every client got its own bytes back, exactly")
    }

    // MARK: deadlines

    func testReadDeadlineFailsWithGoTimeoutAndCanBeCleared() throws {
        try withConnectedPair { client, server in
            try client.setReadDeadline(.now + .milliseconds(50))
            XCTAssertThrowsNetError(try client.read(upTo: 8), .timeout,
                "read tcp \(client.localAddress)->\(client.remoteAddress): i/o timeout")
            try server.write("late")
            // The deadline has passed: reads keep failing, even with data waiting (Go's rule) ...
            XCTAssertThrowsNetError(try client.read(upTo: 8), .timeout, nil)
            // ... until it is moved.
            try client.setReadDeadline(nil)
            XCTAssertEqual(try readExactly(client, 4), Array("late".utf8))
        }
    }

    func testWriteDeadlineFailsAWriteThePeerNeverReads() throws {
        try withConnectedPair { client, _ in
            try client.setWriteDeadline(.now + .milliseconds(100))
            let chunk = [UInt8](repeating: 7, count: 1 << 20)
            var failure: NetError?
            do throws(NetError) {
                for _ in 0..<1_000 { try client.write(chunk) }   // far more than any socket buffer
            } catch {
                failure = error
            }
            XCTAssertEqual(failure?.kind, .timeout)
            XCTAssertEqual(failure?.description, "write tcp \(client.localAddress)->\(client.remoteAddress): i/o timeout")
        }
    }

    func testDeadlineExtendedWhileAReadWaits() throws {
        try withConnectedPair { client, server in
            try client.setReadDeadline(.now + .milliseconds(800))
            let result = Channel<Result<[UInt8], NetError>>(capacity: 1)
            let reader = GoroutineIDBox()
            go {
                reader.publish()
                result.send(Result { () throws(NetError) in try client.read(upTo: 16) })
            }
            eventuallyParked(reader, .ioWait)
            try client.setReadDeadline(.now + .seconds(30))
            Go.sleep(for: .milliseconds(1_000))   // past the first deadline
            XCTAssertEqual(waitReason(of: reader.id.load(ordering: .acquiring)), .ioWait, "still waiting")
            try server.write("data")
            XCTAssertEqual(try result.receive()!.get(), Array("data".utf8))
        }
    }

    func testPastDeadlineFailsThePendingReadAndLaterOnes() throws {
        try withConnectedPair { client, server in
            let result = Channel<NetError?>(capacity: 1)
            let reader = GoroutineIDBox()
            go {
                reader.publish()
                do throws(NetError) { _ = try client.read(upTo: 16); result.send(nil) } catch { result.send(error) }
            }
            eventuallyParked(reader, .ioWait)
            try client.setDeadline(.now - .seconds(1))
            XCTAssertEqual(result.receive()!?.kind, .timeout, "the parked read fails at once")
            XCTAssertThrowsNetError(try client.write("x"), .timeout, nil)
            try client.setDeadline(nil)
            try server.write("ok")
            XCTAssertEqual(try readExactly(client, 2), Array("ok".utf8))
        }
    }

    // MARK: close, half-close, reset

    func testCloseWakesEveryGoroutineParkedOnTheConnection() throws {
        try withConnectedPair { client, _ in
            let errors = Channel<NetError?>(capacity: 3)
            let reader = GoroutineIDBox(), writer = GoroutineIDBox(), accepter = GoroutineIDBox()
            go {
                reader.publish()
                do throws(NetError) { _ = try client.read(upTo: 16); errors.send(nil) } catch { errors.send(error) }
            }
            go {
                // The peer never reads: this writer fills the socket buffers, then parks.
                writer.publish()
                let chunk = [UInt8](repeating: 1, count: 1 << 20)
                do throws(NetError) { while true { try client.write(chunk) } } catch { errors.send(error) }
            }
            let listener = try Net.listen("tcp", "127.0.0.1:0")
            go {
                accepter.publish()
                do throws(NetError) { _ = try listener.accept(); errors.send(nil) } catch { errors.send(error) }
            }
            eventuallyParked(reader, .ioWait)
            eventuallyParked(writer, .ioWait)
            eventuallyParked(accepter, .ioWait)
            try client.close()
            try listener.close()
            let got = (0..<3).map { _ in errors.receive()!?.description ?? "no error" }.sorted()
            XCTAssertEqual(got, [
                "accept tcp \(listener.address): use of closed network connection",
                "read tcp \(client.localAddress)->\(client.remoteAddress): use of closed network connection",
                "write tcp \(client.localAddress)->\(client.remoteAddress): use of closed network connection",
            ])
        }
    }

    func testHalfCloseDeliversEndOfStreamAndKeepsTheOtherDirection() throws {
        try withConnectedPair { client, server in
            try client.write("ping")
            try client.closeWrite()
            XCTAssertEqual(try readToEnd(server), Array("ping".utf8), "server reads the bytes, then end of stream")
            try server.write("pong")
            try server.close()
            XCTAssertEqual(try readToEnd(client), Array("pong".utf8), "the client can still read after closeWrite")
        }
    }

    func testPeerResetIsATypedError() throws {
        try withConnectedPair { client, server in
            // SO_LINGER 0: close sends RST instead of FIN.
            var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
            XCTAssertEqual(setsockopt(server.socket.fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size)), 0)
            try server.close()
            XCTAssertThrowsNetError(try client.read(upTo: 16), .connectionReset,
                "read tcp \(client.localAddress)->\(client.remoteAddress): read: connection reset by peer")
        }
    }

    func testDialRefusedAndListenInUseAreTypedErrors() throws {
        try Go.runBlocking {
            let listener = try Net.listen("tcp", "127.0.0.1:0")
            let address = listener.address.description
            XCTAssertThrowsNetError(try Net.listen("tcp", address), .addressInUse,
                "listen tcp \(address): bind: address already in use")
            try listener.close()
            XCTAssertThrowsNetError(try Net.dial("tcp", address), .connectionRefused,
                "dial tcp \(address): connect: connection refused")
            XCTAssertThrowsNetError(try Net.dial("tcp", "127.0.0.1"), .invalidAddress("missing port in address"),
                "dial tcp 127.0.0.1: missing port in address")
            XCTAssertThrowsNetError(try Net.dial("udp", address), .invalidAddress("unknown network udp"),
                "dial udp \(address): unknown network udp")
        }
    }

    func testLocalhostAndIPv6Resolve() throws {
        try Go.runBlocking {
            let listener = try Net.listen("tcp", "localhost:0")
            XCTAssertEqual(listener.address.host, "127.0.0.1")
            go { try echoUntilEOF(try listener.accept()) }
            let conn = try Net.dial("tcp", "localhost:\(listener.address.port)")
            try conn.write("v4")
            try conn.closeWrite()
            XCTAssertEqual(try readToEnd(conn), Array("v4".utf8))
            try conn.close()
            try listener.close()

            guard let v6 = try? Net.listen("tcp6", "[::1]:0") else { return }   // no IPv6 loopback here
            XCTAssertEqual(v6.address.description, "[::1]:\(v6.address.port)")
            go { try echoUntilEOF(try v6.accept()) }
            let conn6 = try Net.dial("tcp", "[::1]:\(v6.address.port)")
            try conn6.write("v6")
            try conn6.closeWrite()
            XCTAssertEqual(try readToEnd(conn6), Array("v6".utf8))
            try conn6.close()
            try v6.close()
        }
    }

    func testCallsFromAPlainThreadBlockTheThread() throws {
        XCTAssertNil(Go.goroutineID, "the test runs on a plain thread")
        let listener = try Net.listen("tcp", "127.0.0.1:0")
        go { try echoUntilEOF(try listener.accept()) }
        let conn = try Net.dial("tcp", listener.address.description)
        try conn.write("from a thread")
        try conn.closeWrite()
        XCTAssertEqual(String(decoding: try readToEnd(conn), as: UTF8.self), "from a thread")
        try conn.close()
        try listener.close()
    }

    // MARK: edge triggering

    func testEAGAINStormLosesNoWakeUp() throws {
        // GOMAXPROCS=1 and 2 run in subprocesses (NetProcessTests): changing it in this process races
        // with the other tests' threads.
        try runEAGAINStorm(clients: 40, messages: 500)
    }

    /// N clients each send M numbered lines through an echo server that reads 7 bytes at a time (so almost
    /// every read ends in EAGAIN) while other clients compete; every byte must come back, in order.
    private func runEAGAINStorm(clients: Int, messages: Int) throws {
        let bytesBack = Atomic<Int>(0), wrong = Atomic<Int>(0)
        var expectedTotal = 0
        for c in 0..<clients { for m in 0..<messages { expectedTotal += "client \(c) message \(m)\n".utf8.count } }
        try Go.runBlocking {
            let listener = try Net.listen("tcp", "127.0.0.1:0")
            go {
                while let conn = try? listener.accept() { go { try echoUntilEOF(conn, chunk: 7) } }
            }
            let wg = WaitGroup()
            for c in 0..<clients {
                wg.go {
                    let conn = try Net.dial("tcp", listener.address.description)
                    var expected: [UInt8] = []
                    let writer = WaitGroup()
                    writer.go {
                        for m in 0..<messages {
                            try conn.write("client \(c) message \(m)\n")
                            if m % 50 == 0 { Go.yield() }
                        }
                        try conn.closeWrite()
                    }
                    for m in 0..<messages { expected += Array("client \(c) message \(m)\n".utf8) }
                    let got = try readToEnd(conn)
                    writer.wait()
                    bytesBack.add(got.count, ordering: .relaxed)
                    if got != expected { wrong.add(1, ordering: .relaxed) }
                    try conn.close()
                }
            }
            wg.wait()
            try listener.close()
        }
        XCTAssertEqual(bytesBack.load(ordering: .relaxed), expectedTotal)
        XCTAssertEqual(wrong.load(ordering: .relaxed), 0)
    }

    // MARK: observability

    func testGoroutinesWaitingOnSocketsShowIOWait() throws {
        try Go.runBlocking {
            let listener = try Net.listen("tcp", "127.0.0.1:0")
            let accepter = GoroutineIDBox()
            go {
                accepter.publish()
                _ = try? listener.accept()
            }
            eventuallyParked(accepter, .ioWait)
            XCTAssertEqual(WaitReason.ioWait.description, "IO wait")
            let dump = RuntimeSnapshot.goroutines(withStacks: false).first { $0.id == accepter.id.load(ordering: .acquiring) }
            XCTAssertEqual(dump?.waitReason.description, "IO wait")
            try listener.close()
        }
    }
}

// MARK: helpers

func readExactly(_ conn: Conn, _ count: Int) throws(NetError) -> [UInt8] {
    var out: [UInt8] = []
    while out.count < count {
        let chunk = try conn.read(upTo: count - out.count)
        if chunk.isEmpty { break }
        out += chunk
    }
    return out
}

func readToEnd(_ conn: Conn) throws(NetError) -> [UInt8] {
    var out: [UInt8] = []
    while true {
        let chunk = try conn.read(upTo: 16 * 1024)
        if chunk.isEmpty { return out }
        out += chunk
    }
}

/// Echoes until the peer closes its writing side, then closes.
func echoUntilEOF(_ conn: Conn, chunk: Int = 16 * 1024) throws {
    while true {
        let bytes = try conn.read(upTo: chunk)
        if bytes.isEmpty { break }
        try conn.write(bytes)
    }
    try conn.close()
}

/// A connected TCP pair on a goroutine; both ends are closed afterwards if the body left them open.
func withConnectedPair(_ body: @escaping @Sendable (Conn, Conn) throws -> Void) throws {
    try Go.runBlocking {
        let listener = try Net.listen("tcp", "127.0.0.1:0")
        let accepted = Channel<Conn>(capacity: 1)
        go { accepted.send(try listener.accept()) }
        let client = try Net.dial("tcp", listener.address.description)
        let server = accepted.receive()!
        try listener.close()
        defer {
            try? client.close()
            try? server.close()
        }
        try body(client, server)
    }
}

func XCTAssertThrowsNetError<T>(_ expression: @autoclosure () throws -> T, _ kind: NetError.Kind, _ message: String?,
                                file: StaticString = #filePath, line: UInt = #line) {
    do {
        _ = try expression()
        XCTFail("expected \(kind), got no error", file: file, line: line)
    } catch let error as NetError {
        XCTAssertEqual(error.kind, kind, file: file, line: line)
        if let message { XCTAssertEqual(error.description, message, file: file, line: line) }
    } catch {
        XCTFail("expected NetError, got \(error)", file: file, line: line)
    }
}

/// Whole-process behaviour of programs that wait on the network.
final class NetProcessTests: XCTestCase {
    func testAListenerOnlyProgramIsNotReportedAsDeadlocked() throws {
        for procs in ["1", "2"] {
            let r = try ScenarioProcess.run("net-listener-only", environment: ["GOMAXPROCS": procs])
            XCTAssertEqual(r.stderr, "", "no deadlock report while goroutines wait in IO wait (GOMAXPROCS=\(procs))")
            XCTAssertEqual(r.stdout, "accepted from 127.0.0.1\n")
            XCTAssertEqual(r.status, 0)
        }
    }

    func testEAGAINStormAtGOMAXPROCS1And2() throws {
        for procs in ["1", "2"] {
            let r = try ScenarioProcess.run("net-eagain-storm", environment: ["GOMAXPROCS": procs])
            XCTAssertEqual(r.stderr, "", "GOMAXPROCS=\(procs)")
            XCTAssertEqual(r.stdout, "clients=30 messages=400 bytes=\(eagainStormBytes(clients: 30, messages: 400)) wrong=0\n",
                           "GOMAXPROCS=\(procs)")
            XCTAssertEqual(r.status, 0)
        }
    }

    func testTimersAndSocketWaitersWakeEachOtherAtGOMAXPROCS1() throws {
        let r = try ScenarioProcess.run("net-timers-and-sockets", environment: ["GOMAXPROCS": "1"])
        XCTAssertEqual(r.stderr, "")
        XCTAssertEqual(r.stdout, "slept 5 times\ntimer fired\nreader got io\n")
        XCTAssertEqual(r.status, 0)
    }

    private func eagainStormBytes(clients: Int, messages: Int) -> Int {
        var total = 0
        for c in 0..<clients { for m in 0..<messages { total += "client \(c) message \(m)\n".utf8.count } }
        return total
    }

    func testScheddetailShowsGoroutinesInIOWait() throws {
        let r = try ScenarioProcess.run("net-schedtrace", environment: ["GODEBUG": "schedtrace=100,scheddetail=1", "GOMAXPROCS": "2"])
        XCTAssertEqual(r.status, 0)
        let gLines = r.stderr.split(separator: "\n").filter { $0.hasPrefix("  G") }.map(String.init)
        let ioWait = gLines.filter { $0.contains("(IO wait)") }
        XCTAssertFalse(ioWait.isEmpty, r.stderr)
        for line in ioWait { XCTAssertMatches(line, #"  G\d+: status=4\(IO wait\) m=nil lockedm=nil"#) }
    }
}
