// The same handlers and bodies over h2c, checked with real clients: curl (prior knowledge and
// Upgrade: h2c) and nghttp, plus raw frames for RST_STREAM cancellation.
import DebugServer
import Foundation
import Glibc
import XCTest

final class HTTP2ClientTests: ServerTestCase {
    private let curl = "/usr/bin/curl"
    private let nghttp = "/usr/bin/nghttp"

    private func curlBody(_ path: String, _ extra: [String]) throws -> [UInt8] {
        let result = try runTool(curl, ["-s", "-f", "--max-time", "10"] + extra + [url(path)])
        XCTAssertEqual(result.status, 0, "curl \(extra) \(path) failed: \(result.stderr)")
        return result.stdout
    }

    func testCurlGetsSameBodiesOverHTTP1AndBothH2cModes() throws {
        try startServer()
        for path in ["/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/pprof/heap", "/debug/pprof/big",
                     "/debug/pprof/cmdline", "/debug/pprof/symbol?0x10+0x20"] {
            let http1 = try curlBody(path, ["--http1.1"])
            XCTAssertFalse(http1.isEmpty)
            XCTAssertTrue(try curlBody(path, ["--http2-prior-knowledge"]) == http1, "prior knowledge body differs: \(path)")
            XCTAssertTrue(try curlBody(path, ["--http2"]) == http1, "upgraded body differs: \(path)")
        }
        XCTAssertTrue(try curlBody("/debug/pprof/big", ["--http2-prior-knowledge"]) == FakePprofProvider.bigBody)
    }

    func testCurlSeesHTTP2Headers() throws {
        try startServer()
        let prior = try runTool(curl, ["-s", "-D", "-", "-o", "/dev/null", "--http2-prior-knowledge", url("/debug/pprof/heap")])
        let head = String(decoding: prior.stdout, as: UTF8.self)
        XCTAssertTrue(head.hasPrefix("HTTP/2 200"), head)
        XCTAssertTrue(head.contains("content-type: application/octet-stream"), head)
        XCTAssertTrue(head.contains("content-disposition: attachment; filename=\"heap\""), head)
        XCTAssertTrue(head.contains("x-content-type-options: nosniff"), head)

        let upgraded = try runTool(curl, ["-s", "-D", "-", "-o", "/dev/null", "--http2", url("/debug/pprof/nope")])
        let upgradedHead = String(decoding: upgraded.stdout, as: UTF8.self)
        XCTAssertTrue(upgradedHead.hasPrefix("HTTP/1.1 101 Switching Protocols"), upgradedHead)
        XCTAssertTrue(upgradedHead.contains("HTTP/2 404"), upgradedHead)
        XCTAssertTrue(upgradedHead.contains("x-go-pprof: 1"), upgradedHead)
    }

    func testCurlPostsSymbolsOverH2() throws {
        try startServer()
        let result = try runTool(curl, ["-s", "--http2-prior-knowledge", "--data-binary", "0x10+0x20", url("/debug/pprof/symbol")])
        XCTAssertEqual(String(decoding: result.stdout, as: UTF8.self), "num_symbols: 1\n0x10 main.function_10\n0x20 main.function_20\n")
    }

    func testNghttpGetsSameBodiesAndSeesStreamLimit() throws {
        try startServer()
        let body = try runTool(nghttp, [url("/debug/pprof/goroutine?debug=1")])
        XCTAssertEqual(body.status, 0, body.stderr)
        XCTAssertEqual(body.stdout, FakePprofProvider.body("goroutine", debug: 1))
        let big = try runTool(nghttp, [url("/debug/pprof/big")])
        XCTAssertTrue(big.stdout == FakePprofProvider.bigBody, "nghttp got \(big.stdout.count) bytes")

        let verbose = try runTool(nghttp, ["-v", "-n", url("/debug/pprof/")])
        let log = String(decoding: verbose.stdout, as: UTF8.self)
        XCTAssertTrue(log.contains("[SETTINGS_MAX_CONCURRENT_STREAMS(0x03):100]"), log)
        // Several streams on one connection at once.
        let many = try runTool(nghttp, ["-n", "-s", url("/debug/pprof/heap"), url("/debug/pprof/allocs"),
                                        url("/debug/pprof/goroutine"), url("/debug/pprof/")])
        XCTAssertEqual(many.status, 0, many.stderr)
    }

    func testOversizedH2HeadersGet431() throws {
        try startServer { $0.maxHeaderBytes = 2048 }
        let result = try runTool(curl, ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--http2-prior-knowledge",
                                        "-H", "X-Big: " + String(repeating: "b", count: 3000), url("/debug/pprof/heap")])
        XCTAssertEqual(String(decoding: result.stdout, as: UTF8.self), "431")
    }

    func testStreamResetCancelsTheHandler() throws {
        try startServer()
        let connection = try RawConnection(port: port)
        connection.send(Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8))
        connection.send(H2Frame.settings())
        connection.send(H2Frame.headers(streamID: 1, path: "/debug/pprof/slow"))
        try waitUntil { self.provider.slowStarted.load(ordering: .relaxed) == 1 }
        connection.send(H2Frame.rstStream(streamID: 1, errorCode: 8))  // CANCEL
        try waitUntil { self.provider.slowCancelled.load(ordering: .relaxed) == 1 }
        // The connection stays usable for other streams.
        connection.send(H2Frame.headers(streamID: 3, path: "/debug/pprof/heap"))
        let frames = H2Frame.readFrames(connection, until: { $0.type == 0 && $0.streamID == 3 && $0.flags & 1 != 0 })
        XCTAssertTrue(frames.contains { $0.type == 1 && $0.streamID == 3 }, "no HEADERS for stream 3")
        XCTAssertFalse(frames.contains { $0.streamID == 1 && ($0.type == 0 || $0.type == 1) }, "answered a reset stream")
    }

    func testClosingH2ConnectionCancelsItsHandlers() throws {
        try startServer()
        do {
            let connection = try RawConnection(port: port)
            connection.send(Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8))
            connection.send(H2Frame.settings())
            connection.send(H2Frame.headers(streamID: 1, path: "/debug/pprof/slow"))
            try waitUntil { self.provider.slowStarted.load(ordering: .relaxed) == 1 }
        }
        try waitUntil { self.provider.slowCancelled.load(ordering: .relaxed) == 1 }
    }

    func testStreamsBeyondTheCapAreRefused() throws {
        try startServer { $0.maxConcurrentStreams = 2 }
        let connection = try RawConnection(port: port)
        connection.send(Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8))
        connection.send(H2Frame.settings())
        // Three slow requests before acknowledging our SETTINGS: the third is refused by us.
        for stream: UInt32 in [1, 3, 5] { connection.send(H2Frame.headers(streamID: stream, path: "/debug/pprof/slow")) }
        let frames = H2Frame.readFrames(connection, until: { $0.type == 3 })
        let reset = try XCTUnwrap(frames.first { $0.type == 3 })
        XCTAssertEqual(reset.streamID, 5)
        XCTAssertEqual(reset.payload, [0, 0, 0, 7])  // REFUSED_STREAM
        try waitUntil { self.provider.slowStarted.load(ordering: .relaxed) == 2 }
    }

    func testPeerThatNeverOpensItsWindowIsDropped() throws {
        try startServer { $0.writeTimeout = .seconds(1) }
        let connection = try RawConnection(port: port, receiveTimeout: 5)
        connection.send(Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8))
        // SETTINGS_INITIAL_WINDOW_SIZE = 0: no DATA may be sent to us.
        connection.send(H2Frame.frame(type: 4, flags: 0, streamID: 0, payload: [0, 4, 0, 0, 0, 0]))
        connection.send(H2Frame.headers(streamID: 1, path: "/debug/pprof/big"))
        let started = Date()
        let frames = H2Frame.readFrames(connection, until: { _ in false })
        XCTAssertTrue(frames.contains { $0.type == 1 && $0.streamID == 1 }, "response HEADERS were not sent")
        XCTAssertFalse(frames.contains { $0.type == 0 && !$0.payload.isEmpty }, "DATA sent into a zero window")
        XCTAssertLessThan(Date().timeIntervalSince(started), 4.5, "connection was not dropped")
    }

    func testRapidResetFloodEndsInGoAwayAndLeavesNoWork() throws {
        try startServer()
        let connection = try RawConnection(port: port, receiveTimeout: 5)
        var flood = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + H2Frame.settings()
        for index in 0..<3000 {
            let stream = UInt32(2 * index + 1)
            flood += H2Frame.headers(streamID: stream, path: "/debug/pprof/slow") + H2Frame.rstStream(streamID: stream, errorCode: 8)
        }
        connection.send(flood)
        let frames = H2Frame.readFrames(connection, until: { $0.type == 7 })
        let goAway = try XCTUnwrap(frames.last { $0.type == 7 }, "no GOAWAY after 3000 resets")
        // nghttp2's reset rate limiter (CVE-2023-44487 fix: burst 1000) ends the connection with
        // INTERNAL_ERROR once the burst is spent, not after the first few streams.
        let lastStream = goAway.payload[0..<4].reduce(0) { $0 << 8 | Int($1) } & 0x7fff_ffff
        XCTAssertEqual(Array(goAway.payload[4..<8]), [0, 0, 0, 2])
        XCTAssertGreaterThan(lastStream, 2 * 900)
        XCTAssertLessThan(lastStream, 2 * 3000)
        // Every handler that started was cancelled.
        try waitUntil { self.provider.slowCancelled.load(ordering: .relaxed) == self.provider.slowStarted.load(ordering: .relaxed) }
        XCTAssertEqual(try get("/debug/pprof/heap").status, 200)
    }

    func waitUntil(timeout: Double = 5, _ condition: () -> Bool) throws {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while !condition() {
            if Date() > deadline { XCTFail("condition not met within \(timeout)s"); return }
            Thread.sleep(forTimeInterval: 0.01)
        }
    }
}

/// Hand-built HTTP/2 frames: enough to open, reset and read streams without an HTTP/2 library.
enum H2Frame {
    struct Frame {
        var type: UInt8
        var flags: UInt8
        var streamID: UInt32
        var payload: [UInt8]
    }

    static func frame(type: UInt8, flags: UInt8, streamID: UInt32, payload: [UInt8]) -> [UInt8] {
        let length = payload.count
        return [UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff), type, flags,
                UInt8(streamID >> 24 & 0x7f), UInt8(streamID >> 16 & 0xff), UInt8(streamID >> 8 & 0xff),
                UInt8(streamID & 0xff)] + payload
    }

    static func settings() -> [UInt8] { frame(type: 4, flags: 0, streamID: 0, payload: []) }

    /// GET with HPACK literals without indexing (no Huffman), END_STREAM | END_HEADERS.
    static func headers(streamID: UInt32, path: String) -> [UInt8] {
        func literal(nameIndex: UInt8, _ value: String) -> [UInt8] {
            [nameIndex, UInt8(value.utf8.count)] + Array(value.utf8)
        }
        let block: [UInt8] = [0x82, 0x86] + literal(nameIndex: 0x04, path) + literal(nameIndex: 0x01, "localhost")
        return frame(type: 1, flags: 0x05, streamID: streamID, payload: block)
    }

    static func rstStream(streamID: UInt32, errorCode: UInt32) -> [UInt8] {
        frame(type: 3, flags: 0, streamID: streamID,
              payload: [UInt8(errorCode >> 24), UInt8(errorCode >> 16 & 0xff), UInt8(errorCode >> 8 & 0xff), UInt8(errorCode & 0xff)])
    }

    /// Reads frames until `stop` matches one (or the connection ends / times out).
    static func readFrames(_ connection: RawConnection, until stop: (Frame) -> Bool) -> [Frame] {
        var frames: [Frame] = []
        func readExactly(_ count: Int) -> [UInt8]? {
            var bytes = [UInt8](repeating: 0, count: count)
            var offset = 0
            while offset < count {
                let got = bytes.withUnsafeMutableBytes { recv(connection.fd, $0.baseAddress! + offset, count - offset, 0) }
                if got <= 0 { return nil }
                offset += got
            }
            return bytes
        }
        while let header = readExactly(9) {
            let length = Int(header[0]) << 16 | Int(header[1]) << 8 | Int(header[2])
            guard let payload = length == 0 ? [] : readExactly(length) else { break }
            let streamID = UInt32(header[5] & 0x7f) << 24 | UInt32(header[6]) << 16 | UInt32(header[7]) << 8 | UInt32(header[8])
            let frame = Frame(type: header[3], flags: header[4], streamID: streamID, payload: payload)
            frames.append(frame)
            if stop(frame) { break }
        }
        return frames
    }
}
