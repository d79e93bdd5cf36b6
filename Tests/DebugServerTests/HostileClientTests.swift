// Regression tests for the hostile-client battery of issue 11 (numbers as measured there): slowloris
// lock-out, HTTP/2 streams over the cap, zero-window holders, and authentication before any body.
import DebugServer
import Foundation
import Glibc
import Synchronization
import XCTest

final class HostileClientTests: ServerTestCase {
    /// Issue 11, failure 2: 64 partial-header connections filled the old cap of 64, and a client that
    /// kept reconnecting made every normal probe fail (503) for 25 s.
    func testSlowlorisAtTheOldCapOf64DoesNotLockOthersOut() throws {
        try startServer { $0.maxConnections = 64; $0.readHeaderTimeout = .seconds(10) }
        let attack = SlowlorisAttack(port: port, sockets: 64)
        attack.start()
        defer { attack.stop() }
        try attack.waitUntilConnected()
        var statuses: [Int] = []
        for _ in 0..<20 {
            statuses.append(try get("/debug/pprof/heap").status)
            usleep(50_000)
        }
        XCTAssertEqual(statuses, Array(repeating: 200, count: 20))
        XCTAssertGreaterThan(attack.reconnects, 0, "the attack never had a socket closed, so nothing was tested")
    }

    /// A normal client is served while 1 000 slowloris sockets keep reconnecting, with the default
    /// limits (their cap per client is exceeded, so the server must evict, not refuse).
    func testNormalRequestsSucceedWhile1000SlowlorisSocketsReconnect() throws {
        try startServer { $0.readHeaderTimeout = .seconds(10) }
        let attack = SlowlorisAttack(port: port, sockets: 1000)
        attack.start()
        defer { attack.stop() }
        try attack.waitUntilConnected()
        var statuses: [Int] = []
        for _ in 0..<20 {
            statuses.append(try get("/debug/pprof/goroutine?debug=1").status)
            usleep(50_000)
        }
        XCTAssertEqual(statuses, Array(repeating: 200, count: 20))
        XCTAssertGreaterThan(attack.reconnects, 0, "no slowloris socket was ever evicted")
    }

    /// Idle HTTP/2 connections (no stream open) give way too, with a GOAWAY.
    func testIdleHTTP2ConnectionsAreEvictedAtTheCap() throws {
        try startServer { $0.maxConnections = 2 }
        var idle: [RawConnection] = []
        for _ in 0..<2 {
            let connection = try RawConnection(port: port, receiveTimeout: 3)
            connection.send(Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + H2Frame.settings())
            _ = H2Frame.readFrames(connection, until: { $0.type == 4 })
            idle.append(connection)
        }
        XCTAssertEqual(try get("/debug/pprof/heap").status, 200)
        let goAways = idle.filter { H2Frame.readFrames($0, until: { $0.type == 7 }).contains { $0.type == 7 } }
        XCTAssertEqual(goAways.count, 1, "exactly the longest-idle HTTP/2 connection should have been sent away")
    }

    func testUnauthenticatedBodyIsRefusedBeforeItIsRead() throws {
        try startServer { $0.bearerToken = "sekret"; $0.readHeaderTimeout = .seconds(10) }
        // Announces 1000 bytes and sends none: the 401 must come at once, not after the body timeout.
        let connection = try RawConnection(port: port, receiveTimeout: 3)
        connection.send("POST /debug/pprof/symbol HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        let (bytes, closed) = connection.readToEnd()
        let response = try XCTUnwrap(ParsedResponse(bytes), String(decoding: bytes, as: UTF8.self))
        XCTAssertEqual(response.status, 401)
        XCTAssertEqual(response.text, "missing or wrong bearer token\n")
        XCTAssertTrue(closed)
        // Issue 11, failure 1 as an unauthenticated client sends it: refused before the chunk sizes are read.
        let chunked = try RawConnection(port: port, receiveTimeout: 3)
        chunked.send("POST /debug/pprof/symbol HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n7fffffffffffffff\r\n")
        XCTAssertEqual(ParsedResponse(chunked.readToEnd().bytes)?.status, 401)
        // With the token, the body is read and answered.
        let symbols = try get("/debug/pprof/symbol", method: "POST", headers: ["Authorization: Bearer sekret"], body: "0x1234")
        XCTAssertEqual(symbols.text, "num_symbols: 1\n0x1234 main.function_1234\n")
    }

    /// Issue 11, failure 4: the 101st concurrent stream ended the whole connection (GOAWAY
    /// PROTOCOL_ERROR) once our SETTINGS were acknowledged. Now 150 streams at once: 100 answered,
    /// 50 refused one by one, no GOAWAY.
    func testOneHundredFiftyStreamsAfterSettingsAckGetOneHundredAnswersAndFiftyRefusals() throws {
        try startServer()
        let connection = try RawConnection(port: port, receiveTimeout: 10)
        var opening = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + H2Frame.settings()
        opening += H2Frame.frame(type: 4, flags: 1, streamID: 0, payload: [])  // ACK of the server's SETTINGS
        connection.send(opening)
        // Wait for the server's SETTINGS (so our ACK has certainly applied them), then open 150 streams.
        let settings = H2Frame.readFrames(connection, until: { $0.type == 4 && $0.flags & 1 == 0 })
        let advertised = try XCTUnwrap(settings.last { $0.type == 4 })
        XCTAssertTrue(stride(from: 0, to: advertised.payload.count, by: 6).contains {
            Array(advertised.payload[$0..<$0 + 6]) == [0, 3, 0, 0, 0, 100]
        }, "SETTINGS_MAX_CONCURRENT_STREAMS=100 not advertised: \(advertised.payload)")
        var requests: [UInt8] = []
        for index in 0..<150 { requests += H2Frame.headers(streamID: UInt32(2 * index + 1), path: "/debug/pprof/slow") }
        connection.send(requests)
        // 100 are taken: 2 run (the `slow` lane's limit), 32 wait in line, the rest get 429 at once,
        // and all are answered once the slow ones are released. The other 50 are refused.
        var refused = Set<UInt32>()
        var answered = Set<UInt32>()
        var frames: [H2Frame.Frame] = []
        func collect(until done: @escaping () -> Bool) {
            frames += H2Frame.readFrames(connection) { frame in
                if frame.type == 3 && frame.payload == [0, 0, 0, 7] { refused.insert(frame.streamID) }
                if frame.type == 0 && frame.flags & 1 != 0 { answered.insert(frame.streamID) }
                return done() || frame.type == 7
            }
        }
        collect { refused.count == 50 }
        try waitUntil { self.provider.slowStarted.load(ordering: .relaxed) == 2 }
        provider.holdSlow.store(false, ordering: .releasing)
        if answered.count < 100 { collect { answered.count == 100 } }
        XCTAssertFalse(frames.contains { $0.type == 7 }, "GOAWAY: the connection was ended")
        XCTAssertEqual(refused, Set((100..<150).map { UInt32(2 * $0 + 1) }))
        XCTAssertEqual(answered, Set((0..<100).map { UInt32(2 * $0 + 1) }))
        XCTAssertEqual(frames.filter { $0.type == 1 }.count, 100, "response HEADERS")
    }

    /// Issue 11, failure 3 (HTTP/2 part): a zero-window connection held its answers for 31 s. With the
    /// default write timeout, a stream whose window stays shut is reset within seconds.
    func testZeroWindowStreamIsResetWithinSecondsWithDefaultTimeouts() throws {
        try startServer()
        let connection = try RawConnection(port: port, receiveTimeout: 12)
        connection.send(Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8))
        connection.send(H2Frame.frame(type: 4, flags: 0, streamID: 0, payload: [0, 4, 0, 0, 0, 0]))  // window 0
        connection.send(H2Frame.headers(streamID: 1, path: "/debug/pprof/huge"))
        let started = Date()
        let frames = H2Frame.readFrames(connection, until: { $0.type == 3 && $0.streamID == 1 })
        let reset = try XCTUnwrap(frames.first { $0.type == 3 && $0.streamID == 1 }, "the stream was never reset")
        XCTAssertEqual(reset.payload, [0, 0, 0, 8])  // CANCEL
        XCTAssertLessThan(Date().timeIntervalSince(started), 11, "held longer than the 5 s window stall limit allows")
        // The connection itself stays usable.
        connection.send(H2Frame.frame(type: 4, flags: 0, streamID: 0, payload: [0, 4, 0, 1, 0, 0]))
        connection.send(H2Frame.headers(streamID: 3, path: "/debug/pprof/heap"))
        let more = H2Frame.readFrames(connection, until: { $0.type == 0 && $0.streamID == 3 && $0.flags & 1 != 0 })
        XCTAssertTrue(more.contains { $0.type == 1 && $0.streamID == 3 })
    }

    /// A client that never returns connection-level window (no WINDOW_UPDATE at all) after taking
    /// the first 64 KiB of a large answer: the whole connection is dropped within seconds.
    func testConnectionWhoseWindowStaysShutIsDroppedWithinSeconds() throws {
        try startServer()
        let connection = try RawConnection(port: port, receiveTimeout: 12)
        connection.send(Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + H2Frame.settings())
        connection.send(H2Frame.headers(streamID: 1, path: "/debug/pprof/huge"))
        let started = Date()
        let frames = H2Frame.readFrames(connection, until: { _ in false })  // until the server closes
        let received = frames.filter { $0.type == 0 }.reduce(0) { $0 + $1.payload.count }
        XCTAssertEqual(received, 65_535, "DATA beyond the initial window, or none")
        XCTAssertLessThan(Date().timeIntervalSince(started), 11, "the connection was held past the stall limit")
    }

    func waitUntil(timeout: Double = 5, _ condition: () -> Bool) throws {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while !condition() {
            if Date() > deadline { XCTFail("condition not met within \(timeout)s"); return }
            Thread.sleep(forTimeInterval: 0.01)
        }
    }
}

/// `sockets` connections that each send part of a request head and never finish it; every one the
/// server closes is reopened at once (at most 2 000 reconnects a second), for as long as it runs.
final class SlowlorisAttack: @unchecked Sendable {
    let port: Int
    let sockets: Int
    private let running = Atomic<Bool>(false)
    private let connectedOnce = Atomic<Bool>(false)
    private let reconnectCount = Atomic<Int>(0)
    private var thread: Thread?
    private let done = DispatchSemaphore(value: 0)

    init(port: Int, sockets: Int) {
        self.port = port
        self.sockets = sockets
    }

    var reconnects: Int { reconnectCount.load(ordering: .relaxed) }

    func start() {
        running.store(true, ordering: .releasing)
        let thread = Thread { [self] in
            run()
            done.signal()
        }
        self.thread = thread
        thread.start()
    }

    func stop() {
        guard running.exchange(false, ordering: .acquiringAndReleasing) else { return }
        done.wait()
    }

    func waitUntilConnected() throws {
        let deadline = Date(timeIntervalSinceNow: 20)
        while !connectedOnce.load(ordering: .acquiring) {
            if Date() > deadline { throw XCTSkip("could not open \(sockets) sockets") }
            usleep(10_000)
        }
    }

    private func open() -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        return fd
    }

    private func run() {
        let partialHead = Array("GET /debug/pprof/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ".utf8)
        var fds = (0..<sockets).map { _ in open() }
        var headSent = [Bool](repeating: false, count: sockets)
        var pollSet = [pollfd](repeating: pollfd(), count: sockets)
        var partialHeadsSent = 0
        while running.load(ordering: .acquiring) {
            for index in 0..<sockets {
                pollSet[index] = pollfd(fd: fds[index], events: Int16(headSent[index] ? POLLIN : POLLIN | POLLOUT), revents: 0)
            }
            _ = poll(&pollSet, nfds_t(sockets), 50)
            var reopenedThisRound = 0
            for index in 0..<sockets {
                let events = Int32(pollSet[index].revents)
                var dead = events & Int32(POLLHUP | POLLERR) != 0
                if !dead && events & Int32(POLLIN) != 0 {
                    var scratch = [UInt8](repeating: 0, count: 512)
                    dead = recv(fds[index], &scratch, scratch.count, 0) <= 0
                }
                if dead {
                    guard reopenedThisRound < 20 else { continue }  // ~2 000 a second at most
                    close(fds[index])
                    fds[index] = open()
                    headSent[index] = false
                    reopenedThisRound += 1
                    reconnectCount.add(1, ordering: .relaxed)
                } else if !headSent[index] && events & Int32(POLLOUT) != 0 {
                    headSent[index] = partialHead.withUnsafeBytes {
                        send(fds[index], $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) == $0.count
                    }
                    if headSent[index] { partialHeadsSent += 1 }
                }
            }
            if partialHeadsSent >= sockets { connectedOnce.store(true, ordering: .releasing) }
            usleep(10_000)
        }
        for fd in fds { close(fd) }
    }
}
