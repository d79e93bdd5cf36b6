// The demo as operators run it: bad requests with its default limits, shutdown on SIGTERM/SIGINT (what
// systemd, Docker and Kubernetes send), running under MemoryDenyWriteExecute (the systemd unit sets it),
// and answering while every P is busy.
import Foundation
import Glibc
import XCTest

final class DemoRobustnessTests: DemoTestCase {
    func testMalformedAndOversizedRequestsWithDefaultLimits() throws {
        try startDemo()
        let badRequest = "HTTP/1.1 400 Bad Request" + errorHeaders + "400 Bad Request"
        try assertRefusal("GET /debug/pprof/ HTTP/9.9\r\nHost: x\r\n\r\n",
                          "HTTP/1.1 505 HTTP Version Not Supported: unsupported protocol version" + errorHeaders
                          + "505 HTTP Version Not Supported: unsupported protocol version")
        try assertRefusal("GET /debug/pprof/\r\n\r\n", badRequest)
        try assertRefusal("G(T /debug/pprof/ HTTP/1.1\r\nHost: x\r\n\r\n", badRequest)
        try assertRefusal("GET /debug/pprof/ HTTP/1.1\r\nHost: x\r\nX: a\r\n folded\r\n\r\n", badRequest)
        try assertRefusal("GET /debug/pprof/ HTTP/1.1\r\n\r\n",
                          "HTTP/1.1 400 Bad Request: missing required Host header" + errorHeaders
                          + "400 Bad Request: missing required Host header")
        try assertRefusal("POST /debug/pprof/symbol HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
                          "HTTP/1.1 501 Not Implemented" + errorHeaders + "Unsupported transfer encoding")
        try assertRefusal("POST /debug/pprof/symbol HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
                          badRequest)

        // Default limits: 64 KiB of head, 100 header fields, 1 MiB of body, bodies only on POST /symbol.
        let tooLarge = "HTTP/1.1 431 Request Header Fields Too Large" + errorHeaders + "431 Request Header Fields Too Large"
        try assertRefusal("GET /debug/pprof/ HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 70_000))\r\n\r\n",
                          tooLarge)
        let manyFields = (0..<101).map { "X-\($0): v\r\n" }.joined()
        try assertRefusal("GET /debug/pprof/ HTTP/1.1\r\nHost: x\r\n\(manyFields)\r\n", tooLarge)
        for request in ["POST /debug/pprof/symbol HTTP/1.1\r\nHost: x\r\nContent-Length: \((1 << 20) + 1)\r\n\r\n",
                        "GET /debug/pprof/heap HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"] {
            let connection = try RawConnection(port: port)
            connection.send(request)
            let (bytes, closed) = connection.readToEnd()
            XCTAssertTrue(String(decoding: bytes, as: UTF8.self).hasPrefix("HTTP/1.1 413 Request Entity Too Large\r\n"),
                          String(decoding: bytes.prefix(100), as: UTF8.self))
            XCTAssertTrue(closed)
        }
        // None of this hurt the service.
        XCTAssertEqual(try get("/debug/pprof/goroutine?debug=1").status, 200)
    }

    func testSIGTERMStopsTheDemoWithStatusZero() throws {
        try startDemo()
        XCTAssertEqual(try get("/debug/pprof/goroutine").status, 200)
        let ended = try XCTUnwrap(demo.signal(SIGTERM, exitWithin: 5), "the demo still ran 5 s after SIGTERM")
        XCTAssertEqual(ended.reason, .exit, "the demo died of signal \(ended.status) instead of exiting")
        XCTAssertEqual(ended.status, 0, demo.stderr)
        XCTAssertTrue(demo.stdout.contains("terminated"), demo.stdout)
        XCTAssertThrowsError(try RawConnection(port: port), "the debug port still accepts after exit")
    }

    func testSIGINTStopsTheDemoWithStatusZero() throws {
        try startDemo()
        XCTAssertEqual(try get("/debug/pprof/").status, 200)
        let ended = try XCTUnwrap(demo.signal(SIGINT, exitWithin: 5), "the demo still ran 5 s after SIGINT")
        XCTAssertEqual(ended.reason, .exit, "the demo died of signal \(ended.status) instead of exiting")
        XCTAssertEqual(ended.status, 0, demo.stderr)
    }

    /// prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN), inherited across exec: the kernel rule systemd's
    /// MemoryDenyWriteExecute=yes enforces (there with seccomp). Exits 77 where the kernel lacks it (< 6.3).
    private let denyWriteExecute = ["/usr/bin/python3", "-c", """
        import ctypes, os, sys
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(65, 1, 0, 0, 0) != 0:
            sys.exit(77)
        os.execv(sys.argv[1], sys.argv[1:])
        """]

    func testDemoServesEveryRouteUnderMemoryDenyWriteExecute() throws {
        guard FileManager.default.isExecutableFile(atPath: denyWriteExecute[0]) else { throw XCTSkip("python3 is not installed") }
        // Control: under the launcher, mapping writable+executable memory must fail.
        let control = try runTool(denyWriteExecute[0], Array(denyWriteExecute.dropFirst())
                                  + ["/usr/bin/python3", "-c", "import mmap; mmap.mmap(-1, 4096, prot=7)"])
        if control.status == 77 { throw XCTSkip("this kernel has no PR_SET_MDWE") }
        XCTAssertNotEqual(control.status, 0, "the launcher did not deny W+X mappings, so this test would prove nothing")
        XCTAssertTrue(control.stderr.contains("PermissionError"), control.stderr)

        try startDemo(launcher: denyWriteExecute)
        for name in try indexedNames() where !["profile", "trace"].contains(name) {
            for query in ["", "?debug=1"] {
                XCTAssertEqual(try get("/debug/pprof/\(name)\(query)").status, 200, name + query)
            }
        }
        XCTAssertEqual(try get("/debug/pprof/goroutine?debug=2").status, 200)
        XCTAssertEqual(try get("/debug/pprof/heap?seconds=1").status, 200)
        XCTAssertTrue(demo.process.isRunning, demo.stderr)
    }

    func testServerAnswersWhileEveryPSpins() throws {
        // Needs a demo workload that keeps goroutines on every P without yielding (`--spin N`).
        let help = try runTool(DemoProcess.executable.path, ["--help"])
        guard String(decoding: help.stdout, as: UTF8.self).contains("--spin") else {
            throw XCTSkip("the demo has no CPU-spinning workload (--spin N) yet")
        }
        try startDemo(arguments: ["--spin", "2"], environment: ["GOMAXPROCS": "2"])
        usleep(500_000)  // let the spinners take both Ps
        for _ in 0..<3 {
            let dump = try get("/debug/pprof/goroutine?debug=2")
            XCTAssertEqual(dump.status, 200)
            XCTAssertTrue(dump.text.contains("[running]"), String(dump.text.prefix(500)))
            XCTAssertEqual(try get("/debug/pprof/heap").status, 200)
        }
    }
}
