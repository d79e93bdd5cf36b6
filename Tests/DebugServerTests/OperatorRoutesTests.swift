// The routes beyond net/http/pprof with the real runtime's profiles: godeltaprof endpoints, the
// flame-graph page, the schedtrace stream; and the server's lifetime and `GOROUTINES_DEBUG_ADDR=off`.
import DebugServer
import Foundation
import Goroutines
import Profiling
import XCTest

final class OperatorRoutesTests: XCTestCase {
    private var server: DebugServer?
    private var port: Int { server!.boundTCPPort! }

    private func startRuntimeServer() throws {
        try Go.runBlocking {}  // the runtime runs in a real program; here it starts on first use
        var configuration = DebugServerConfiguration(address: "127.0.0.1:0")
        configuration.shutdownGracePeriod = .seconds(2)
        let server = DebugServer(configuration: configuration, provider: RuntimePprofProvider())
        try server.start()
        self.server = server
    }

    override func tearDown() {
        server?.stop()
        server = nil
        super.tearDown()
    }

    private func get(_ target: String) throws -> ParsedResponse {
        let connection = try RawConnection(port: port, receiveTimeout: 20)
        connection.send("GET \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        let (bytes, _) = connection.readToEnd()
        return try XCTUnwrap(ParsedResponse(bytes), "no response to \(target)")
    }

    // MARK: delta profiles

    func testDeltaHeapSubtractsAllocationsAndKeepsInUseAbsolute() throws {
        try startRuntimeServer()
        let first = try get("/debug/pprof/delta_heap")
        XCTAssertEqual(first.status, 200, first.text)
        XCTAssertEqual(first.header("Content-Type"), "application/octet-stream")
        XCTAssertEqual(first.header("X-Content-Type-Options"), "nosniff")
        XCTAssertEqual(first.header("Content-Disposition"), "attachment; filename=\"heap.pprof.gz\"")
        XCTAssertEqual(Array(first.body.prefix(2)), [0x1f, 0x8b])
        let cumulative = try Profile(proto: first.body)
        XCTAssertEqual(cumulative.sampleTypes.map(\.type), ["alloc_objects", "alloc_space", "inuse_objects", "inuse_space"])

        // 64 MiB in 1 MiB blocks from one marked function, kept alive: the sampler (one sample per 512 KiB
        // on average) sees it. Only the marker's samples are compared: other tests' goroutines allocate too.
        let kept = allocateDeltaHeapMarker(blocks: 64)
        defer { kept.forEach { free($0) } }
        let second = try Profile(proto: get("/debug/pprof/delta_heap").body)
        XCTAssertEqual(second.sampleTypes, cumulative.sampleTypes)
        XCTAssertGreaterThanOrEqual(markerTotal(second, "alloc_space"), 32 << 20, "the 64 MiB allocated since the first call")
        let third = try Profile(proto: get("/debug/pprof/delta_heap").body)
        XCTAssertEqual(markerTotal(third, "alloc_space"), 0, "nothing allocated there since the second call")
        XCTAssertGreaterThanOrEqual(markerTotal(third, "inuse_space"), 32 << 20, "in-use stays absolute: the blocks are live")
    }

    /// The `type` column summed over samples whose stack passes through `allocateDeltaHeapMarker`.
    private func markerTotal(_ profile: Profile, _ type: String) -> Int64 {
        guard let column = profile.sampleTypes.firstIndex(where: { $0.type == type }) else { return -1 }
        let functions = Dictionary(uniqueKeysWithValues: profile.functions.map { ($0.id, $0.name) })
        let marked = Set(profile.locations.filter { location in
            location.lines.contains { functions[$0.functionID]?.contains("allocateDeltaHeapMarker") == true }
        }.map(\.id))
        return profile.samples.filter { $0.locationIDs.contains(where: marked.contains) }.reduce(0) { $0 + $1.values[column] }
    }

    func testDeltaBlockAndMutexHaveTheCumulativeSampleTypes() throws {
        try startRuntimeServer()
        for (endpoint, types) in [("delta_block", ["contentions", "delay"]), ("delta_mutex", ["contentions", "delay"])] {
            let response = try get("/debug/pprof/\(endpoint)")
            XCTAssertEqual(response.status, 200, "\(endpoint): \(response.text)")
            XCTAssertEqual(try Profile(proto: response.body).sampleTypes.map(\.type), types, endpoint)
            XCTAssertEqual(try Profile(proto: get("/debug/pprof/\(endpoint)").body).samples.count, 0,
                           "\(endpoint): nothing blocked between two calls")
        }
        XCTAssertEqual(try get("/debug/pprof/delta_goroutine").status, 404)
    }

    // MARK: flame graph

    func testFlameGraphPageIsSelfContainedAndCarriesTheProfile() throws {
        try startRuntimeServer()
        let parked = Channel<Int>()
        go { _ = parked.receive() }
        defer { parked.close() }
        // The goroutine may not have parked yet on a busy machine: ask until its frames show.
        var response = try get("/debug/flamegraph?profile=goroutine")
        let deadline = Date().addingTimeInterval(10)
        while !response.text.contains("Goroutines.Channel.receive") && Date() < deadline {
            usleep(50_000)
            response = try get("/debug/flamegraph?profile=goroutine")
        }
        XCTAssertEqual(response.status, 200, response.text)
        XCTAssertEqual(response.header("Content-Type"), "text/html; charset=utf-8")
        XCTAssertEqual(response.header("Content-Security-Policy"),
                       "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'")
        let page = response.text
        XCTAssertTrue(page.hasPrefix("<!DOCTYPE html>"))
        for external in ["src=", "http://", "https://", "@import", "url("] {
            XCTAssertFalse(page.contains(external), "the page must not load anything (\(external))")
        }
        let start = try XCTUnwrap(page.range(of: "<script id=\"data\" type=\"application/json\">"))
        let end = try XCTUnwrap(page.range(of: "</script>", range: start.upperBound..<page.endIndex))
        let json = try JSONSerialization.jsonObject(with: Data(page[start.upperBound..<end.lowerBound].utf8)) as? [String: Any]
        let types = try XCTUnwrap(json?["types"] as? [[String]])
        XCTAssertEqual(types, [["goroutine", "count"]])
        XCTAssertTrue(page.contains("Goroutines.Channel.receive"), "the parked goroutine's frames are in the data")

        for name in ["heap", "allocs", "block", "mutex", "threadcreate"] {
            XCTAssertEqual(try get("/debug/flamegraph?profile=\(name)").status, 200, name)
        }
        XCTAssertEqual(try get("/debug/flamegraph?profile=nonesuch").status, 404)
        XCTAssertEqual(try get("/debug/flamegraph?profile=profile&seconds=0").status, 400)
        let cpu = try get("/debug/flamegraph?profile=profile&seconds=1")
        XCTAssertEqual(cpu.status, 200, cpu.text)
        XCTAssertTrue(cpu.text.contains("[[\"samples\",\"count\"],[\"cpu\",\"nanoseconds\"]]"), String(cpu.text.prefix(300)))
    }

    // MARK: schedtrace

    private static let schedLine = try! NSRegularExpression(pattern:
        #"^SCHED [0-9]+ms: gomaxprocs=[0-9]+ idleprocs=[0-9]+ threads=[0-9]+ spinningthreads=[0-9]+ needspinning=0 idlethreads=[0-9]+ runqueue=[0-9]+ \[ ([0-9]+ )+\] schedticks=\[ ([0-9]+ )+\]$"#)

    /// Opens a stream and reads until `lines` complete lines arrived (decoding the chunks).
    private func readSchedTrace(_ target: String, lines wanted: Int) throws -> (head: String, lines: [String], connection: RawConnection) {
        let connection = try RawConnection(port: port, receiveTimeout: 10)
        connection.send("GET \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        var raw: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        var head = "", body = ""
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(connection.fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }
            raw += buffer[0..<count]
            let text = String(decoding: raw, as: UTF8.self)
            guard let split = text.range(of: "\r\n\r\n") else { continue }
            head = String(text[..<split.lowerBound])
            if !head.hasPrefix("HTTP/1.1 200 ") { break }  // a refusal: no stream follows
            body = decodeChunks(String(text[split.upperBound...]))
            if body.split(separator: "\n", omittingEmptySubsequences: true).count >= wanted && body.hasSuffix("\n") { break }
        }
        return (head, body.split(separator: "\n").map(String.init), connection)
    }

    /// The data of complete chunks in `text`.
    private func decodeChunks(_ text: String) -> String {
        var rest = Substring(text), out = ""
        while let lineEnd = rest.range(of: "\r\n"), let size = Int(rest[..<lineEnd.lowerBound], radix: 16) {
            let dataStart = lineEnd.upperBound
            guard rest.utf8.count - rest[..<dataStart].utf8.count >= size + 2 else { break }
            let dataEnd = rest.utf8.index(dataStart, offsetBy: size)
            out += rest[dataStart..<dataEnd]
            rest = rest[rest.utf8.index(dataEnd, offsetBy: 2)...]
        }
        return out
    }

    func testSchedTraceStreamsGoFormatLinesUntilTheClientLeaves() throws {
        try startRuntimeServer()
        let (head, lines, connection) = try readSchedTrace("/debug/schedtrace?interval=20", lines: 3)
        XCTAssertTrue(head.hasPrefix("HTTP/1.1 200 OK\r\n"), head)
        XCTAssertTrue(head.contains("\r\nTransfer-Encoding: chunked"), head)
        XCTAssertTrue(head.contains("\r\nContent-Type: text/plain; charset=utf-8"), head)
        XCTAssertGreaterThanOrEqual(lines.count, 3)
        for line in lines {
            XCTAssertNotNil(Self.schedLine.firstMatch(in: line, range: NSRange(line.startIndex..., in: line)), line)
        }
        _ = connection  // closing it ends the stream

        let detail = try readSchedTrace("/debug/schedtrace?interval=20&detail=1", lines: 4)
        XCTAssertTrue(detail.lines[0].hasPrefix("SCHED "), detail.lines[0])
        XCTAssertTrue(detail.lines[0].contains(" gcwaiting=false nmidlelocked="), detail.lines[0])
        XCTAssertTrue(detail.lines.contains { $0.hasPrefix("  P0: status=") }, "\(detail.lines)")
        XCTAssertTrue(detail.lines.contains { $0.hasPrefix("  M") && $0.contains(" mallocing=0 ") }, "\(detail.lines)")

        XCTAssertEqual(try get("/debug/schedtrace?interval=abc").status, 400)
        XCTAssertEqual(try get("/debug/schedtrace?interval=5").status, 400)
    }

    func testSchedTraceStreamsAreBoundedAndFreedWhenClientsLeave() throws {
        try startRuntimeServer()
        var open: [RawConnection] = []
        for _ in 0..<4 { open.append(try readSchedTrace("/debug/schedtrace?interval=50", lines: 1).connection) }
        XCTAssertEqual(try get("/debug/schedtrace").status, 429, "a fifth stream is refused")
        open.removeAll()  // the clients leave
        let deadline = Date().addingTimeInterval(10)
        var status = 0
        while Date() < deadline {
            status = try readSchedTrace("/debug/schedtrace?interval=50", lines: 1).head.hasPrefix("HTTP/1.1 200") ? 200 : 429
            if status == 200 { break }
            usleep(50_000)
        }
        XCTAssertEqual(status, 200, "slots come back once the clients are gone")
    }

    func testStoppingTheServerEndsOpenStreamsCleanly() throws {
        try startRuntimeServer()
        let stream = try readSchedTrace("/debug/schedtrace?interval=50", lines: 1)
        server!.stop()
        server = nil
        let (rest, closed) = stream.connection.readToEnd()
        XCTAssertTrue(closed, "the server closes the stream's connection when it stops")
        XCTAssertTrue(String(decoding: rest, as: UTF8.self).hasSuffix("0\r\n\r\n"), "the body ends with the last chunk")
    }

    func testHTTP2ClientsGetTheStreamAsDataFrames() throws {
        try startRuntimeServer()
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/curl") else { throw XCTSkip("curl is not installed") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = ["-sN", "--http2-prior-knowledge", "--max-time", "1",
                             "http://127.0.0.1:\(port)/debug/schedtrace?interval=100"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 28, "curl stops at --max-time: the stream does not end by itself")
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n")
        XCTAssertGreaterThanOrEqual(lines.count, 2)
        XCTAssertTrue(lines.allSatisfy { $0.hasPrefix("SCHED ") }, "\(lines)")
        // The reset stream gave its slot back: four HTTP/1.1 streams still fit.
        var streams: [(head: String, lines: [String], connection: RawConnection)] = []
        for attempt in 0..<50 where streams.count < 4 {
            if let stream = try? readSchedTrace("/debug/schedtrace?interval=50", lines: 1),
               stream.head.hasPrefix("HTTP/1.1 200 ") {
                streams.append(stream)
            } else if attempt < 49 {
                Thread.sleep(forTimeInterval: 0.05)  // the slot returns once the producer sees the reset
            }
        }
        XCTAssertEqual(streams.count, 4)
    }

    func testCurlReadsTheChunkedStream() throws {
        try startRuntimeServer()
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/curl") else { throw XCTSkip("curl is not installed") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = ["-sN", "--max-time", "1", "http://127.0.0.1:\(port)/debug/schedtrace?interval=100"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 28, "curl stops at --max-time: the stream does not end by itself")
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n")
        XCTAssertGreaterThanOrEqual(lines.count, 2)
        XCTAssertTrue(lines.allSatisfy { $0.hasPrefix("SCHED ") }, "\(lines)")
    }

    // MARK: lifetime and configuration

    private func startUnreferencedServer() throws -> (port: Int, server: () -> DebugServer?) {
        let server = DebugServer(configuration: DebugServerConfiguration(address: "127.0.0.1:0"), provider: RuntimePprofProvider())
        try server.start()
        weak let weakServer = server
        return (server.boundTCPPort!, { weakServer })
    }

    func testAStartedServerKeepsItselfAliveUntilStopped() throws {
        let (port, handle) = try startUnreferencedServer()
        let connection = try RawConnection(port: port)
        connection.send("GET /debug/pprof/cmdline HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        XCTAssertEqual(ParsedResponse(connection.readToEnd().bytes)?.status, 200, "the one-liner keeps serving")
        let server = try XCTUnwrap(handle(), "nobody holds the server but itself while it runs")
        server.stop()
        XCTAssertFalse(server.isRunning)
        XCTAssertThrowsError(try RawConnection(port: port), "stopped means the port is closed")
    }

    func testAddressOffMeansDoNotServe() throws {
        let configuration = try DebugServerConfiguration(environment: ["GOROUTINES_DEBUG_ADDR": "off"])
        let server = DebugServer(configuration: configuration, provider: RuntimePprofProvider())
        XCTAssertNoThrow(try server.start())
        XCTAssertFalse(server.isRunning)
        XCTAssertNil(server.boundTCPPort)
        server.stop()
    }
}

/// Allocates `blocks` MiB-sized blocks, touched so they are real; a distinct frame for the delta test.
@inline(never)
func allocateDeltaHeapMarker(blocks: Int) -> [UnsafeMutableRawPointer] {
    (0..<blocks).map { _ in
        let block = malloc(1 << 20)!
        memset(block, 1, 1 << 20)
        return block
    }
}
