// `go tool pprof` (Go 1.27) against the server: it fetches a profile whose mapping has no function
// data, so it must POST the addresses to /debug/pprof/symbol and use our names — the case Go ≥1.23's
// own server breaks with a 405.
import DebugServer
import Foundation
import XCTest

final class GoToolPprofTests: ServerTestCase {
    /// A provider whose goroutine profile is an unsymbolized profile.proto (addresses only).
    final class UnsymbolizedProvider: PprofProvider {
        let profiles = [PprofProfileInfo(name: "goroutine", count: 1, description: "unsymbolized", supportsDelta: false)]
        let symbolRequests = Atomic<Int>(0)

        func render(_ name: String, debug: Int, gcFirst: Bool, cancel: CancellationCheck) throws -> [UInt8] {
            let strings = ["", "goroutine", "count", "/nonexistent/fakebinary"]
            var profile = ProtoWriter()
            profile.message(1) { $0.varint(1, 1); $0.varint(2, 2) }            // sample_type goroutine/count
            profile.message(2) { $0.packed(1, [1, 2]); $0.packed(2, [7]) }     // sample: 7 at [leaf, caller]
            profile.message(3) {                                                // mapping without has_functions
                $0.varint(1, 1); $0.varint(2, 0x400000); $0.varint(3, 0x800000); $0.varint(5, 3)
            }
            profile.message(4) { $0.varint(1, 1); $0.varint(2, 1); $0.varint(3, 0x401234) }
            profile.message(4) { $0.varint(1, 2); $0.varint(2, 1); $0.varint(3, 0x405678) }
            for string in strings { profile.bytes(6, Array(string.utf8)) }
            profile.message(11) { $0.varint(1, 1); $0.varint(2, 2) }           // period_type
            profile.varint(12, 1)                                               // period
            return profile.bytes
        }

        func delta(_ name: String, seconds: Int, cancel: CancellationCheck) throws -> [UInt8] { throw PprofError.deltaFailed }

        func symbolize(_ pcs: [UInt]) -> [(pc: UInt, name: String)] {
            symbolRequests.add(1, ordering: .relaxed)
            return pcs.map { ($0, "demo.function_\(String($0, radix: 16))") }
        }
    }

    func testGoToolPprofSymbolizesThroughPostSymbol() throws {
        guard let go = ["/root/.pyenv/shims/go", "/usr/local/go/bin/go", "/usr/bin/go"].first(where: {
            FileManager.default.isExecutableFile(atPath: $0)
        }) else { throw XCTSkip("go is not installed") }
        let provider = UnsymbolizedProvider()
        var configuration = DebugServerConfiguration(address: "127.0.0.1:0")
        configuration.readHeaderTimeout = .seconds(5)
        server = DebugServer(configuration: configuration, provider: provider)
        try server.start()

        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("pprof-\(getpid())").path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        setenv("PPROF_TMPDIR", scratch, 1)
        let result = try runTool(go, ["tool", "pprof", "-raw", url("/debug/pprof/goroutine")])
        let output = String(decoding: result.stdout, as: UTF8.self)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertGreaterThan(provider.symbolRequests.load(ordering: .relaxed), 0, "pprof never asked /symbol")
        // pprof looks up the call-site addresses it was given.
        XCTAssertTrue(output.contains("demo.function_401234"), output + result.stderr)
        XCTAssertTrue(output.contains("demo.function_405678"), output)
    }
}

/// Just enough protobuf writing for a hand-made profile.proto (varints and length-delimited fields).
struct ProtoWriter {
    private(set) var bytes: [UInt8] = []

    private mutating func rawVarint(_ value: UInt64) {
        var value = value
        while value >= 0x80 { bytes.append(UInt8(value & 0x7f) | 0x80); value >>= 7 }
        bytes.append(UInt8(value))
    }

    mutating func varint(_ field: Int, _ value: UInt64) {
        rawVarint(UInt64(field << 3))
        rawVarint(value)
    }

    mutating func bytes(_ field: Int, _ payload: [UInt8]) {
        rawVarint(UInt64(field << 3 | 2))
        rawVarint(UInt64(payload.count))
        bytes += payload
    }

    mutating func packed(_ field: Int, _ values: [UInt64]) {
        var inner = ProtoWriter()
        for value in values { inner.rawVarint(value) }
        bytes(field, inner.bytes)
    }

    mutating func message(_ field: Int, _ build: (inout ProtoWriter) -> Void) {
        var inner = ProtoWriter()
        build(&inner)
        bytes(field, inner.bytes)
    }
}

import Synchronization
