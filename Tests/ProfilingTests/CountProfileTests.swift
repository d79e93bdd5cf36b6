import XCTest
@testable import Profiling
import Symbolication

/// Go's goroutine-text rules, expressed for the frame names of Go's own captures.
let goTextFilter = StackTextFilter(
    omits: { $0.function == "runtime.goexit" },
    hidesWhileLeading: { $0.function.hasPrefix("runtime.") || $0.function.hasPrefix("internal/runtime/") })

final class CountProfileTests: XCTestCase {
    /// Records that reproduce a captured count-profile text: every group expanded to `count` records,
    /// shuffled, so grouping and ordering are ours to redo.
    private func records(from parsed: [TextRecord]) -> [CountProfileRecord] {
        var records: [CountProfileRecord] = []
        for record in parsed {
            for _ in 0..<record.numbers[0] { records.append(CountProfileRecord(stack: record.stack, labels: record.labels)) }
        }
        var generator = SeededGenerator(seed: 7)
        records.shuffle(using: &generator)
        return records
    }

    func testGoroutineTextReproducesGoCaptureByteForByte() throws {
        try XCTSkipUnless(GoCaptures.available("goroutine.debug1.txt"), "Go captures not present")
        let expected = try GoCaptures.body("goroutine.debug1.txt")
        let (parsed, resolver) = LegacyTextParser.parse(expected)
        let profile = CountProfile(name: "goroutine", records: records(from: parsed), resolver: resolver, textFilter: goTextFilter)
        XCTAssertEqual(profile.total, 11)
        XCTAssertEqual(profile.legacyText(), expected)
    }

    func testThreadcreateTextMatchesGoCaptureExceptZeroPadding() throws {
        try XCTSkipUnless(GoCaptures.available("threadcreate.debug1.txt"), "Go captures not present")
        let capture = try GoCaptures.body("threadcreate.debug1.txt")
        let (parsed, resolver) = LegacyTextParser.parse(capture)
        let profile = CountProfile(name: "threadcreate", records: records(from: parsed), resolver: resolver, textFilter: goTextFilter)
        // Go 1.27 pads every stack to 32 entries with 0x0; our stacks end at their last frame, and an empty
        // stack prints one 0x0 so pprof's parser (which needs an address) still accepts it.
        let expected = capture.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            guard line.contains(" @ ") else { return String(line) }
            var trimmed = String(line)
            while trimmed.hasSuffix(" 0x0") { trimmed.removeLast(4) }
            return trimmed.hasSuffix("@") ? trimmed + " 0x0" : trimmed
        }.joined(separator: "\n")
        XCTAssertEqual(profile.legacyText(), expected)
        XCTAssertTrue(profile.legacyText().hasPrefix("threadcreate profile: total 7\n6 @ 0x0\n#\t0x0\n\n1 @ 0x456ba5 "))
    }

    func testGoroutineProtoMatchesGoCaptureModel() throws {
        try XCTSkipUnless(GoCaptures.available("goroutine.decoded.txt"), "Go captures not present")
        let go = ProtoText.parse(try String(contentsOfFile: GoCaptures.directory + "goroutine.decoded.txt", encoding: .utf8)).profile()
        let resolver = FakeResolver(replaying: go)
        let byID = Dictionary(uniqueKeysWithValues: go.locations.map { ($0.id, $0.address) })
        var records: [CountProfileRecord] = []
        for sample in go.samples {
            let stack = sample.locationIDs.map { UInt(byID[$0]!) + 1 }
            let labels = Dictionary(uniqueKeysWithValues: sample.labels.compactMap { label -> (String, String)? in
                if case .string(let value) = label.value { return (label.key, value) }
                return nil
            })
            for _ in 0..<sample.values[0] { records.append(CountProfileRecord(stack: stack, labels: labels)) }
        }
        let ours = try CountProfile(name: "goroutine", records: records.reversed(), resolver: resolver,
                                    timeNanos: go.timeNanos).pprofProfile()

        XCTAssertEqual(ours.sampleTypes, go.sampleTypes)
        XCTAssertEqual(ours.periodType, go.periodType)
        XCTAssertEqual(ours.period, 1)
        XCTAssertEqual(ours.defaultSampleType, "")
        XCTAssertEqual(ours.durationNanos, 0)
        XCTAssertEqual(ours.timeNanos, go.timeNanos)
        XCTAssertEqual(ours.functions, go.functions)
        XCTAssertEqual(ours.locations, go.locations)
        // Same mappings; we also state has_filenames/has_line_numbers/has_inline_frames where they are true
        // (Go never sets them).
        XCTAssertEqual(ours.mappings.map { mapping in
            var m = mapping
            m.hasFilenames = false
            m.hasLineNumbers = false
            m.hasInlineFrames = false
            return m
        }, go.mappings)
        XCTAssertTrue(ours.mappings[0].hasInlineFrames)
        XCTAssertEqual(ours.mappings.map(\.hasFunctions), go.mappings.map(\.hasFunctions))
        // The same samples with the same labels, sorted by key; counts never increase along the list.
        XCTAssertEqual(Set(ours.samples), Set(go.samples))
        XCTAssertEqual(ours.samples.map { $0.values[0] }, ours.samples.map { $0.values[0] }.sorted(by: >))
        for sample in ours.samples {
            XCTAssertEqual(sample.labels.map(\.key), sample.labels.map(\.key).sorted())
        }
        XCTAssertEqual(ProfileValidator.problems(inProto: ours.encodedProto()), [])
    }

    func testGroupingOrderingAndLabels() throws {
        var resolver = FakeResolver(images: [ImageMapping(start: 0x1000, limit: 0x9000, fileOffset: 0, path: "/app", buildID: "ab")])
        resolver.add(pc: 0x1000, "App.a()")
        resolver.add(pc: 0x2000, "App.b()")
        let records = [
            CountProfileRecord(stack: [0x2001], labels: ["worker": "w\"1", "tenant": "t1"]),
            CountProfileRecord(stack: [0x1001]),
            CountProfileRecord(stack: [0x2001]),
            CountProfileRecord(stack: [0x1001, 0]),
            CountProfileRecord(stack: [0x2001], labels: ["tenant": "t1", "worker": "w\"1"]),
            CountProfileRecord(stack: []),
        ]
        let profile = CountProfile(name: "goroutine", records: records, resolver: resolver)
        XCTAssertEqual(profile.groups.map(\.count), [2, 2, 1, 1])
        XCTAssertEqual(profile.groups.map(\.textKey), [
            "@ 0x1001",
            "@ 0x2001\n# labels: {\"tenant\":\"t1\", \"worker\":\"w\\\"1\"}",
            "@ 0x0",
            "@ 0x2001",
        ])
        let proto = try profile.pprofProfile()
        XCTAssertEqual(proto.samples.map(\.values), [[2], [2], [1], [1]])
        XCTAssertEqual(proto.samples[1].labels, [.string("tenant", "t1"), .string("worker", "w\"1")])
        XCTAssertEqual(proto.samples[2].locationIDs, [])
        XCTAssertEqual(ProfileValidator.problems(inProto: proto.encodedProto()), [])
        XCTAssertEqual(profile.legacyText(), """
            goroutine profile: total 6
            2 @ 0x1001
            #\t0x1000\tApp.a()+0x0\t/src/app/main.swift:10

            2 @ 0x2001
            # labels: {"tenant":"t1", "worker":"w\\"1"}
            #\t0x2000\tApp.b()+0x0\t/src/app/main.swift:10

            1 @ 0x0
            #\t0x0

            1 @ 0x2001
            #\t0x2000\tApp.b()+0x0\t/src/app/main.swift:10


            """)
    }

    func testHiddenRuntimeFramesReappearWhenNothingElseIsLeft() {
        var resolver = FakeResolver()
        resolver.add(pc: 0x1000, "runtime.park", entry: 0xff0)
        resolver.add(pc: 0x2000, "runtime.main", entry: 0x1f00)
        resolver.add(pc: 0x3000, "App.work()", entry: 0x2f00)
        resolver.add(pc: 0x4000, "runtime.goexit", entry: 0x4000)
        let text = CountProfile(name: "goroutine", records: [
            CountProfileRecord(stack: [0x1001, 0x3001, 0x2001, 0x4001]),
            CountProfileRecord(stack: [0x1001, 0x2001, 0x4001]),
            CountProfileRecord(stack: [0x4001]),
        ], resolver: resolver, textFilter: goTextFilter).legacyText()
        XCTAssertEqual(text, """
            goroutine profile: total 3
            1 @ 0x1001 0x2001 0x4001
            #\t0x1000\truntime.park+0x10\t/src/app/main.swift:10
            #\t0x2000\truntime.main+0x100\t/src/app/main.swift:10

            1 @ 0x1001 0x3001 0x2001 0x4001
            #\t0x3000\tApp.work()+0x100\t/src/app/main.swift:10
            #\t0x2000\truntime.main+0x100\t/src/app/main.swift:10

            1 @ 0x4001


            """)
    }

    func testPprofReadsTheTextWithoutComplaint() throws {
        let go = try XCTUnwrap(which("go"), "go is not installed")
        let capture = try GoCaptures.body("goroutine.debug1.txt")
        let (parsed, resolver) = LegacyTextParser.parse(capture)
        let profile = CountProfile(name: "threadcreate", records: [CountProfileRecord(stack: [])] + records(from: parsed),
                                   resolver: resolver, textFilter: goTextFilter)
        let path = NSTemporaryDirectory() + "profiling-count-\(getpid()).txt"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try profile.write(.legacyText, to: FileHandle(forWritingTo: createEmptyFile(path)))
        let result = try runProcess(go, ["tool", "pprof", "-raw", "-symbolize=none", path])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("PeriodType: threadcreate count"), result.stdout)
        XCTAssertTrue(result.stdout.contains("      3: 1 2 3 4 "), result.stdout)  // the count-3 group leads
    }
}

func createEmptyFile(_ path: String) -> URL {
    _ = FileManager.default.createFile(atPath: path, contents: Data())
    return URL(fileURLWithPath: path)
}

/// Deterministic shuffles (SplitMix64).
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e3779b97f4a7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58476d1ce4e5b9
        z = (z ^ (z >> 27)) &* 0x94d049bb133111eb
        return z ^ (z >> 31)
    }
}
