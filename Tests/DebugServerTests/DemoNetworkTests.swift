// The demo's key/value service on goroutine sockets (issue 12): it answers real clients, and goroutine dumps
// show its handlers in `[IO wait]` with their own frames, beside the other common wait reasons.
import Foundation
import Goroutines
import XCTest

final class DemoNetworkTests: DemoTestCase {
    private func serviceAddress() throws -> String {
        let text = demo.stdout
        let match = try XCTUnwrap(text.range(of: #"key/value service on 127\.0\.0\.1:[0-9]+"#, options: .regularExpression), text)
        return String(text[match].dropFirst("key/value service on ".count))
    }

    func testKeyValueServiceAnswersAClient() throws {
        try startDemo()
        let conn = try Net.dial("tcp", try serviceAddress(), timeout: .seconds(5))
        try conn.write("SET tour-key 42\nGET tour-key\nDEL tour-key\nGET tour-key\nPING\nQUIT\n")
        var received: [UInt8] = []
        while true {
            let chunk = try conn.read(upTo: 4096)
            if chunk.isEmpty { break }
            received += chunk
        }
        try conn.close()
        XCTAssertEqual(String(decoding: received, as: UTF8.self), "OK\nVALUE 42\nDELETED\nNOT_FOUND\nPONG\nBYE\n")
    }

    func testDumpsShowIOWaitHandlersAndMutexAndWaitGroupWaits() throws {
        try startDemo()
        // Goroutine headers, whatever the label quoting: "goroutine 12 [IO wait] {workload: "kv-server"}:".
        let wanted: [String: (String, String)] = [
            "kv-server handler in IO wait": ("[IO wait", "kv-server"),
            "kv-client in IO wait": ("[IO wait", "kv-client"),
            "mutex waiter": ("[sync.Mutex.Lock", "mutex-hotspot"),
            "fan-in": ("[sync.WaitGroup.Wait", "fan-out"),
        ]
        // Mutex and WaitGroup waits come and go: look at a few dumps until each has been seen.
        var missing = Set(wanted.keys)
        var last = ""
        let deadline = Date().addingTimeInterval(20)
        while !missing.isEmpty && Date() < deadline {
            last = try get("/debug/pprof/goroutine?debug=2").text
            let headers = last.split(separator: "\n").filter { $0.hasPrefix("goroutine ") }
            missing = missing.filter { key in
                let (reason, label) = wanted[key]!
                return !headers.contains { $0.contains(reason) && $0.contains(label) }
            }
            usleep(100_000)
        }
        XCTAssertTrue(last.contains("GoroutinesDemo.KeyValueService.serve(_:)"), "handlers show their own frames")
        XCTAssertEqual(missing, [], last)
    }
}
