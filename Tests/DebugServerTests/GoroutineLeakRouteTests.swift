// /debug/pprof/goroutineleak served by the real provider (issue 16): Go 1.27's goroutine-profile shapes
// over the goroutines the leak scan proves can never be woken.
import DebugServer
import Foundation
import Goroutines
import XCTest

/// Labels belong to goroutines: a goroutine labels itself and starts the two that leak (they inherit).
@inline(never) private func leakTwoLabelledGoroutines() {
    go {
        Go.setGoroutineLabels(["leakroute": "yes"])
        for _ in 0..<2 {
            let orphan = Channel<Int>()
            go { _ = orphan.receive() }
        }
    }
}

final class GoroutineLeakRouteTests: XCTestCase {
    private var server: DebugServer!

    override func setUpWithError() throws {
        server = DebugServer(configuration: DebugServerConfiguration(address: "127.0.0.1:0"), provider: RuntimePprofProvider())
        try server.start()
    }

    override func tearDown() {
        server?.stop()
        server = nil
        super.tearDown()
    }

    private func get(_ target: String) throws -> ParsedResponse {
        let connection = try RawConnection(port: server.boundTCPPort!, receiveTimeout: 30)
        connection.send("GET \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        return try XCTUnwrap(ParsedResponse(connection.readToEnd().0), "no response to \(target)")
    }

    func testLeakedGoroutinesAreServedInEveryFormAndCountedInTheIndex() throws {
        leakTwoLabelledGoroutines()
        go { Go.sleep(for: .seconds(30)) }   // alive, not leaked
        let deadline = Date().addingTimeInterval(10)
        while RuntimeSnapshot.goroutines(withStacks: false).filter({ g in
            g.status == .waiting && g.labels.contains { $0.key == "leakroute" }
        }).count < 2 {
            guard Date() < deadline else { return XCTFail("the goroutines never parked") }
            Thread.sleep(forTimeInterval: 0.001)
        }

        let text = try get("/debug/pprof/goroutineleak?debug=1")
        XCTAssertEqual(text.status, 200)
        let body = String(decoding: text.body, as: UTF8.self)
        XCTAssertTrue(body.hasPrefix("goroutineleak profile: total "), body)
        // Both wait at the same place with the same labels: one group. This process has run many other
        // tests, and a conservative scan may miss a leak whose channel address lingers in stale memory
        // (the exact counts are checked in a fresh process: LeakDetectionTests), so 1 or 2.
        let lines = body.split(separator: "\n", omittingEmptySubsequences: false)
        let labels = try XCTUnwrap(lines.firstIndex(of: "# labels: {\"leakroute\":\"yes\"}"), body)
        XCTAssertTrue(labels > 0 && (lines[labels - 1].hasPrefix("2 @ 0x") || lines[labels - 1].hasPrefix("1 @ 0x")), body)

        let proto = try get("/debug/pprof/goroutineleak")
        XCTAssertEqual(proto.status, 200)
        XCTAssertEqual(proto.headers.first { $0.0.lowercased() == "content-disposition" }?.1, #"attachment; filename="goroutineleak""#)
        XCTAssertEqual(Array(proto.body.prefix(2)), [0x1f, 0x8b], "a gzipped profile.proto")

        let dump = String(decoding: try get("/debug/pprof/goroutineleak?debug=2").body, as: UTF8.self)
        let leakedHeaders = dump.split(separator: "\n").filter { $0.hasSuffix(" [chan receive (leaked)] {leakroute: yes}:") }
        XCTAssertTrue((1...2).contains(leakedHeaders.count), dump)
        XCTAssertTrue(dump.contains(" [sleep]:"), "debug=2 dumps every goroutine, leaked or not, as Go's does")

        let index = String(decoding: try get("/debug/pprof/").body, as: UTF8.self)
        let row = try XCTUnwrap(index.split(separator: "\n").first { $0.hasSuffix("<a href='goroutineleak?debug=1'>goroutineleak</a></td></tr>") })
        let count = Int(row.dropFirst("<tr><td>".count).prefix { $0.isNumber }) ?? -1
        XCTAssertGreaterThanOrEqual(count, leakedHeaders.count, String(row))
        XCTAssertTrue(index.contains("<li><div class=profile-name>goroutineleak: </div> Stack traces of all leaked goroutines. Use debug=2 as a query parameter to export in the same format as an unrecovered panic.</li>"))
    }
}
