// `/metrics` against what Prometheus tooling accepts: the 0.0.4 text and OpenMetrics 1.0 formats with
// client_golang's names and `promtool check metrics` (a real Prometheus scraping the demo: DemoMetricsTests).
import DebugServer
import Foundation
import XCTest

final class MetricsRouteTests: ServerTestCase {
    func testTextFormatHasClientGolangNamesAndTypes() throws {
        try startServer()
        let response = try get("/metrics")
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8")
        let text = response.text
        for expected in [
            "# HELP go_goroutines Number of goroutines that currently exist.\n# TYPE go_goroutines gauge\ngo_goroutines ",
            "# HELP go_threads Number of OS threads created.\n# TYPE go_threads gauge\n",
            "# TYPE go_info gauge\ngo_info{version=\"swift",
            "# TYPE go_sched_gomaxprocs_threads gauge\ngo_sched_gomaxprocs_threads ",
            "# TYPE go_sched_latencies_seconds histogram\ngo_sched_latencies_seconds_bucket{le=\"6.399999999999999e-08\"} ",
            "go_sched_latencies_seconds_bucket{le=\"0.0009175039999999999\"} ",
            "go_sched_latencies_seconds_bucket{le=\"0.11744051199999998\"} ",
            "go_sched_latencies_seconds_bucket{le=\"+Inf\"} ",
            "# TYPE go_memstats_heap_alloc_bytes gauge\n",
            "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n# TYPE process_cpu_seconds_total counter\n",
            "# TYPE process_resident_memory_bytes gauge\n", "# TYPE process_virtual_memory_bytes gauge\n",
            "# TYPE process_open_fds gauge\n", "# TYPE process_max_fds gauge\n", "# TYPE process_start_time_seconds gauge\n",
            "# TYPE goroutines_waiting_goroutines gauge\n", "# TYPE goroutines_block_events_total counter\n",
            "# TYPE goroutines_mutex_events_total counter\n",
        ] {
            XCTAssertTrue(text.contains(expected), "missing \(expected.debugDescription) in:\n\(text)")
        }
        XCTAssertFalse(text.contains("go_gc_duration_seconds"), "no garbage collector, so no GC pause summary")
        // Families come sorted by name, as client_golang's registry gathers them.
        let families = text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] }
        XCTAssertEqual(families, families.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        // The scrape itself is counted by route and status.
        XCTAssertTrue(try get("/metrics").text.contains("goroutines_debug_server_requests_total{code=\"200\",route=\"/metrics\"} "))
        XCTAssertTrue(try get("/metrics").text.contains("goroutines_debug_server_requests_total{code=\"200\",route=\"/metrics\"} 2\n"))
    }

    func testOpenMetricsWhenTheScraperAsksForIt() throws {
        try startServer()
        let accept = "Accept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        let response = try get("/metrics", headers: [accept])
        XCTAssertEqual(response.header("Content-Type"), "application/openmetrics-text; version=1.0.0; charset=utf-8")
        let text = response.text
        XCTAssertTrue(text.hasSuffix("# EOF\n"))
        XCTAssertTrue(text.contains("# TYPE process_cpu_seconds counter\nprocess_cpu_seconds_total "), text)
        XCTAssertTrue(text.contains("go_info{version=\"swift6.3\"} 1.0\n") || text.contains("go_info{version=\"swift"), text)
        XCTAssertTrue(text.contains("go_sched_latencies_seconds_bucket{le=\"+Inf\"} "), text)
        // A text-only Accept keeps the 0.0.4 format.
        XCTAssertEqual(try get("/metrics", headers: ["Accept: text/plain;version=0.0.4"]).header("Content-Type"),
                       "text/plain; version=0.0.4; charset=utf-8")
        XCTAssertEqual(try get("/metrics", method: "POST", body: "").status, 405)
    }

    func testPromtoolAcceptsTheTextFormat() throws {
        try startServer()
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/promtool") else {
            throw XCTSkip("promtool is not installed (apt-get install prometheus; scripts/setup.sh does)")
        }
        let body = try get("/metrics").body
        let result = try runToolWithInput("/usr/bin/promtool", ["check", "metrics"], input: body)
        XCTAssertEqual(result.status, 0, "promtool: \(result.output)")
    }

    private func runToolWithInput(_ path: String, _ arguments: [String], input: [UInt8]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let stdin = Pipe(), output = Pipe()
        process.standardInput = stdin
        process.standardOutput = output
        process.standardError = output
        try process.run()
        stdin.fileHandleForWriting.write(Data(input))
        try stdin.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

/// A port nothing listens on right now (bound to 0, read back, closed).
func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
        }
    }
    guard ok else { throw NSError(domain: "freeLoopbackPort", code: Int(errno)) }
    return Int(UInt16(bigEndian: address.sin_port))
}
