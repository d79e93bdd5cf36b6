// /debug/pprof/profile served by the real provider and the real CPU profiler: Go's one-at-a-time rule,
// hang-ups over HTTP/1.1 and HTTP/2 that free the profiler, and `go tool pprof` fetching it.
import DebugServer
import Foundation
import Glibc
import Profiling
import Synchronization
import XCTest

nonisolated(unsafe) var cpuRouteTestSink: UInt64 = 0

/// Burns CPU until `stop` is set, in a function `go tool pprof` can name.
@inline(never) func cpuRouteTestSpin(until stop: borrowing Atomic<Bool>) {
    var x: UInt64 = 1
    while !stop.load(ordering: .relaxed) {
        var i = 0
        while i < 10_000 {
            x = x &* 6_364_136_223_846_793_005 &+ 1
            i &+= 1
        }
    }
    cpuRouteTestSink &+= x
}

final class CPUProfilerServingTests: XCTestCase {
    private var server: DebugServer!
    private var port: Int { server.boundTCPPort! }

    override func setUpWithError() throws {
        var configuration = DebugServerConfiguration(address: "127.0.0.1:0")
        configuration.readHeaderTimeout = .seconds(5)
        server = DebugServer(configuration: configuration, provider: RuntimePprofProvider())
        try server.start()
    }

    override func tearDown() {
        server?.stop()
        server = nil
        super.tearDown()
    }

    private func request(_ target: String) throws -> (response: ParsedResponse, seconds: Double) {
        try Self.request(target, port: port)
    }

    private static func request(_ target: String, port: Int) throws -> (response: ParsedResponse, seconds: Double) {
        let started = Date()
        let connection = try RawConnection(port: port, receiveTimeout: 30)
        connection.send("GET \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        let (bytes, _) = connection.readToEnd()
        let response = try XCTUnwrap(ParsedResponse(bytes), "no response to \(target)")
        return (response, Date().timeIntervalSince(started))
    }

    private func waitUntilProfilerIsFree(timeout: Double = 5) -> Double? {
        let started = Date()
        while CPUProfiler.isRunning {
            if Date().timeIntervalSince(started) > timeout { return nil }
            Thread.sleep(forTimeInterval: 0.002)
        }
        return Date().timeIntervalSince(started)
    }

    func testEightSimultaneousRequestsGetOneProfileAndSevenImmediateErrors() throws {
        let results = Mutex<[(status: Int, body: String, goPprof: String?, seconds: Double, bytes: [UInt8])]>([])
        let port = self.port
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            guard let (response, seconds) = try? Self.request("/debug/pprof/profile?seconds=2", port: port) else { return }
            results.withLock {
                $0.append((response.status, String(decoding: response.body, as: UTF8.self), response.header("X-Go-Pprof"),
                           seconds, response.body))
            }
        }
        let all = results.withLock { $0 }
        XCTAssertEqual(all.count, 8)
        let ok = all.filter { $0.status == 200 }
        let refused = all.filter { $0.status == 500 }
        XCTAssertEqual(ok.count, 1, "\(all.map(\.status))")
        XCTAssertEqual(refused.count, 7, "\(all.map(\.status))")
        for error in refused {
            XCTAssertEqual(error.body, "Could not enable CPU profiling: cpu profiling already in use\n")
            XCTAssertEqual(error.goPprof, "1")
            XCTAssertLessThan(error.seconds, ok[0].seconds, "refused before the profile finished")
        }
        print("cpu-profile-concurrency: slowest refusal \(refused.map(\.seconds).max() ?? 0) s, profile \(ok.first?.seconds ?? 0) s")
        let profile = try Profile(proto: try Gzip.decompress(ok[0].bytes))
        XCTAssertEqual(profile.period, 10_000_000)
        XCTAssertEqual(profile.sampleTypes.map(\.type), ["samples", "cpu"])
        XCTAssertGreaterThan(profile.durationNanos, 1_900_000_000)
    }

    func testHTTP1HangUpStopsTheProfileAndFreesTheProfiler() throws {
        do {
            let connection = try RawConnection(port: port)
            connection.send("GET /debug/pprof/profile?seconds=30 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            Thread.sleep(forTimeInterval: 1)
            XCTAssertTrue(CPUProfiler.isRunning)
        }   // the connection closes here
        let freedAfter = try XCTUnwrap(waitUntilProfilerIsFree(), "the profile kept running after the client left")
        print("cpu-profile-hangup-http1: profiler free \(Int(freedAfter * 1000)) ms after the close")
        XCTAssertEqual(try request("/debug/pprof/profile?seconds=1").response.status, 200)
    }

    func testHTTP2StreamResetStopsTheProfileAndFreesTheProfiler() throws {
        let connection = try RawConnection(port: port, receiveTimeout: 10)
        connection.send(Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8))
        connection.send(H2Frame.settings())
        connection.send(H2Frame.headers(streamID: 1, path: "/debug/pprof/profile?seconds=30"))
        Thread.sleep(forTimeInterval: 1)
        XCTAssertTrue(CPUProfiler.isRunning)
        connection.send(H2Frame.rstStream(streamID: 1, errorCode: 8))   // CANCEL
        let freedAfter = try XCTUnwrap(waitUntilProfilerIsFree(), "the profile kept running after RST_STREAM")
        print("cpu-profile-hangup-h2: profiler free \(Int(freedAfter * 1000)) ms after RST_STREAM")
        // The same connection gets the next profile.
        connection.send(H2Frame.headers(streamID: 3, path: "/debug/pprof/profile?seconds=1"))
        let frames = H2Frame.readFrames(connection, until: { $0.streamID == 3 && $0.flags & 1 != 0 })
        let headers = try XCTUnwrap(frames.first { $0.type == 1 && $0.streamID == 3 })
        XCTAssertEqual(headers.payload.first, 0x88, ":status 200 (HPACK static index 8)")
        XCTAssertTrue(frames.contains { $0.type == 0 && $0.streamID == 3 && !$0.payload.isEmpty })
    }

    func testGoToolPprofFetchesACPUProfileThatNamesTheBusyFunction() throws {
        guard let go = ["/root/.pyenv/shims/go", "/usr/local/go/bin/go", "/usr/bin/go"].first(where: {
            FileManager.default.isExecutableFile(atPath: $0)
        }) else { throw XCTSkip("go is not installed") }
        let stop = Atomic<Bool>(false)
        let spinner = Thread { cpuRouteTestSpin(until: stop) }
        spinner.start()
        defer { stop.store(true, ordering: .relaxed) }

        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("cpu-pprof-\(getpid())").path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: go)
        process.arguments = ["tool", "pprof", "-top", "http://127.0.0.1:\(port)/debug/pprof/profile?seconds=2"]
        process.environment = ProcessInfo.processInfo.environment.merging(["PPROF_TMPDIR": scratch]) { $1 }
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let out = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let err = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, err)
        XCTAssertTrue(out.contains("Type: cpu"), out)
        // The spinner burned about 2 s of CPU: it leads the list.
        let rows = out.split(separator: "\n").drop { !$0.contains("flat%") }.dropFirst()
        XCTAssertTrue(rows.first?.contains("DebugServerTests.cpuRouteTestSpin") ?? false, out)
    }
}
