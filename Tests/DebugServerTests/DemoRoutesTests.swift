// Every /debug/pprof route of the real demo service (the binary users run), against Go 1.27's
// net/http/pprof contract: statuses, headers and body shapes (go-pprof-compat.md §3).
import Foundation
import XCTest

final class DemoRoutesTests: DemoTestCase {
    private func assertHeaders(_ response: ParsedResponse, status: Int, contentType: String, disposition: String?,
                               _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(response.status, status, "\(what): \(response.text.prefix(200))", file: file, line: line)
        XCTAssertEqual(response.header("Content-Type"), contentType, what, file: file, line: line)
        XCTAssertEqual(response.header("X-Content-Type-Options"), "nosniff", what, file: file, line: line)
        XCTAssertEqual(response.header("Content-Disposition"), disposition, what, file: file, line: line)
    }

    private func assertGoError(_ target: String, status: Int, message: String,
                               file: StaticString = #filePath, line: UInt = #line) throws {
        let response = try get(target)
        assertHeaders(response, status: status, contentType: "text/plain; charset=utf-8", disposition: nil, target,
                      file: file, line: line)
        XCTAssertEqual(response.header("X-Go-Pprof"), "1", target, file: file, line: line)
        XCTAssertEqual(response.text, message + "\n", target, file: file, line: line)
    }

    func testIndexListsTheDemosProfilesSortedWithCounts() throws {
        try startDemo()
        let index = try get("/debug/pprof/")
        assertHeaders(index, status: 200, contentType: "text/html; charset=utf-8", disposition: nil, "index")
        XCTAssertTrue(index.text.hasPrefix("<html>\n<head>\n<title>/debug/pprof/</title>"), index.text)
        XCTAssertTrue(index.text.hasSuffix("</ul>\n</p>\n</body>\n</html>"), "Go's index has no newline after </html>")
        XCTAssertTrue(index.text.contains("<a href=\"goroutine?debug=2\">full goroutine stack dump</a>"))
        let names = try indexedNames()
        XCTAssertEqual(names, names.sorted(), "Go sorts the index by name")
        for required in ["allocs", "cmdline", "goroutine", "heap", "symbol", "threadcreate"] {
            XCTAssertTrue(names.contains(required), "index lacks \(required): \(names)")
        }
        // The demo runs goroutines (main, timer, blocking call, churn, leaker, leaked ones).
        let goroutineRow = try XCTUnwrap(index.text.range(of: #"<tr><td>([0-9]+)</td><td><a href='goroutine\?debug=1'>"#,
                                                          options: .regularExpression))
        let count = Int(index.text[goroutineRow].dropFirst("<tr><td>".count).prefix { $0.isNumber }) ?? 0
        XCTAssertGreaterThanOrEqual(count, 5, String(index.text[goroutineRow]))
        XCTAssertEqual(try get("/debug/pprof/", method: "HEAD").status, 200)
    }

    func testProtoProfilesAreGzippedAttachments() throws {
        try startDemo()
        for name in try indexedNames() where !["cmdline", "symbol", "profile", "trace"].contains(name) {
            for query in ["", "?debug=0", "?debug=x"] {
                let response = try get("/debug/pprof/\(name)\(query)")
                assertHeaders(response, status: 200, contentType: "application/octet-stream",
                              disposition: "attachment; filename=\"\(name)\"", name + query)
                XCTAssertEqual(Array(response.body.prefix(2)), [0x1f, 0x8b], "\(name)\(query) is not gzip")
            }
        }
    }

    func testGoroutineTextFormatsShowTheWorkloads() throws {
        try startDemo()
        let debug1 = try get("/debug/pprof/goroutine?debug=1")
        assertHeaders(debug1, status: 200, contentType: "text/plain; charset=utf-8", disposition: nil, "goroutine?debug=1")
        XCTAssertNotNil(debug1.text.range(of: #"^goroutine profile: total [0-9]+\n[0-9]+ @( 0x[0-9a-f]+)+\n"#,
                                          options: .regularExpression), String(debug1.text.prefix(300)))
        XCTAssertTrue(debug1.text.contains("# labels: {\"workload\":\"leak\"}"), debug1.text)
        XCTAssertTrue(debug1.text.contains("GoroutinesDemo.Workloads.waitForReply(on:)+0x"), debug1.text)

        let debug2 = try get("/debug/pprof/goroutine?debug=2")
        assertHeaders(debug2, status: 200, contentType: "text/plain; charset=utf-8", disposition: nil, "goroutine?debug=2")
        XCTAssertTrue(debug2.text.hasPrefix("goroutine 1 ["), String(debug2.text.prefix(200)))
        XCTAssertTrue(debug2.text.contains("[sleep] {workload: timer}:\n"), debug2.text)
        XCTAssertNotNil(debug2.text.range(of: #"\ncreated by [^\n]+ in goroutine 1\n\t[^\n]+:[0-9]+ \+0x[0-9a-f]+\n"#,
                                          options: .regularExpression), debug2.text)
        // debug=3 is the same dump as debug=2 (Go: N >= 2).
        XCTAssertTrue(try get("/debug/pprof/goroutine?debug=3").text.hasPrefix("goroutine 1 ["))
    }

    func testHeapAllocsAndThreadcreateTextFormats() throws {
        try startDemo()
        for name in ["heap", "allocs"] {
            let response = try get("/debug/pprof/\(name)?debug=1")
            assertHeaders(response, status: 200, contentType: "text/plain; charset=utf-8", disposition: nil, name)
            XCTAssertNotNil(response.text.range(of: #"^heap profile: [0-9]+: [0-9]+ \[[0-9]+: [0-9]+\] @ heap/[0-9]+\n"#,
                                                options: .regularExpression), String(response.text.prefix(200)))
        }
        let threads = try get("/debug/pprof/threadcreate?debug=1")
        assertHeaders(threads, status: 200, contentType: "text/plain; charset=utf-8", disposition: nil, "threadcreate")
        XCTAssertNotNil(threads.text.range(of: #"^threadcreate profile: total [0-9]+\n[0-9]+ @( 0x[0-9a-f]+)+\n"#,
                                           options: .regularExpression), String(threads.text.prefix(200)))
        XCTAssertEqual(try get("/debug/pprof/heap?gc=1").status, 200)
    }

    func testDeltaProfile() throws {
        try startDemo()
        let delta = try get("/debug/pprof/heap?seconds=1")
        assertHeaders(delta, status: 200, contentType: "application/octet-stream",
                      disposition: "attachment; filename=\"heap-delta\"", "heap?seconds=1")
        XCTAssertEqual(Array(delta.body.prefix(2)), [0x1f, 0x8b])
    }

    func testCmdlineIsArgvJoinedByNUL() throws {
        try startDemo(arguments: ["--leak-every-millis", "500"])
        let response = try get("/debug/pprof/cmdline")
        assertHeaders(response, status: 200, contentType: "text/plain; charset=utf-8", disposition: nil, "cmdline")
        XCTAssertEqual(response.text, demo.demoArguments.joined(separator: "\0"))
    }

    func testSymbolResolvesDemoAddressesOnGetAndPost() throws {
        try startDemo()
        // An address and its function, as the goroutine profile shows them.
        let text = try get("/debug/pprof/goroutine?debug=1").text
        let line = try XCTUnwrap(text.split(separator: "\n").first { $0.contains("Workloads.waitForReply(on:)+0x") })
        let fields = line.split(separator: "\t")
        let address = String(fields[1])
        let function = String(fields[2][..<fields[2].range(of: "+0x", options: .backwards)!.lowerBound])
        let expected = "num_symbols: 1\n\(address) \(function)\n"

        let viaGet = try get("/debug/pprof/symbol?\(address)+0+junk")
        assertHeaders(viaGet, status: 200, contentType: "text/plain; charset=utf-8", disposition: nil, "symbol GET")
        XCTAssertEqual(viaGet.text, expected)
        let viaPost = try get("/debug/pprof/symbol", method: "POST",
                              headers: ["Content-Type: application/octet-stream"], body: "\(address)+0x0")
        XCTAssertEqual(viaPost.status, 200)
        XCTAssertEqual(viaPost.text, expected)
        XCTAssertEqual(try get("/debug/pprof/symbol").text, "num_symbols: 1\n")
    }

    func testErrorsAreGosMessagesAndStatuses() throws {
        try startDemo()
        try assertGoError("/debug/pprof/nonexistent", status: 404, message: "Unknown profile")
        try assertGoError("/debug/pprof/heap/extra", status: 404, message: "Unknown profile")
        try assertGoError("/debug/pprof/trace", status: 404, message: "Unknown profile")
        let badSeconds = #"invalid value for "seconds" - must be a positive integer"#
        for value in ["abc", "0", "-1", "1.5", "99999999999999999999"] {
            try assertGoError("/debug/pprof/goroutine?seconds=\(value)", status: 400, message: badSeconds)
        }
        try assertGoError("/debug/pprof/heap?seconds=1&debug=1", status: 400, message: "seconds and debug params are incompatible")
        try assertGoError("/debug/pprof/goroutine?seconds=301", status: 400,
                          message: "profile duration exceeds server's limit of 300 seconds")

        let post = try get("/debug/pprof/goroutine", method: "POST", body: "")
        XCTAssertEqual(post.status, 405)
        XCTAssertEqual(post.header("Allow"), "GET, HEAD")
        XCTAssertEqual(post.text, "Method Not Allowed\n")
        let noSlash = try get("/debug/pprof")
        XCTAssertEqual(noSlash.status, 307)
        XCTAssertEqual(noSlash.header("Location"), "/debug/pprof/")
        XCTAssertEqual(try get("/elsewhere").status, 404)
    }

    func testEnvironmentConfiguresTheDemosServer() throws {
        try startDemo(environment: ["GOROUTINES_DEBUG_TOKEN": "s3cret", "GOROUTINES_DEBUG_MAX_HEADER_BYTES": "2048"],
                      waitForWorkloads: false)
        let refused = try get("/debug/pprof/cmdline")
        XCTAssertEqual(refused.status, 401)
        XCTAssertEqual(refused.header("WWW-Authenticate"), "Bearer realm=\"pprof\"")
        XCTAssertEqual(try get("/debug/pprof/cmdline", headers: ["Authorization: Bearer wrong"]).status, 401)
        XCTAssertEqual(try get("/debug/pprof/cmdline", headers: ["Authorization: Bearer s3cret"]).status, 200)
        let big = try get("/debug/pprof/cmdline", headers: ["Authorization: Bearer s3cret",
                                                            "X-Big: " + String(repeating: "b", count: 3000)])
        XCTAssertEqual(big.status, 431)
    }
}
