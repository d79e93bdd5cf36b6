// HTTP/1.1 behaviour on raw sockets: Go's exact refusals for malformed or oversized requests (and
// that the connection closes after them), keep-alive, pipelining, timeouts, the connection cap,
// cancellation when the client leaves, graceful shutdown.
import DebugServer
import Foundation
import Glibc
import XCTest

final class HTTP1ProtocolTests: ServerTestCase {
    func testMalformedRequestsGetGoStatusesAndClose() throws {
        try startServer()
        let badRequest = "HTTP/1.1 400 Bad Request" + errorHeaders + "400 Bad Request"
        try assertRefusal("GET / HTTP/9.9\r\nHost: x\r\n\r\n",
                          "HTTP/1.1 505 HTTP Version Not Supported: unsupported protocol version" + errorHeaders
                          + "505 HTTP Version Not Supported: unsupported protocol version")
        try assertRefusal("GET / HTTP/2.0\r\nHost: x\r\n\r\n",
                          "HTTP/1.1 505 HTTP Version Not Supported: unsupported protocol version" + errorHeaders
                          + "505 HTTP Version Not Supported: unsupported protocol version")
        try assertRefusal("GET /\r\n\r\n", badRequest)
        try assertRefusal("GET / HTTP/1.x\r\nHost: x\r\n\r\n", badRequest)
        try assertRefusal("G(T / HTTP/1.1\r\nHost: x\r\n\r\n", badRequest)
        try assertRefusal("GET /debug pprof/ HTTP/1.1\r\nHost: x\r\n\r\n", badRequest)
        try assertRefusal("GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n", badRequest)
        try assertRefusal("GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n", badRequest)
        try assertRefusal("GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n folded\r\n\r\n", badRequest)
        try assertRefusal("GET / HTTP/1.1\r\n\r\n",
                          "HTTP/1.1 400 Bad Request: missing required Host header" + errorHeaders
                          + "400 Bad Request: missing required Host header")
        try assertRefusal("GET / HTTP/1.1\r\nHost: x\r\nX: a\u{1}b\r\n\r\n",
                          "HTTP/1.1 400 Bad Request: invalid header value" + errorHeaders
                          + "400 Bad Request: invalid header value")
        try assertRefusal("POST /debug/pprof/symbol HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
                          "HTTP/1.1 501 Not Implemented" + errorHeaders + "Unsupported transfer encoding")
        try assertRefusal("POST /debug/pprof/symbol HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
                          badRequest)
        try assertRefusal("POST /debug/pprof/symbol HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
                          badRequest)
        try assertRefusal("POST /debug/pprof/symbol HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", badRequest)
        try assertRefusal("POST /debug/pprof/symbol HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", badRequest)
    }

    func testOversizedHeadGets431AndCloses() throws {
        try startServer { $0.maxHeaderBytes = 4096; $0.maxHeaderCount = 20 }
        let tooLarge = "HTTP/1.1 431 Request Header Fields Too Large" + errorHeaders + "431 Request Header Fields Too Large"
        let bigValue = String(repeating: "a", count: 5000)
        try assertRefusal("GET / HTTP/1.1\r\nHost: x\r\nX-Big: \(bigValue)\r\n\r\n", tooLarge)
        // Without an end of head at all.
        try assertRefusal("GET / HTTP/1.1\r\nHost: x\r\nX-Big: \(bigValue)", tooLarge)
        let manyFields = (0..<21).map { "X-\($0): v\r\n" }.joined()
        try assertRefusal("GET / HTTP/1.1\r\nHost: x\r\n\(manyFields)\r\n", tooLarge)
    }

    func testBodiesOnlyWhereTheRouteTakesOne() throws {
        try startServer { $0.maxBodyBytes = 64 }
        let connection = try RawConnection(port: port)
        connection.send("GET /debug/pprof/heap HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        let (bytes, closed) = connection.readToEnd()
        XCTAssertTrue(String(decoding: bytes, as: UTF8.self).hasPrefix("HTTP/1.1 413 Request Entity Too Large\r\n"))
        XCTAssertTrue(closed)

        let big = try RawConnection(port: port)
        big.send("POST /debug/pprof/symbol HTTP/1.1\r\nHost: x\r\nContent-Length: 65\r\n\r\n" + String(repeating: "1", count: 65))
        XCTAssertTrue(String(decoding: big.readToEnd().bytes, as: UTF8.self).hasPrefix("HTTP/1.1 413 "))

        let chunked = try RawConnection(port: port)
        chunked.send("POST /debug/pprof/symbol HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     + "40\r\n" + String(repeating: "1", count: 64) + "\r\n1\r\n1\r\n0\r\n\r\n")
        XCTAssertTrue(String(decoding: chunked.readToEnd().bytes, as: UTF8.self).hasPrefix("HTTP/1.1 413 "))

        // Issue 11, failure 1: a chunk size near Int.max after one byte of body overflowed
        // `body.count + size` and trapped the whole process. It must be a 413 and the server lives on.
        for size in ["7fffffffffffffff", "7ffffffffffffffe", "ffffffffffffffff"] {
            let hostile = try RawConnection(port: port)
            hostile.send("POST /debug/pprof/symbol HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                         + "1\r\n1\r\n\(size)\r\n")
            let answer = String(decoding: hostile.readToEnd().bytes, as: UTF8.self)
            XCTAssertTrue(answer.hasPrefix("HTTP/1.1 413 ") || answer.hasPrefix("HTTP/1.1 400 "), "\(size): \(answer)")
        }
        XCTAssertEqual(try get("/debug/pprof/cmdline").status, 200)
    }

    func testExpectContinue() throws {
        try startServer()
        let connection = try RawConnection(port: port)
        connection.send("POST /debug/pprof/symbol HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        var interim = [UInt8](repeating: 0, count: 25)
        XCTAssertEqual(recv(connection.fd, &interim, 25, Int32(MSG_WAITALL)), 25)
        XCTAssertEqual(String(decoding: interim, as: UTF8.self), "HTTP/1.1 100 Continue\r\n\r\n")
        connection.send("0x10")
        XCTAssertEqual(connection.readResponse()?.text, "num_symbols: 1\n0x10 main.function_10\n")
    }

    func testKeepAliveAndPipeliningAnswerInOrder() throws {
        try startServer()
        let connection = try RawConnection(port: port)
        // Three requests in one write: a slow-ish one first, to show order is kept.
        connection.send("GET /debug/pprof/big HTTP/1.1\r\nHost: x\r\n\r\n"
                        + "GET /debug/pprof/heap?debug=1 HTTP/1.1\r\nHost: x\r\n\r\n"
                        + "GET /debug/pprof/nope HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertTrue(connection.readResponse()?.body == FakePprofProvider.bigBody)
        XCTAssertEqual(connection.readResponse()?.body, FakePprofProvider.body("heap", debug: 1))
        let third = try XCTUnwrap(connection.readResponse())
        XCTAssertEqual(third.status, 404)
        XCTAssertNil(third.header("Connection"))
        // Still open: 200 more requests on the same connection.
        for _ in 0..<200 {
            connection.send("GET /debug/pprof/goroutine HTTP/1.1\r\nHost: x\r\n\r\n")
            XCTAssertEqual(connection.readResponse()?.status, 200)
        }
        // Connection: close is honoured after the response.
        connection.send("GET /debug/pprof/goroutine HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        let last = try XCTUnwrap(connection.readResponse())
        XCTAssertEqual(last.header("Connection"), "close")
        XCTAssertTrue(connection.readToEnd().closed)
    }

    func testHTTP10ClosesUnlessKeepAlive() throws {
        try startServer()
        let plain = try RawConnection(port: port)
        plain.send("GET /debug/pprof/heap HTTP/1.0\r\n\r\n")
        let (bytes, closed) = plain.readToEnd()
        XCTAssertEqual(ParsedResponse(bytes)?.status, 200)
        XCTAssertTrue(closed)

        let kept = try RawConnection(port: port)
        kept.send("GET /debug/pprof/heap HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        XCTAssertEqual(kept.readResponse()?.header("Connection"), "keep-alive")
        kept.send("GET /debug/pprof/heap HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        XCTAssertEqual(kept.readResponse()?.status, 200)
    }

    func testSlowHeadIsClosedAfterReadHeaderTimeout() throws {
        try startServer { $0.readHeaderTimeout = .seconds(1) }
        let slow = try RawConnection(port: port, receiveTimeout: 6)
        slow.send("GET /debug/pprof/ HTTP/1.1\r\nHost: x\r\n")
        let started = Date()
        // Keep trickling bytes slower than the timeout allows in total.
        for _ in 0..<3 {
            Thread.sleep(forTimeInterval: 0.3)
            slow.send("X-Slow: 1\r\n")
        }
        let (bytes, closed) = slow.readToEnd()
        XCTAssertTrue(closed, "slowloris connection was not closed")
        XCTAssertTrue(bytes.isEmpty, "Go closes slow clients without a reply")
        XCTAssertLessThan(Date().timeIntervalSince(started), 5)
        // Meanwhile and afterwards, normal requests are served.
        XCTAssertEqual(try get("/debug/pprof/heap").status, 200)
    }

    func testIdleKeepAliveConnectionIsClosed() throws {
        try startServer { $0.idleTimeout = .seconds(1) }
        let connection = try RawConnection(port: port, receiveTimeout: 6)
        connection.send("GET /debug/pprof/heap HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(connection.readResponse()?.status, 200)
        XCTAssertTrue(connection.readToEnd().closed)
    }

    func testConnectionCapRefusesOnlyWhenEveryConnectionIsBusy() throws {
        try startServer { $0.maxConnections = 2 }
        // Both connections are busy with a request: nothing can be evicted, the third gets a 503.
        let first = try RawConnection(port: port)
        let second = try RawConnection(port: port)
        first.send("GET /debug/pprof/slow HTTP/1.1\r\nHost: x\r\n\r\n")
        second.send("GET /debug/pprof/slow HTTP/1.1\r\nHost: x\r\n\r\n")
        while provider.slowStarted.load(ordering: .relaxed) < 2 { usleep(5_000) }
        let third = try RawConnection(port: port)
        let (bytes, closed) = third.readToEnd()
        XCTAssertEqual(ParsedResponse(bytes)?.status, 503)
        XCTAssertTrue(closed)
        provider.holdSlow.store(false, ordering: .releasing)
        XCTAssertEqual(first.readResponse()?.status, 200)
        XCTAssertEqual(second.readResponse()?.status, 200)
        // Both now only wait for their next request: a newcomer evicts the one waiting longest.
        XCTAssertEqual(try get("/debug/pprof/heap").status, 200)
        first.setReceiveTimeout(1)
        second.setReceiveTimeout(1)
        XCTAssertEqual([first, second].filter { $0.readToEnd().closed }.count, 1,
                       "not exactly one of the idle connections was closed")
    }

    func testClientLeavingCancelsTheHandler() throws {
        try startServer()
        do {
            let leaving = try RawConnection(port: port)
            leaving.send("GET /debug/pprof/slow HTTP/1.1\r\nHost: x\r\n\r\n")
            try waitUntil { self.provider.slowStarted.load(ordering: .relaxed) == 1 }
        }  // closed here
        try waitUntil { self.provider.slowCancelled.load(ordering: .relaxed) == 1 }
    }

    func testHalfClosedClientStillGetsItsAnswer() throws {
        try startServer()
        // As `printf 'GET …' | nc -N host port` does: send, then shut the write side.
        let connection = try RawConnection(port: port)
        connection.send("GET /debug/pprof/big HTTP/1.1\r\nHost: x\r\n\r\nGET /debug/pprof/heap?debug=1 HTTP/1.0\r\n\r\n")
        shutdown(connection.fd, Int32(SHUT_WR))
        XCTAssertTrue(connection.readResponse()?.body == FakePprofProvider.bigBody)
        XCTAssertEqual(connection.readResponse()?.body, FakePprofProvider.body("heap", debug: 1))
        XCTAssertTrue(connection.readToEnd().closed)

        // A handler that polls its cancellation sees the half-close and stops; its answer still comes.
        let slow = try RawConnection(port: port)
        slow.send("GET /debug/pprof/slow HTTP/1.1\r\nHost: x\r\n\r\n")
        try waitUntil { self.provider.slowStarted.load(ordering: .relaxed) == 1 }
        shutdown(slow.fd, Int32(SHUT_WR))
        let answer = try XCTUnwrap(slow.readResponse())
        XCTAssertEqual(answer.status, 500)
        XCTAssertEqual(answer.text, "context canceled\n")
        XCTAssertEqual(provider.slowCancelled.load(ordering: .relaxed), 1)
    }

    func testGracefulShutdownFinishesInFlightRequest() throws {
        try startServer { $0.shutdownGracePeriod = .seconds(5) }
        let inFlight = try RawConnection(port: port)
        inFlight.send("GET /debug/pprof/slow HTTP/1.1\r\nHost: x\r\n\r\n")
        let idle = try RawConnection(port: port)
        try waitUntil { self.provider.slowStarted.load(ordering: .relaxed) == 1 }
        let boundPort = port
        let stopped = expectation(description: "stop returned")
        let server = self.server!
        Thread { server.stop(); stopped.fulfill() }.start()
        Thread.sleep(forTimeInterval: 0.3)
        // No new connections once stopping.
        XCTAssertThrowsError(try RawConnection(port: boundPort))
        // The idle keep-alive connection is closed at once.
        XCTAssertTrue(idle.readToEnd().closed)
        provider.holdSlow.store(false, ordering: .releasing)
        let response = try XCTUnwrap(inFlight.readResponse())
        XCTAssertEqual(response.text, "slow done\n")
        XCTAssertEqual(response.header("Connection"), "close")
        wait(for: [stopped], timeout: 5)
        XCTAssertEqual(provider.slowCancelled.load(ordering: .relaxed), 0)
    }

    func testShutdownGracePeriodCancelsStuckHandlers() throws {
        try startServer { $0.shutdownGracePeriod = .milliseconds(300) }
        let inFlight = try RawConnection(port: port)
        inFlight.send("GET /debug/pprof/slow HTTP/1.1\r\nHost: x\r\n\r\n")
        try waitUntil { self.provider.slowStarted.load(ordering: .relaxed) == 1 }
        server.stop()
        XCTAssertTrue(inFlight.readToEnd().closed)
        try waitUntil { self.provider.slowCancelled.load(ordering: .relaxed) == 1 }
    }

    func testUnixSocketListener() throws {
        let path = NSTemporaryDirectory() + "debugserver-test-\(getpid()).sock"
        try startServer { $0.address = nil; $0.unixSocketPath = path }
        XCTAssertNil(server.boundTCPPort)
        let result = try runTool("/usr/bin/curl", ["-s", "--unix-socket", path, "http://localhost/debug/pprof/heap?debug=1"])
        XCTAssertEqual(result.stdout, FakePprofProvider.body("heap", debug: 1))
        var info = stat()
        XCTAssertEqual(stat(path, &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o600)
        server.stop()
        XCTAssertFalse(FileManager.default.fileExists(atPath: path), "socket file left behind")
    }

    func waitUntil(timeout: Double = 5, _ condition: () -> Bool) throws {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while !condition() {
            if Date() > deadline { XCTFail("condition not met within \(timeout)s"); return }
            Thread.sleep(forTimeInterval: 0.01)
        }
    }
}

final class WriteTimeoutTests: ServerTestCase {
    func testClientThatStopsReadingIsDropped() throws {
        try startServer { $0.writeTimeout = .seconds(1) }
        let connection = try RawConnection(port: port, receiveTimeout: 8)
        var small: Int32 = 4096
        setsockopt(connection.fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        // 40 pipelined 200 KiB answers (8 MiB) are far more than socket buffers hold.
        connection.send(String(repeating: "GET /debug/pprof/big HTTP/1.1\r\nHost: x\r\n\r\n", count: 40))
        Thread.sleep(forTimeInterval: 3)
        let (bytes, closed) = connection.readToEnd()
        XCTAssertTrue(closed, "server kept a stalled connection")
        XCTAssertLessThan(bytes.count, 40 * FakePprofProvider.bigBody.count)
    }
}
