import XCTest
@testable import Profiling
import Symbolication

final class ProfileMergeTests: XCTestCase {
    private func resolver() -> FakeResolver {
        var resolver = FakeResolver(images: [
            ImageMapping(start: 0x400000, limit: 0x500000, fileOffset: 0, path: "/srv/app", buildID: "aa"),
            ImageMapping(start: 0x7f0000000000, limit: 0x7f0000100000, fileOffset: 0, path: "/lib/libc.so.6", buildID: "bb"),
        ])
        resolver.add(pc: 0x401000, "App.a()", inlined: [("App.inlined()", 5)])
        resolver.add(pc: 0x402000, "App.b()")
        resolver.add(pc: 0x403000, "App.c()")
        resolver.add(pc: 0x404000, "App.main()")
        return resolver
    }

    private let a: [UInt] = [0x401001, 0x404001], b: [UInt] = [0x402001, 0x404001], c: [UInt] = [0x403001, 0x404001]

    private func goroutines(_ records: [([UInt], Int)], time: Int64, labels: [String: String] = [:]) throws -> Profile {
        let expanded = records.flatMap { stack, count in Array(repeating: CountProfileRecord(stack: stack, labels: labels), count: count) }
        return try CountProfile(name: "goroutine", records: expanded, resolver: resolver(), timeNanos: time).pprofProfile()
    }

    /// Sample values keyed by the function names of their stacks, independent of ids.
    private func valuesByStack(_ profile: Profile) -> [String: [Int64]] {
        let functions = Dictionary(uniqueKeysWithValues: profile.functions.map { ($0.id, $0.name) })
        let locations = Dictionary(uniqueKeysWithValues: profile.locations.map { ($0.id, $0) })
        var result: [String: [Int64]] = [:]
        for sample in profile.samples {
            let names = sample.locationIDs.flatMap { locations[$0]!.lines.map { functions[$0.functionID]! } }
            result[names.joined(separator: ";") + sample.labels.map { " \($0.key)" }.joined()] = sample.values
        }
        return result
    }

    func testDeltaSubtractsMatchingStacksAndKeepsOneSidedOnes() throws {
        let before = try goroutines([(a, 3), (b, 1)], time: 1_000)
        let after = try goroutines([(c, 2), (a, 4)], time: 6_000)
        let delta = try after.delta(since: before)
        XCTAssertEqual(valuesByStack(delta), [
            "App.inlined();App.a();App.main()": [1],
            "App.b();App.main()": [-1],
            "App.c();App.main()": [2],
        ])
        XCTAssertEqual(delta.timeNanos, 6_000)
        XCTAssertEqual(delta.durationNanos, 5_000)
        XCTAssertEqual(delta.sampleTypes, after.sampleTypes)
        XCTAssertEqual(delta.periodType, after.periodType)
        XCTAssertEqual(delta.period, 1)
        XCTAssertEqual(delta.locations.map(\.id), Array(1...UInt64(delta.locations.count)))
        // Only the main executable is used, and it keeps id 1 with its symbol flags.
        XCTAssertEqual(delta.mappings.map(\.filename), ["/srv/app"])
        XCTAssertTrue(delta.mappings[0].hasFunctions && delta.mappings[0].hasInlineFrames)
        XCTAssertEqual(ProfileValidator.problems(inProto: delta.encodedProto()), [])
    }

    func testUnchangedProfilesGiveAnEmptyButValidDelta() throws {
        let before = try goroutines([(a, 3)], time: 1)
        let after = try goroutines([(a, 3)], time: 2)
        let delta = try after.delta(since: before)
        XCTAssertEqual(delta.samples, [])
        XCTAssertEqual(delta.locations, [])
        XCTAssertEqual(delta.sampleTypes, [ValueType(type: "goroutine", unit: "count")])
        XCTAssertEqual(ProfileValidator.problems(inProto: delta.encodedProto()), [])
    }

    func testLabelsSeparateSamplesAndTheirOrderDoesNot() throws {
        let type = ValueType(type: "contentions", unit: "count")
        let base = Profile(sampleTypes: [type], samples: [
            Sample(locationIDs: [], values: [5], labels: [.string("k", "1"), .string("j", "2")]),
            Sample(locationIDs: [], values: [7], labels: [.string("k", "other")]),
        ])
        let next = Profile(sampleTypes: [type], samples: [
            Sample(locationIDs: [], values: [8], labels: [.string("j", "2"), .string("k", "1")]),
        ])
        let merged = try Profile.merge([base, next])
        XCTAssertEqual(merged.samples.map(\.values), [[13], [7]])
    }

    func testMergingAGoProfileWithItselfDoublesEveryValue() throws {
        try XCTSkipUnless(GoCaptures.available("block.decoded.txt"), "Go captures not present")
        let go = ProtoText.parse(try String(contentsOfFile: GoCaptures.directory + "block.decoded.txt", encoding: .utf8)).profile()
        let doubled = try Profile.merge([go, go])
        XCTAssertEqual(doubled.samples.map(\.values), go.samples.map { $0.values.map { $0 * 2 } })
        XCTAssertEqual(doubled.locations.map(\.address), go.locations.map(\.address))
        XCTAssertEqual(ProfileValidator.problems(inProto: doubled.encodedProto()), [])
    }

    func testIncompatibleProfilesAreRefused() throws {
        let goroutine = try goroutines([(a, 1)], time: 1)
        let block = try ContentionProfile(kind: .block, records: [], resolver: resolver()).pprofProfile()
        XCTAssertThrowsError(try goroutine.delta(since: block)) { error in
            XCTAssertTrue(String(describing: error).contains("sample types differ (contentions/count,delay/nanoseconds vs goroutine/count)"),
                          "\(error)")
        }
        XCTAssertThrowsError(try Profile.merge([])) { XCTAssertEqual($0 as? ProfileMergeError, .nothingToMerge) }
        var broken = goroutine
        broken.samples[0].locationIDs = [99]
        XCTAssertThrowsError(try Profile.merge([broken])) {
            XCTAssertEqual($0 as? ProfileMergeError, .danglingReference("a sample refers to missing location 99"))
        }
    }

    func testPprofReadsADelta() throws {
        let go = try XCTUnwrap(which("go"), "go is not installed")
        let before = try goroutines([(a, 3), (b, 1)], time: 1_000_000_000)
        let after = try goroutines([(c, 2), (a, 4)], time: 6_000_000_000)
        for (name, profile) in [("delta", try after.delta(since: before)), ("empty", try after.delta(since: after))] {
            let path = NSTemporaryDirectory() + "profiling-\(name)-\(getpid()).pb.gz"
            defer { try? FileManager.default.removeItem(atPath: path) }
            try profile.write(.gzippedProto, to: FileHandle(forWritingTo: createEmptyFile(path)))
            let result = try runProcess(go, ["tool", "pprof", "-raw", path])
            XCTAssertEqual(result.status, 0, result.stderr)
            XCTAssertEqual(result.stderr, "", name)
            if name == "delta" { XCTAssertTrue(result.stdout.contains("Duration: 5s"), result.stdout) }
        }
    }
}
