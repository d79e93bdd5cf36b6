// The flame-graph page in a real browser (Debian's headless Chromium) against the demo: the script
// runs, and the DOM it builds holds the demo's frames as elements named after their functions. The
// screenshot is kept in the test's temporary directory as an artifact (its path is printed).
import Foundation
import XCTest

final class DemoFlameGraphTests: DemoTestCase {
    private func chromium() throws -> String {
        guard let path = installed("chromium") ?? installed("chromium-browser") else {
            throw XCTSkip("chromium is not installed (apt-get install chromium; scripts/setup.sh does)")
        }
        return path
    }

    private func headless(_ browser: String, _ arguments: [String], profileDir: URL) throws -> ToolResult {
        try runTool(browser, [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--user-data-dir=\(profileDir.path)", "--window-size=1400,900", "--virtual-time-budget=5000",
        ] + arguments)
    }

    func testChromiumRendersTheDemosFramesAndHighlightsASearch() throws {
        let browser = try chromium()
        try startDemo()
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("flamegraph-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        let page = url("/debug/flamegraph?profile=goroutine#search=waitForReply")

        let dom = try headless(browser, ["--dump-dom", page], profileDir: output.appendingPathComponent("profile"))
        let html = String(decoding: dom.stdout, as: UTF8.self)
        XCTAssertEqual(dom.status, 0, dom.stderr)
        let frames = html.components(separatedBy: "class=\"frame").count - 1
        XCTAssertGreaterThan(frames, 5, "the script built the frame elements:\n\(html.prefix(2000))")
        XCTAssertTrue(html.contains("data-name=\"GoroutinesDemo.Workloads.waitForReply(on:)\""), "a demo frame is in the DOM")
        XCTAssertTrue(html.contains("class=\"frame match\""), "the #search preset highlights matching frames")
        XCTAssertTrue(html.contains("matched "), "the status line sums the matches")

        let screenshot = output.appendingPathComponent("flamegraph.png")
        let shot = try headless(browser, ["--screenshot=\(screenshot.path)", page],
                                profileDir: output.appendingPathComponent("profile"))
        XCTAssertEqual(shot.status, 0, shot.stderr)
        let png = try Data(contentsOf: screenshot)
        XCTAssertEqual(Array(png.prefix(4)), [0x89, 0x50, 0x4e, 0x47], "a PNG screenshot")
        try? FileManager.default.removeItem(at: output.appendingPathComponent("profile"))
        print("flame graph screenshot: \(screenshot.path)")
    }
}
