import CSampling
import XCTest
@testable import Profiling
import Symbolication

/// Stacks captured from this process with the frame-pointer walker and symbolized by the real
/// `Symbolizer`: what the runtime's profiles will look like to `go tool pprof`.
final class RealStackTests: XCTestCase {
    @inline(never)
    static func captureHere() -> [UInt] {
        var buffer = [UInt](repeating: 0, count: 64)
        let depth = buffer.withUnsafeMutableBufferPointer { gr_heap_current_stack($0.baseAddress, $0.count) }
        return Array(buffer.prefix(depth))
    }

    @inline(never)
    static func innerWorker(_ n: Int) -> [UInt] {
        let stack = captureHere()
        blackHole(n)
        return stack
    }

    @inline(never)
    static func outerWorker(_ n: Int) -> [UInt] {
        let stack = innerWorker(n + 1)
        blackHole(n)
        return stack
    }

    func testPprofNamesOurSwiftFunctionsFromARealStack() throws {
        let go = try XCTUnwrap(which("go"), "go is not installed")
        let stack = RealStackTests.outerWorker(1)
        XCTAssertGreaterThan(stack.count, 3)
        let profile = CountProfile(name: "goroutine", records: Array(repeating: CountProfileRecord(stack: stack), count: 2),
                                   resolver: Symbolizer.shared)
        let proto = try profile.pprofProfile()
        XCTAssertEqual(ProfileValidator.problems(inProto: proto.encodedProto()), [])
        let names = proto.functions.map(\.name)
        XCTAssertTrue(names.contains { $0.contains("innerWorker") }, "\(names)")
        XCTAssertTrue(names.contains { $0.contains("outerWorker") }, "\(names)")
        XCTAssertTrue(proto.mappings[0].filename.hasSuffix(".xctest"), proto.mappings[0].filename)
        XCTAssertFalse(proto.mappings[0].buildID.isEmpty)
        XCTAssertTrue(proto.mappings[0].hasFunctions)

        let path = NSTemporaryDirectory() + "profiling-real-\(getpid()).pb.gz"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try profile.write(.gzippedProto, to: FileHandle(forWritingTo: createEmptyFile(path)))
        let traces = try runProcess(go, ["tool", "pprof", "-traces", path])
        XCTAssertEqual(traces.status, 0, traces.stderr)
        XCTAssertEqual(traces.stderr, "")
        let inner = try XCTUnwrap(traces.stdout.range(of: "innerWorker"), traces.stdout)
        let outer = try XCTUnwrap(traces.stdout.range(of: "outerWorker"), traces.stdout)
        XCTAssertLessThan(inner.lowerBound, outer.lowerBound, "leaf first")

        let text = profile.legacyText()
        XCTAssertTrue(text.hasPrefix("goroutine profile: total 2\n2 @ 0x"), text)
        XCTAssertNotNil(text.range(of: #"\n#\t0x[0-9a-f]+\t[^\t]*innerWorker[^\t]*\+0x[0-9a-f]+\t+/\S+RealStackTests\.swift:\d+\n"#,
                                   options: .regularExpression), text)
    }
}

@inline(never)
func blackHole<T>(_ value: T) {
    withExtendedLifetime(value) {}
}
