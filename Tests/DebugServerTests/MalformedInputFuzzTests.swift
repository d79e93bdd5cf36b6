// Random damage to valid requests (HTTP/1.1 and HTTP/2): the server must answer with a well-formed
// status line or close, never crash or hang, and keep serving everyone else.
import DebugServer
import Foundation
import Glibc
import XCTest

final class MalformedInputFuzzTests: ServerTestCase {
    func testMutatedRequestsNeverBreakTheServer() throws {
        try startServer { $0.readHeaderTimeout = .milliseconds(300); $0.maxHeaderBytes = 2048 }
        var generator = SplitMix64(seed: 0x5eed)
        let seeds = [
            "GET /debug/pprof/heap?debug=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            "POST /debug/pprof/symbol HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\nConnection: close\r\n\r\n0x10+0x20",
            "POST /debug/pprof/symbol HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n4\r\n0x10\r\n0\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nConnection: Upgrade, HTTP2-Settings\r\n\r\n",
        ]
        for round in 0..<300 {
            var bytes = Array(seeds[round % seeds.count].utf8)
            for _ in 0..<(1 + Int(generator.next() % 4)) {
                let position = Int(generator.next() % UInt64(bytes.count))
                switch generator.next() % 4 {
                case 0: bytes[position] = UInt8(truncatingIfNeeded: generator.next())
                case 1: bytes.remove(at: position)
                case 2: bytes.insert(UInt8(truncatingIfNeeded: generator.next()), at: position)
                default: bytes.insert(contentsOf: [UInt8](repeating: bytes[position], count: Int(generator.next() % 3000)), at: position)
                }
            }
            let connection = try RawConnection(port: port, receiveTimeout: 3)
            connection.send(bytes)
            shutdown(connection.fd, Int32(SHUT_WR))
            let (reply, closed) = connection.readToEnd()
            XCTAssertTrue(closed, "round \(round): connection left open")
            if !reply.isEmpty {
                let text = String(decoding: reply.prefix(12), as: UTF8.self)
                XCTAssertTrue(text.hasPrefix("HTTP/1.1 "), "round \(round): odd reply \(text)")
            }
        }
        XCTAssertEqual(try get("/debug/pprof/heap").status, 200)
    }

    func testGarbageAfterH2PrefaceClosesTheConnection() throws {
        try startServer()
        let connection = try RawConnection(port: port, receiveTimeout: 3)
        connection.send(Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + [0, 0, 4, 0xff, 0, 0, 0, 0, 1] + Array("junkjunkjunk".utf8))
        connection.send([0, 0, 0, 4, 0, 0, 0, 0, 1])  // SETTINGS on a stream: connection error
        XCTAssertTrue(connection.readToEnd().closed)
        XCTAssertEqual(try get("/debug/pprof/heap").status, 200)
    }
}

/// Deterministic pseudo-random numbers, so a failing round can be replayed.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The fuzz corpus (Tests/Fuzz/corpus, with the crashers found so far) replayed through the same entry
/// points scripts/fuzz.sh fuzzes, so a fixed crash stays fixed in every test run.
final class FuzzCorpusReplayTests: XCTestCase {
    func testEverySavedInputOfEveryTargetIsHandled() throws {
        let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fuzz/corpus")
        var replayed: [String: Int] = [:]
        for (name, target) in DebugServerFuzzing.targets {
            let directory = corpus.appendingPathComponent(name)
            for file in try FileManager.default.contentsOfDirectory(atPath: directory.path) {
                let bytes = try [UInt8](Data(contentsOf: directory.appendingPathComponent(file)))
                bytes.withUnsafeBytes { target($0) }
                replayed[name, default: 0] += 1
            }
        }
        XCTAssertEqual(Set(replayed.keys), ["http1", "chunked", "connection", "query"])
        XCTAssertTrue(replayed.values.allSatisfy { $0 >= 4 }, "\(replayed)")
    }
}
