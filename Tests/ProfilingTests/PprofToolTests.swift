import XCTest
@testable import Profiling
import Symbolication

/// Go 1.27's `go tool pprof` must read our profiles without a single warning, and show our function names
/// where they belong. Addresses lie inside this test binary's real executable mapping, which the profiles
/// carry with its path and build id.
final class PprofToolTests: XCTestCase {
    private var go: String!
    private var directory: String!

    override func setUpWithError() throws {
        go = try XCTUnwrap(which("go"), "go (1.27) is not on PATH")
        directory = NSTemporaryDirectory() + "profiling-pprof-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let directory { try? FileManager.default.removeItem(atPath: directory) }
    }

    /// Call-site PCs spread through the test binary's text, with Swift-style names.
    private struct Workload {
        let resolver: FakeResolver
        let park, receive, worker, closure, main: UInt  // return addresses

        init() {
            let image = TestBinary.mapping
            var resolver = FakeResolver(images: [image])
            let base = image.start + 0x100
            func pc(_ n: UInt) -> UInt { base + n * 0x40 }
            resolver.add(pc: pc(0), "Goroutines.Scheduler.park(reason:)", file: "/src/Goroutines/Scheduler.swift", line: 120,
                         startLine: 100, entry: pc(0) - 0x20)
            resolver.add(pc: pc(1), "Goroutines.Channel.receive()", file: "/src/Goroutines/Channel.swift", line: 80,
                         startLine: 70, entry: pc(1) - 0x18, inlined: [("Goroutines.Channel.waitForSender()", 91)])
            resolver.add(pc: pc(2), "ProfilingTests.Worker.run(job:)", file: "/src/App/Worker.swift", line: 42,
                         startLine: 30, entry: pc(2) - 0x30)
            resolver.add(pc: pc(3), "closure #1 in ProfilingTests.main()", file: "/src/App/main.swift", line: 12,
                         startLine: 11, entry: pc(3) - 0x10)
            resolver.add(pc: pc(4), "ProfilingTests.main()", file: "/src/App/main.swift", line: 20, startLine: 5,
                         entry: pc(4) - 0x28)
            self.resolver = resolver
            (park, receive, worker, closure, main) = (pc(0) + 1, pc(1) + 1, pc(2) + 1, pc(3) + 1, pc(4) + 1)
        }
    }

    private func pprof(_ profile: some RenderableProfile, _ name: String, _ flags: [String]) throws -> [String: String] {
        let path = "\(directory!)/\(name).pb.gz"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        XCTAssertGreaterThanOrEqual(fd, 0)
        try profile.write(.gzippedProto, toFileDescriptor: fd)
        close(fd)
        XCTAssertEqual(ProfileValidator.problems(inProto: try Gzip.decompress(Array(FileManager.default.contents(atPath: path)!))), [])
        var outputs: [String: String] = [:]
        for flag in flags {
            let result = try runProcess(go, ["tool", "pprof", flag, path])
            XCTAssertEqual(result.status, 0, "\(flag): \(result.stderr)")
            XCTAssertEqual(result.stderr, "", "go tool pprof \(flag) warned about \(name)")
            outputs[flag] = result.stdout
        }
        return outputs
    }

    func testGoroutineProfile() throws {
        let w = Workload()
        let records = Array(repeating: CountProfileRecord(stack: [w.park, w.receive, w.worker, w.closure, w.main],
                                                          labels: ["tenant": "t1", "worker": "alpha"]), count: 3)
            + [CountProfileRecord(stack: [w.park, w.main])]
        let out = try pprof(CountProfile(name: "goroutine", records: records, resolver: w.resolver), "goroutine",
                            ["-raw", "-top", "-traces", "-tags"])
        let raw = try XCTUnwrap(out["-raw"])
        XCTAssertTrue(raw.contains("PeriodType: goroutine count"), raw)
        XCTAssertTrue(raw.contains("goroutine/count"), raw)
        let top = try XCTUnwrap(out["-top"])
        XCTAssertTrue(top.contains("ProfilingTests.Worker.run(job:)"), top)
        XCTAssertTrue(top.contains("Goroutines.Scheduler.park(reason:)"), top)
        // The leaf (park) is flat for all 4 goroutines.
        XCTAssertNotNil(top.range(of: #"\n\s+4\s+100%\s+100%\s+4\s+100%\s+Goroutines\.Scheduler\.park\(reason:\)"#, options: .regularExpression), top)
        let traces = try XCTUnwrap(out["-traces"])
        // Inlined frame first, then its physical function, in leaf-to-root order.
        let expectedTrace = ["Goroutines.Scheduler.park(reason:)", "Goroutines.Channel.waitForSender()",
                             "Goroutines.Channel.receive()", "ProfilingTests.Worker.run(job:)",
                             "closure #1 in ProfilingTests.main()", "ProfilingTests.main()"]
        var cursor = traces.startIndex
        for name in expectedTrace {
            let found = try XCTUnwrap(traces.range(of: name, range: cursor..<traces.endIndex), "\(name) missing or out of order in\n\(traces)")
            cursor = found.upperBound
        }
        XCTAssertNotNil(traces.range(of: #"tenant:\s+t1\n\s+worker:\s+alpha\n\s+3\s+Goroutines"#, options: .regularExpression), traces)
        let tags = try XCTUnwrap(out["-tags"])
        XCTAssertTrue(tags.contains("tenant: Total 3"), tags)
        XCTAssertTrue(tags.contains("alpha"), tags)
    }

    func testThreadcreateProfileWithEmptyStacks() throws {
        let w = Workload()
        // Threads created before the runtime recorded stacks have none; Go pads those with zeros.
        let records = Array(repeating: CountProfileRecord(stack: []), count: 6) + [CountProfileRecord(stack: [w.closure, w.main, 0, 0])]
        let out = try pprof(CountProfile(name: "threadcreate", records: records, resolver: w.resolver), "threadcreate",
                            ["-raw", "-top", "-traces"])
        let raw = try XCTUnwrap(out["-raw"])
        XCTAssertTrue(raw.contains("threadcreate/count"), raw)
        XCTAssertNotNil(raw.range(of: #"\n\s+6: \n"#, options: .regularExpression), raw)
        XCTAssertTrue(try XCTUnwrap(out["-top"]).contains("closure #1 in ProfilingTests.main()"))
    }

    func testBlockAndMutexProfiles() throws {
        let w = Workload()
        let records = [ContentionRecord(stack: [w.receive, w.worker, w.main], count: 799, delayNanoseconds: 3_147_613_029),
                       ContentionRecord(stack: [w.park, w.closure, w.main], count: 2, delayNanoseconds: 18_876)]
        for kind in [ContentionProfile.Kind.block, .mutex(samplingPeriod: 1)] {
            let profile = ContentionProfile(kind: kind, records: records, resolver: w.resolver)
            let out = try pprof(profile, profile.name, ["-raw", "-top", "-traces"])
            let raw = try XCTUnwrap(out["-raw"])
            XCTAssertTrue(raw.contains("contentions/count delay/nanoseconds"), raw)
            XCTAssertTrue(raw.contains("799 3147613029"), raw)
            let top = try XCTUnwrap(out["-top"])
            XCTAssertTrue(top.contains("Goroutines.Channel.waitForSender()"), top)
            XCTAssertTrue(top.contains("3.15s"), top)  // delay is the default (last) sample type
        }
    }

    func testLegacyTextOfContentionProfilesParses() throws {
        let w = Workload()
        let profile = ContentionProfile(kind: .mutex(samplingPeriod: 1), records: [
            ContentionRecord(stack: [w.receive, w.worker, w.main], count: 10, delayNanoseconds: 5_000_000),
        ], resolver: w.resolver)
        let path = "\(directory!)/mutex.txt"
        try profile.write(.legacyText, to: FileHandle(forWritingTo: createEmptyFile(path)))
        let result = try runProcess(go, ["tool", "pprof", "-raw", "-symbolize=none", path])
        XCTAssertEqual(result.status, 0, result.stderr)
        // cycles/second = 1e9 turns our nanosecond "cycles" back into the same nanoseconds.
        XCTAssertNotNil(result.stdout.range(of: #"\n\s+10\s+5000000: 1 2 3 \n"#, options: .regularExpression), result.stdout)
    }

    func testGenericProfileWithNumericLabelsCommentsAndDefaultType() throws {
        let w = Workload()
        var builder = try ProfileBuilder(
            sampleTypes: [ValueType(type: "alloc_objects", unit: "count"), ValueType(type: "alloc_space", unit: "bytes")],
            periodType: ValueType(type: "space", unit: "bytes"), period: 524_288, defaultSampleType: "alloc_space",
            comments: ["made by the Profiling tests"], resolver: w.resolver)
        try builder.addSample(stack: [w.worker, w.main], values: [4, 16_384], labels: [.number("bytes", 4096, unit: "bytes")])
        try builder.addSample(stack: [w.closure, w.main], values: [1, 64], labels: [.number("bytes", 64)])
        let out = try pprof(builder.build(), "allocs", ["-raw", "-top", "-tags"])
        let raw = try XCTUnwrap(out["-raw"])
        XCTAssertTrue(raw.contains("Comment:"), raw)
        XCTAssertTrue(raw.contains("made by the Profiling tests"), raw)
        XCTAssertTrue(try XCTUnwrap(out["-top"]).contains("alloc_space"))
        let tags = try XCTUnwrap(out["-tags"])
        XCTAssertTrue(tags.contains("bytes"), tags)
        XCTAssertTrue(tags.contains("4kB") || tags.contains("4096"), tags)
    }
}
