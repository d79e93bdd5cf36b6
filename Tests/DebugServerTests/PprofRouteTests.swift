// Every /debug/pprof route against Go 1.27's observable behaviour (go-pprof-compat.md §3 and the
// captures in go-captures/go1.27): statuses, headers, bodies, error messages.
import DebugServer
import Foundation
import XCTest

final class PprofRouteTests: ServerTestCase {
    /// Go 1.27's captured index page (go-captures/go1.27/index.txt) without the `profile` and
    /// `trace` rows, which we do not offer until a CPU profiler / tracer exists, and with our own
    /// routes listed after Go's descriptions.
    static let expectedIndex = """
        <html>
        <head>
        <title>/debug/pprof/</title>
        <style>
        .profile-name{
        \tdisplay:inline-block;
        \twidth:6rem;
        }
        </style>
        </head>
        <body>
        /debug/pprof/
        <br>
        <p>Set debug=1 as a query parameter to export in legacy text format</p>
        <br>
        Types of profiles available:
        <table>
        <thead><td>Count</td><td>Profile</td></thead>
        <tr><td>2</td><td><a href='allocs?debug=1'>allocs</a></td></tr>
        <tr><td>3</td><td><a href='block?debug=1'>block</a></td></tr>
        <tr><td>0</td><td><a href='cmdline?debug=1'>cmdline</a></td></tr>
        <tr><td>11</td><td><a href='goroutine?debug=1'>goroutine</a></td></tr>
        <tr><td>0</td><td><a href='goroutineleak?debug=1'>goroutineleak</a></td></tr>
        <tr><td>2</td><td><a href='heap?debug=1'>heap</a></td></tr>
        <tr><td>1</td><td><a href='mutex?debug=1'>mutex</a></td></tr>
        <tr><td>0</td><td><a href='symbol?debug=1'>symbol</a></td></tr>
        <tr><td>6</td><td><a href='threadcreate?debug=1'>threadcreate</a></td></tr>
        </table>
        <a href="goroutine?debug=2">full goroutine stack dump</a>
        <br>
        <p>
        Profile Descriptions:
        <ul>
        <li><div class=profile-name>allocs: </div> A sampling of all past memory allocations</li>
        <li><div class=profile-name>block: </div> Stack traces that led to blocking on synchronization primitives</li>
        <li><div class=profile-name>cmdline: </div> The command line invocation of the current program</li>
        <li><div class=profile-name>goroutine: </div> Stack traces of all current goroutines. Use debug=2 as a query parameter to export in the same format as an unrecovered panic.</li>
        <li><div class=profile-name>goroutineleak: </div> Stack traces of all leaked goroutines. Use debug=2 as a query parameter to export in the same format as an unrecovered panic.</li>
        <li><div class=profile-name>heap: </div> A sampling of memory allocations of live objects. You can specify the gc GET parameter to run GC before taking the heap sample.</li>
        <li><div class=profile-name>mutex: </div> Stack traces of holders of contended mutexes</li>
        <li><div class=profile-name>symbol: </div> Maps given program counters to function names. Counters can be specified in a GET raw query or POST body, multiple counters are separated by &#39;+&#39;.</li>
        <li><div class=profile-name>threadcreate: </div> Stack traces that led to the creation of new OS threads</li>
        </ul>
        </p>
        <p>
        Beyond net/http/pprof:
        <ul>
        <li><a href="/debug/flamegraph?profile=goroutine">flame graph</a>: goroutine, heap, allocs, block, mutex, threadcreate; profile&amp;seconds=N for CPU</li>
        <li><a href="/metrics">/metrics</a>: Prometheus and OpenMetrics</li>
        <li><a href="delta_heap">delta_heap</a>, <a href="delta_block">delta_block</a>, <a href="delta_mutex">delta_mutex</a>: changes since the previous call (godeltaprof; one consumer per endpoint)</li>
        <li><a href="/debug/schedtrace?interval=1000">/debug/schedtrace?interval=1000</a>: GODEBUG=schedtrace lines, streamed (detail=1 for scheddetail)</li>
        </ul>
        </p>
        </body>
        </html>
        """

    func testIndexPageIsGoLayoutWithOurProfiles() throws {
        try startServer(provider: FakePprofProvider(withTestProfiles: false))
        let response = try get("/debug/pprof/")
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.header("Content-Type"), "text/html; charset=utf-8")
        XCTAssertEqual(response.header("X-Content-Type-Options"), "nosniff")
        XCTAssertNotNil(response.header("Date"))
        XCTAssertEqual(response.text, Self.expectedIndex)
    }

    func testNamedProfileProtoAndTextHeaders() throws {
        try startServer()
        let proto = try get("/debug/pprof/goroutine")
        XCTAssertEqual(proto.status, 200)
        XCTAssertEqual(proto.header("Content-Type"), "application/octet-stream")
        XCTAssertEqual(proto.header("Content-Disposition"), "attachment; filename=\"goroutine\"")
        XCTAssertEqual(proto.header("X-Content-Type-Options"), "nosniff")
        XCTAssertEqual(proto.body, FakePprofProvider.body("goroutine", debug: 0))
        // Header order as Go writes it: handler headers sorted, then Date, then Content-Length.
        XCTAssertEqual(proto.headers.map(\.0),
                       ["Content-Disposition", "Content-Type", "X-Content-Type-Options", "Date", "Content-Length", "Connection"])

        let text = try get("/debug/pprof/goroutine?debug=2")
        XCTAssertEqual(text.status, 200)
        XCTAssertEqual(text.header("Content-Type"), "text/plain; charset=utf-8")
        XCTAssertNil(text.header("Content-Disposition"))
        XCTAssertEqual(text.body, FakePprofProvider.body("goroutine", debug: 2))

        // debug that is not an integer counts as 0 (Go's Atoi error is ignored).
        let notANumber = try get("/debug/pprof/heap?debug=x")
        XCTAssertEqual(notANumber.header("Content-Type"), "application/octet-stream")
        XCTAssertEqual(provider.lastRender.withLock { $0 }, "heap debug=0 gc=false")
    }

    func testGCParameterOnlyForHeap() throws {
        try startServer()
        _ = try get("/debug/pprof/heap?gc=1&debug=1")
        XCTAssertEqual(provider.lastRender.withLock { $0 }, "heap debug=1 gc=true")
        _ = try get("/debug/pprof/allocs?gc=1")
        XCTAssertEqual(provider.lastRender.withLock { $0 }, "allocs debug=0 gc=false")
        _ = try get("/debug/pprof/heap?gc=0")
        XCTAssertEqual(provider.lastRender.withLock { $0 }, "heap debug=0 gc=false")
    }

    private func assertPprofError(_ response: ParsedResponse, _ status: Int, _ message: String,
                                  file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(response.status, status, file: file, line: line)
        XCTAssertEqual(response.header("Content-Type"), "text/plain; charset=utf-8", file: file, line: line)
        XCTAssertEqual(response.header("X-Go-Pprof"), "1", file: file, line: line)
        XCTAssertEqual(response.header("X-Content-Type-Options"), "nosniff", file: file, line: line)
        XCTAssertNil(response.header("Content-Disposition"), file: file, line: line)
        XCTAssertEqual(response.text, message + "\n", file: file, line: line)
    }

    func testUnknownProfilesAndAbsentCPUAndTrace() throws {
        try startServer()
        assertPprofError(try get("/debug/pprof/nope"), 404, "Unknown profile")
        assertPprofError(try get("/debug/pprof/heap/extra"), 404, "Unknown profile")
        assertPprofError(try get("/debug/pprof/profile?seconds=1"), 404, "Unknown profile")
        assertPprofError(try get("/debug/pprof/trace"), 404, "Unknown profile")
        // The unknown-name check comes before the seconds checks, as in Go.
        assertPprofError(try get("/debug/pprof/nope?seconds=abc"), 404, "Unknown profile")
    }

    func testDeltaProfileRulesInGoOrder() throws {
        try startServer { $0.maxProfileSeconds = 60 }
        let invalid = "invalid value for \"seconds\" - must be a positive integer"
        assertPprofError(try get("/debug/pprof/heap?seconds=abc"), 400, invalid)
        assertPprofError(try get("/debug/pprof/heap?seconds=0"), 400, invalid)
        assertPprofError(try get("/debug/pprof/heap?seconds=-3"), 400, invalid)
        assertPprofError(try get("/debug/pprof/heap?seconds=1.5"), 400, invalid)
        assertPprofError(try get("/debug/pprof/heap?seconds=99999999999999999999"), 400, invalid)
        assertPprofError(try get("/debug/pprof/slow?seconds=1"), 400,
                         "\"seconds\" parameter is not supported for this profile type")
        assertPprofError(try get("/debug/pprof/heap?seconds=1&debug=1"), 400, "seconds and debug params are incompatible")
        assertPprofError(try get("/debug/pprof/heap?seconds=61"), 400,
                         "profile duration exceeds server's limit of 60 seconds")

        let delta = try get("/debug/pprof/goroutine?seconds=1")
        XCTAssertEqual(delta.status, 200)
        XCTAssertEqual(delta.header("Content-Disposition"), "attachment; filename=\"goroutine-delta\"")
        XCTAssertEqual(delta.header("Content-Type"), "application/octet-stream")
        XCTAssertEqual(delta.text.dropFirst(4), "delta of goroutine over 1s")
    }

    func testSecondDeltaOfSameProfileIsRefusedWhileFirstRuns() throws {
        try startServer()
        let first = try RawConnection(port: port)
        first.send("GET /debug/pprof/heap?seconds=2 HTTP/1.1\r\nHost: x\r\n\r\n")
        Thread.sleep(forTimeInterval: 0.3)
        assertPprofError(try get("/debug/pprof/heap?seconds=1"), 429,
                         "a delta profile of heap is already being collected; retry later")
        XCTAssertEqual(first.readResponse()?.status, 200)
    }

    func testCmdlineIsNulSeparatedArgv() throws {
        try startServer()
        let response = try get("/debug/pprof/cmdline")
        var expected = Array(try Data(contentsOf: URL(fileURLWithPath: "/proc/self/cmdline")))
        if expected.last == 0 { expected.removeLast() }
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.header("Content-Type"), "text/plain; charset=utf-8")
        XCTAssertEqual(response.body, expected)
        XCTAssertNotEqual(response.body.last, 0)
    }

    func testSymbolOnGetAndPost() throws {
        try startServer()
        let empty = try get("/debug/pprof/symbol")
        XCTAssertEqual(empty.status, 200)
        XCTAssertEqual(empty.header("Content-Type"), "text/plain; charset=utf-8")
        XCTAssertEqual(empty.text, "num_symbols: 1\n")

        // Hex, decimal and octal; 0, garbage and unknown PCs are skipped.
        let viaQuery = try get("/debug/pprof/symbol?0x670fc8+6754248+0+zz+017+0x7fffffffffff")
        XCTAssertEqual(viaQuery.text, "num_symbols: 1\n0x670fc8 main.function_670fc8\n0x670fc8 main.function_670fc8\n0xf main.function_f\n")

        // What go tool pprof sends (POST; Go >= 1.23 answers 405 here, we do not).
        let viaPost = try get("/debug/pprof/symbol", method: "POST",
                              headers: ["Content-Type: application/octet-stream"], body: "0x67125e+0x671245")
        XCTAssertEqual(viaPost.status, 200)
        XCTAssertEqual(viaPost.text, "num_symbols: 1\n0x67125e main.function_67125e\n0x671245 main.function_671245\n")
    }

    func testChunkedPostToSymbol() throws {
        try startServer()
        let connection = try RawConnection(port: port)
        connection.send("POST /debug/pprof/symbol HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                        + "4\r\n0x10\r\n5\r\n+0x20\r\n0\r\n\r\n")
        let response = try XCTUnwrap(connection.readResponse())
        XCTAssertEqual(response.text, "num_symbols: 1\n0x10 main.function_10\n0x20 main.function_20\n")
    }

    func testMethodsRedirectAndOtherPaths() throws {
        try startServer()
        let post = try get("/debug/pprof/heap", method: "POST", body: "")
        XCTAssertEqual(post.status, 405)
        XCTAssertEqual(post.header("Allow"), "GET, HEAD")
        XCTAssertEqual(post.header("Content-Type"), "text/plain; charset=utf-8")
        XCTAssertEqual(post.header("X-Content-Type-Options"), "nosniff")
        XCTAssertEqual(post.text, "Method Not Allowed\n")
        XCTAssertEqual(try get("/debug/pprof/symbol", method: "DELETE").header("Allow"), "GET, HEAD, POST")

        let redirect = try get("/debug/pprof?debug=1")
        XCTAssertEqual(redirect.status, 307)
        XCTAssertEqual(redirect.header("Location"), "/debug/pprof/?debug=1")

        let unclean = try get("/debug/pprof/../pprof//heap?debug=1")
        XCTAssertEqual(unclean.status, 301)
        XCTAssertEqual(unclean.header("Location"), "/debug/pprof/heap?debug=1")
        XCTAssertEqual(unclean.text, "<a href=\"/debug/pprof/heap?debug=1\">Moved Permanently</a>.\n\n")

        // Absolute-form targets (proxies) reach the same routes.
        XCTAssertEqual(try get("http://example.com/debug/pprof/heap?debug=1").body, FakePprofProvider.body("heap", debug: 1))
        // Percent-encoded paths are decoded before routing, as Go's r.URL.Path is.
        XCTAssertEqual(try get("/debug/pprof/%68eap?debug=1").body, FakePprofProvider.body("heap", debug: 1))

        let elsewhere = try get("/healthz")
        XCTAssertEqual(elsewhere.status, 404)
        XCTAssertEqual(elsewhere.text, "404 page not found\n")
    }

    func testHeadHasLengthButNoBody() throws {
        try startServer()
        let connection = try RawConnection(port: port)
        connection.send("HEAD /debug/pprof/big HTTP/1.1\r\nHost: x\r\n\r\nGET /debug/pprof/heap?debug=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        let head = try XCTUnwrap(ParsedResponse(readHeadOnly(connection)))
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.header("Content-Length"), String(FakePprofProvider.bigBody.count))
        // The next response follows the HEAD response's header block directly.
        let next = try XCTUnwrap(connection.readResponse())
        XCTAssertEqual(next.body, FakePprofProvider.body("heap", debug: 1))
    }

    private func readHeadOnly(_ connection: RawConnection) -> [UInt8] {
        var data: [UInt8] = []
        var byte: UInt8 = 0
        while recv(connection.fd, &byte, 1, 0) == 1 {
            data.append(byte)
            if data.suffix(4) == [13, 10, 13, 10] { break }
        }
        return data
    }

    func testBearerToken() throws {
        try startServer { $0.bearerToken = "s3cret" }
        let missing = try get("/debug/pprof/")
        XCTAssertEqual(missing.status, 401)
        XCTAssertEqual(missing.header("WWW-Authenticate"), "Bearer realm=\"pprof\"")
        XCTAssertEqual(missing.header("X-Go-Pprof"), "1")
        XCTAssertEqual(try get("/debug/pprof/", headers: ["Authorization: Bearer wrong"]).status, 401)
        XCTAssertEqual(try get("/debug/pprof/", headers: ["Authorization: Bearer s3cret"]).status, 200)
        XCTAssertEqual(try get("/debug/pprof/cmdline", headers: ["authorization: bearer s3cret"]).status, 200)
    }

    func testConcurrentRendersBeyondTheQueueGet429() throws {
        try startServer {
            $0.maxConcurrentRendersPerProfile = 1
            $0.maxQueuedPerProfile = 1
        }
        let running = try RawConnection(port: port)
        running.send("GET /debug/pprof/slow HTTP/1.1\r\nHost: x\r\n\r\n")
        let queued = try RawConnection(port: port)
        queued.send("GET /debug/pprof/slow HTTP/1.1\r\nHost: x\r\n\r\n")
        Thread.sleep(forTimeInterval: 0.3)
        let refused = try get("/debug/pprof/slow")
        XCTAssertEqual(refused.status, 429)
        XCTAssertEqual(refused.header("X-Go-Pprof"), "1")
        // Other profiles are not held up by the slow one.
        XCTAssertEqual(try get("/debug/pprof/heap").status, 200)
        XCTAssertEqual(provider.slowStarted.load(ordering: .relaxed), 1)
        provider.holdSlow.store(false, ordering: .releasing)
        XCTAssertEqual(running.readResponse()?.text, "slow done\n")
        XCTAssertEqual(queued.readResponse()?.text, "slow done\n")
    }
}

/// The CPU route once a provider offers a CPU profile: Go's seconds defaults, filename, one at a time.
final class CPUProfileRouteTests: ServerTestCase {
    final class CPUProvider: PprofProvider {
        let profiles: [PprofProfileInfo] = []
        let lastSeconds = Atomic<Int>(0)
        var supportsCPUProfile: Bool { true }

        func cpuProfile(seconds: Int, cancel: CancellationCheck) throws -> [UInt8] {
            lastSeconds.store(seconds, ordering: .relaxed)
            // Stand-in for a 100 Hz sampler: hold the profiler for a moment, honour cancellation.
            guard cancel.sleep(seconds: 0.5) else { throw PprofError.cancelled }
            return [0x1f, 0x8b, 0x08, 0x00] + Array("cpu \(seconds)s".utf8)
        }

        func render(_ name: String, debug: Int, gcFirst: Bool, cancel: CancellationCheck) throws -> [UInt8] {
            throw PprofError.unknownProfile
        }
        func delta(_ name: String, seconds: Int, cancel: CancellationCheck) throws -> [UInt8] { throw PprofError.deltaFailed }
        func symbolize(_ pcs: [UInt]) -> [(pc: UInt, name: String)] { [] }
    }

    func testCPUProfileRoute() throws {
        let provider = CPUProvider()
        var configuration = DebugServerConfiguration(address: "127.0.0.1:0")
        configuration.maxProfileSeconds = 120
        server = DebugServer(configuration: configuration, provider: provider)
        try server.start()

        let index = try get("/debug/pprof/")
        XCTAssertTrue(index.text.contains("<tr><td>0</td><td><a href='profile?debug=1'>profile</a></td></tr>"))
        XCTAssertTrue(index.text.contains("<li><div class=profile-name>profile: </div> CPU profile."))

        let response = try get("/debug/pprof/profile?seconds=4")
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.header("Content-Disposition"), "attachment; filename=\"profile\"")
        XCTAssertEqual(response.header("Content-Type"), "application/octet-stream")
        XCTAssertEqual(provider.lastSeconds.load(ordering: .relaxed), 4)
        // Missing, unparsable or non-positive seconds silently mean 30, as in Go.
        for query in ["", "?seconds=abc", "?seconds=-1", "?seconds=4.5"] {
            _ = try get("/debug/pprof/profile" + query)
            XCTAssertEqual(provider.lastSeconds.load(ordering: .relaxed), 30, query)
        }
        let tooLong = try get("/debug/pprof/profile?seconds=121")
        XCTAssertEqual(tooLong.status, 400)
        XCTAssertEqual(tooLong.text, "profile duration exceeds server's limit of 120 seconds\n")
        // Beyond Int64: refused at once, not read as "unparsable, so 30" (issue 11, failure 5).
        for huge in ["99999999999999999999", "%2B99999999999999999999"] {
            let overflow = try get("/debug/pprof/profile?seconds=" + huge)
            XCTAssertEqual(overflow.status, 400, huge)
            XCTAssertEqual(overflow.text, "profile duration exceeds server's limit of 120 seconds\n")
        }
        _ = try get("/debug/pprof/profile?seconds=-99999999999999999999")
        XCTAssertEqual(provider.lastSeconds.load(ordering: .relaxed), 30)

        let first = try RawConnection(port: port)
        first.send("GET /debug/pprof/profile?seconds=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        Thread.sleep(forTimeInterval: 0.1)
        let second = try get("/debug/pprof/profile?seconds=1")
        XCTAssertEqual(second.status, 500)
        XCTAssertEqual(second.header("X-Go-Pprof"), "1")
        XCTAssertEqual(second.text, "Could not enable CPU profiling: cpu profiling already in use\n")
        XCTAssertEqual(first.readResponse()?.status, 200)
    }
}

import Synchronization
