// Real clients against the real demo: `go tool pprof` (Go 1.27) on every profile the index lists and on
// a legacy text profile (which makes pprof POST to /symbol), curl and nghttp over h2c.
import Foundation
import XCTest

final class DemoClientTests: DemoTestCase {
    private func goToolPprof(_ arguments: [String]) throws -> ToolResult {
        guard let go = installed("go") else { throw XCTSkip("go is not installed (scripts/setup.sh installs Go 1.27)") }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("demo-pprof-\(getpid())").path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        setenv("PPROF_TMPDIR", scratch, 1)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        return try runTool(go, ["tool", "pprof"] + arguments)
    }

    /// pprof's stderr must hold nothing but its two progress lines (no warnings, no symbolization notes).
    private func assertQuietStderr(_ stderr: String, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        let unexpected = stderr.split(separator: "\n").filter {
            !$0.hasPrefix("Fetching profile over HTTP from ") && !$0.hasPrefix("Saved profile in ")
        }
        XCTAssertEqual(unexpected, [], "go tool pprof printed more than progress for \(what)", file: file, line: line)
    }

    func testGoToolPprofParsesEveryListedProfile() throws {
        try startDemo()
        let profiles = try indexedNames().filter { !["cmdline", "symbol", "trace"].contains($0) }
        XCTAssertTrue(profiles.contains("goroutine"))
        for name in profiles {
            // The CPU profile (when the index lists one) needs a duration; 1 s keeps the test short.
            let path = name == "profile" ? "/debug/pprof/profile?seconds=1" : "/debug/pprof/\(name)"
            let result = try goToolPprof(["-raw", url(path)])
            XCTAssertEqual(result.status, 0, "\(name): \(result.stderr)")
            assertQuietStderr(result.stderr, name)
            let output = String(decoding: result.stdout, as: UTF8.self)
            XCTAssertTrue(output.hasPrefix("PeriodType: "), "\(name): \(output.prefix(200))")
            XCTAssertTrue(output.contains("\nSamples:\n"), "\(name): \(output.prefix(400))")
        }
    }

    func testGoToolPprofSymbolizesLegacyTextThroughPostSymbol() throws {
        // Text profiles carry bare addresses, so pprof POSTs them to the sibling /debug/pprof/symbol and
        // uses the names we return (Go ≥1.23's own server answers that POST with 405).
        try startDemo()
        let result = try goToolPprof(["-raw", url("/debug/pprof/goroutine?debug=1")])
        XCTAssertEqual(result.status, 0, result.stderr)
        let output = String(decoding: result.stdout, as: UTF8.self)
        XCTAssertTrue(output.contains("GoroutinesDemo.Workloads.waitForReply(on:)"), output)
        XCTAssertTrue(output.contains("Goroutines.Channel.receive()"), output)
    }

    /// curl's body; with `failOnError`, a non-2xx status is a test failure.
    private func curl(_ arguments: [String], failOnError: Bool = true) throws -> [UInt8] {
        let result = try runTool("/usr/bin/curl", ["-s", "--max-time", "10"] + (failOnError ? ["-f"] : []) + arguments)
        XCTAssertEqual(result.status, 0, "curl \(arguments): \(result.stderr)")
        return result.stdout
    }

    func testH2cClientsGetTheSameBodiesAsHTTP1() throws {
        try startDemo()
        let text = try get("/debug/pprof/goroutine?debug=1").text
        let address = try XCTUnwrap(text.split(separator: "\n").first { $0.contains("waitForReply(on:)+0x") }?
            .split(separator: "\t")[1])
        // Routes whose body does not change while the demo runs.
        for path in ["/debug/pprof/cmdline", "/debug/pprof/symbol?\(address)", "/debug/pprof/nonexistent"] {
            let http1 = try get(path)
            let expected = http1.body
            XCTAssertFalse(expected.isEmpty, path)
            let ok = http1.status == 200
            XCTAssertEqual(try curl(["--http1.1", url(path)], failOnError: ok), expected, "curl HTTP/1.1 \(path)")
            XCTAssertEqual(try curl(["--http2-prior-knowledge", url(path)], failOnError: ok), expected, "curl h2c \(path)")
            XCTAssertEqual(try curl(["--http2", url(path)], failOnError: ok), expected, "curl Upgrade: h2c \(path)")
            let nghttp = try runTool("/usr/bin/nghttp", [url(path)])
            XCTAssertEqual(nghttp.status, 0, nghttp.stderr)
            XCTAssertEqual(nghttp.stdout, expected, "nghttp \(path)")
        }
        let posted = try curl(["--http2-prior-knowledge", "--data-binary", "\(address)", url("/debug/pprof/symbol")])
        XCTAssertEqual(posted, try get("/debug/pprof/symbol?\(address)").body)

        // Profiles change between requests, so over h2 check their headers and that pprof-style bodies arrive.
        let head = try runTool("/usr/bin/curl", ["-s", "-D", "-", "-o", "/dev/null", "--http2-prior-knowledge",
                                                 url("/debug/pprof/goroutine")])
        let headers = String(decoding: head.stdout, as: UTF8.self)
        XCTAssertTrue(headers.hasPrefix("HTTP/2 200"), headers)
        XCTAssertTrue(headers.contains("content-type: application/octet-stream"), headers)
        XCTAssertTrue(headers.contains("content-disposition: attachment; filename=\"goroutine\""), headers)
        let dump = try curl(["--http2-prior-knowledge", url("/debug/pprof/goroutine?debug=2")])
        XCTAssertTrue(String(decoding: dump, as: UTF8.self).hasPrefix("goroutine 1 ["))
    }
}
