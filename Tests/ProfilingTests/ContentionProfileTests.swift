import XCTest
@testable import Profiling
import Symbolication

final class ContentionProfileTests: XCTestCase {
    private let goexitOnly = StackTextFilter(omits: { $0.function == "runtime.goexit" })

    /// Our text uses nanoseconds as cycles, so only the rate line differs from Go's capture.
    private func reproduce(_ file: String, kind: ContentionProfile.Kind) throws {
        try XCTSkipUnless(GoCaptures.available(file), "Go captures not present")
        let capture = try GoCaptures.body(file)
        let (parsed, resolver) = LegacyTextParser.parse(capture)
        var records = parsed.map { ContentionRecord(stack: $0.stack, count: $0.numbers[1], delayNanoseconds: $0.numbers[0]) }
        var generator = SeededGenerator(seed: 3)
        records.shuffle(using: &generator)
        let profile = ContentionProfile(kind: kind, records: records, resolver: resolver, textFilter: goexitOnly)
        let expected = capture.replacingOccurrences(of: "cycles/second=2596119717", with: "cycles/second=1000000000")
        XCTAssertEqual(profile.legacyText(), expected)
    }

    func testBlockTextReproducesGoCapture() throws {
        try reproduce("block.debug1.txt", kind: .block)
    }

    func testMutexTextReproducesGoCapture() throws {
        try reproduce("mutex.debug1.txt", kind: .mutex(samplingPeriod: 1))
    }

    func testProtoShapeMatchesGoCapture() throws {
        try XCTSkipUnless(GoCaptures.available("block.decoded.txt"), "Go captures not present")
        let go = ProtoText.parse(try String(contentsOfFile: GoCaptures.directory + "block.decoded.txt", encoding: .utf8)).profile()
        let resolver = FakeResolver(replaying: go)
        let byID = Dictionary(uniqueKeysWithValues: go.locations.map { ($0.id, $0.address) })
        let records = go.samples.map { sample in
            ContentionRecord(stack: sample.locationIDs.map { UInt(byID[$0]!) + 1 }, count: sample.values[0],
                             delayNanoseconds: sample.values[1])
        }
        let ours = try ContentionProfile(kind: .block, records: records.reversed(), resolver: resolver,
                                         timeNanos: go.timeNanos).pprofProfile()
        XCTAssertEqual(ours.sampleTypes, [ValueType(type: "contentions", unit: "count"), ValueType(type: "delay", unit: "nanoseconds")])
        XCTAssertEqual(ours.sampleTypes, go.sampleTypes)
        XCTAssertEqual(ours.periodType, go.periodType)
        XCTAssertEqual(ours.period, go.period)
        XCTAssertEqual(ours.samples, go.samples)  // same order: delay descending
        XCTAssertEqual(ours.locations, go.locations)
        XCTAssertEqual(ours.functions, go.functions)
        XCTAssertEqual(ProfileValidator.problems(inProto: ours.encodedProto()), [])
    }

    func testMutexHeaderAndEmptyProfile() throws {
        let empty = ContentionProfile(kind: .mutex(samplingPeriod: 5), records: [], resolver: FakeResolver())
        XCTAssertEqual(empty.legacyText(), "--- mutex:\ncycles/second=1000000000\nsampling period=5\n")
        // With sampling off there are no records, but scrapers still need a valid profile with its types.
        let proto = try empty.pprofProfile()
        XCTAssertEqual(proto.sampleTypes.count, 2)
        XCTAssertEqual(proto.samples, [])
        XCTAssertEqual(ProfileValidator.problems(inProto: try empty.render(.proto)), [])
        XCTAssertEqual(try Profile(proto: try empty.render(.gzippedProto)), proto)
    }
}
