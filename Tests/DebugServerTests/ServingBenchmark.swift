// Benchmark (report only, never asserted): requests/s and latency of the index page and a fixed
// 200 KiB body over keep-alive, `wrk -t2 -c16 -d5s`, against this server and against Go 1.27's
// net/http (Tests/GoPeers/server), both on loopback, one after the other. Runs only when
// DEBUGSERVER_BENCH=1, best in release:
//   DEBUGSERVER_BENCH=1 swift test -c release --filter ServingBenchmark
// Prints one JSON line per result.
import DebugServer
import Foundation
import XCTest

final class ServingBenchmark: ServerTestCase {
    func testWrkAgainstGoPeer() throws {
        guard ProcessInfo.processInfo.environment["DEBUGSERVER_BENCH"] == "1" else {
            throw XCTSkip("benchmark: set DEBUGSERVER_BENCH=1")
        }
        let wrk = "/usr/bin/wrk"
        guard FileManager.default.isExecutableFile(atPath: wrk) else { throw XCTSkip("wrk is not installed") }
        let duration = ProcessInfo.processInfo.environment["DEBUGSERVER_BENCH_SECONDS"] ?? "5"

        try startServer(provider: FakePprofProvider(withTestProfiles: true)) {
            $0.maxConnections = 256
            $0.maxQueuedPerProfile = 64
        }
        let swiftBase = "http://127.0.0.1:\(port)"

        // Build and start the Go peer.
        let peerDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../GoPeers/server").standardized.path
        let binary = FileManager.default.temporaryDirectory.appendingPathComponent("goserver-peer-\(getpid())").path
        let go = ["/root/.pyenv/shims/go", "/usr/local/go/bin/go", "/usr/bin/go"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
        guard let go else { throw XCTSkip("go is not installed") }
        let build = Process()
        build.executableURL = URL(fileURLWithPath: go)
        build.arguments = ["build", "-o", binary, "."]
        build.currentDirectoryURL = URL(fileURLWithPath: peerDirectory)
        try build.run()
        build.waitUntilExit()
        XCTAssertEqual(build.terminationStatus, 0)
        let peer = Process()
        peer.executableURL = URL(fileURLWithPath: binary)
        peer.arguments = ["127.0.0.1:0"]
        let peerOutput = Pipe()
        peer.standardOutput = peerOutput
        try peer.run()
        defer { peer.terminate(); peer.waitUntilExit(); try? FileManager.default.removeItem(atPath: binary) }
        let line = String(decoding: peerOutput.fileHandleForReading.availableDataUntilNewline(), as: UTF8.self)
        let goAddress = try XCTUnwrap(line.split(separator: " ").last.map(String.init))
        let goBase = "http://\(goAddress.trimmingCharacters(in: .whitespacesAndNewlines))"

        for (name, path) in [("index", "/debug/pprof/"), ("fixed_200KiB", "/debug/pprof/big")] {
            for (server, base) in [("swift", swiftBase), ("go", goBase)] {
                let result = try runTool(wrk, ["-t2", "-c16", "-d\(duration)s", "--latency", base + path])
                let text = String(decoding: result.stdout, as: UTF8.self)
                print("{\"bench\":\"debugserver_\(name)\",\"server\":\"\(server)\",\"rps\":\(field(text, "Requests/sec:")),"
                      + "\"latency_avg\":\"\(field(text, "Latency"))\",\"p99\":\"\(field(text, "99%"))\","
                      + "\"non_2xx\":\"\(field(text, "Non-2xx or 3xx responses:"))\"}")
            }
        }
    }

    private func field(_ text: String, _ label: String) -> String {
        for line in text.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix(label) {
                return trimmed.dropFirst(label.count).split(separator: " ").first.map(String.init) ?? ""
            }
        }
        return label == "Non-2xx or 3xx responses:" ? "0" : "?"
    }
}

private extension FileHandle {
    func availableDataUntilNewline() -> Data {
        var data = Data()
        while true {
            let chunk = readData(ofLength: 1)
            if chunk.isEmpty || chunk == Data([10]) { return data }
            data += chunk
        }
    }
}
