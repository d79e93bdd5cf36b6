// A real Prometheus server (Debian's `prometheus`, started by the test) scraping the demo's `/metrics`:
// the target comes up, and Go dashboards' series (go_goroutines, go_sched_latencies_seconds) and ours
// are queryable through its HTTP API. Prometheus asks for OpenMetrics first, so that format is what it parses.
import Foundation
import XCTest

final class DemoMetricsTests: DemoTestCase {
    func testPrometheusScrapesTheDemo() throws {
        try startDemo()
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/prometheus") else {
            throw XCTSkip("prometheus is not installed (apt-get install prometheus; scripts/setup.sh does)")
        }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("prometheus-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let config = """
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
            scrape_configs:
              - job_name: goroutines
                static_configs:
                  - targets: ['127.0.0.1:\(port)']

            """
        try config.write(to: scratch.appendingPathComponent("prometheus.yml"), atomically: true, encoding: .utf8)
        let webPort = try freeLoopbackPort()
        let prometheus = Process()
        prometheus.executableURL = URL(fileURLWithPath: "/usr/bin/prometheus")
        prometheus.arguments = [
            "--config.file=\(scratch.path)/prometheus.yml", "--storage.tsdb.path=\(scratch.path)/data",
            "--web.listen-address=127.0.0.1:\(webPort)", "--log.level=warn",
        ]
        let log = scratch.appendingPathComponent("prometheus.log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        prometheus.standardOutput = try FileHandle(forWritingTo: log)
        prometheus.standardError = try FileHandle(forWritingTo: log)
        try prometheus.run()
        defer {
            prometheus.terminate()
            prometheus.waitUntilExit()
        }
        var up = "", goroutines = ""
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            up = queryPrometheus(port: webPort, "up{job=\"goroutines\"}") ?? ""
            goroutines = queryPrometheus(port: webPort, "go_goroutines{job=\"goroutines\"}") ?? ""
            if up.contains("\"1\"]") && goroutines.contains("\"result\":[{") { break }
            usleep(500_000)
        }
        let logText = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        XCTAssertTrue(up.contains("\"1\"]"), "Prometheus never saw the target up: \(up)\nlog: \(logText)")
        XCTAssertTrue(goroutines.contains("\"__name__\":\"go_goroutines\""), goroutines)
        // The demo's workloads: goroutines parked in channel receives, scheduling delays measured.
        let waiting = queryPrometheus(port: webPort, "goroutines_waiting_goroutines{job=\"goroutines\",reason=\"chan receive\"} > 0") ?? ""
        XCTAssertTrue(waiting.contains("\"result\":[{"), waiting)
        let latencies = queryPrometheus(port: webPort, "go_sched_latencies_seconds_count{job=\"goroutines\"} > 0") ?? ""
        XCTAssertTrue(latencies.contains("\"result\":[{"), latencies)
    }

    private func queryPrometheus(port: Int, _ query: String) -> String? {
        var components = URLComponents(string: "http://127.0.0.1:\(port)/api/v1/query")!
        components.queryItems = [URLQueryItem(name: "query", value: query)]
        guard let result = try? runTool("/usr/bin/curl", ["-s", "--max-time", "5", components.url!.absoluteString]) else {
            return nil
        }
        return String(decoding: result.stdout, as: UTF8.self)
    }
}
