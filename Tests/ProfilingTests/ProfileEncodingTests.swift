import XCTest
@testable import Profiling

final class ProfileEncodingTests: XCTestCase {
    func testSmallProfileEncodesToHandComputedBytes() {
        let countType = ValueType(type: "a", unit: "b")
        let profile = Profile(sampleTypes: [countType], samples: [Sample(locationIDs: [1], values: [3])],
                              locations: [Location(id: 1, mappingID: 0, address: 0x10)], timeNanos: 5,
                              periodType: countType, period: 1)
        let expected: [UInt8] = [
            0x5a, 0x04, 0x08, 0x01, 0x10, 0x02,  // period_type (11) {type: 1, unit: 2}
            0x60, 0x01,                          // period (12) = 1
            0x0a, 0x04, 0x08, 0x01, 0x10, 0x02,  // sample_type (1)
            0x22, 0x04, 0x08, 0x01, 0x18, 0x10,  // location (4) {id 1, address 0x10}
            0x12, 0x04, 0x10, 0x03, 0x08, 0x01,  // sample (2) {value 3, location_id 1}: values first, as Go
            0x48, 0x05,                          // time_nanos (9)
            0x32, 0x00, 0x32, 0x01, 0x61, 0x32, 0x01, 0x62,  // string_table: "", "a", "b"
        ]
        XCTAssertEqual(profile.encodedProto(), expected)
    }

    func testEveryFieldSurvivesARoundTrip() throws {
        let profile = Profile(
            sampleTypes: [ValueType(type: "alloc_objects", unit: "count"), ValueType(type: "alloc_space", unit: "bytes"),
                          ValueType(type: "inuse_objects", unit: "count")],
            samples: [
                Sample(locationIDs: [1, 2, 3], values: [1, -4096, 1 << 40],
                       labels: [.string("tenant", "t1"), .number("bytes", 4096), .number("size", 12, unit: "bytes")]),
                Sample(locationIDs: [2], values: [0, 0, 7]),
            ],
            mappings: [Mapping(id: 1, start: 0x400000, limit: 0x500000, fileOffset: 0x1000, filename: "/bin/app",
                               buildID: "abcd", hasFunctions: true, hasFilenames: true, hasLineNumbers: true,
                               hasInlineFrames: true),
                       Mapping(id: 2, start: 0x7f00_0000_0000, limit: 0x7f00_0001_0000, filename: "[vdso]")],
            locations: [Location(id: 1, mappingID: 1, address: 0x401234,
                                 lines: [Line(functionID: 2, line: 7, column: 3), Line(functionID: 1, line: 40)]),
                        Location(id: 2, mappingID: 1, address: 0x402000, lines: [Line(functionID: 1, line: 41)]),
                        Location(id: 3, mappingID: 0, address: 0x9, isFolded: true)],
            functions: [Function(id: 1, name: "App.main()", systemName: "$s3App4mainyyF", filename: "/src/main.swift",
                                 startLine: 30),
                        Function(id: 2, name: "App.helper(_:)", systemName: "$s3App6helperyyF", filename: "/src/main.swift")],
            dropFrames: "drop.*", keepFrames: "keep", timeNanos: 1_795_305_929_302_145_957, durationNanos: 10_000_000_000,
            periodType: ValueType(type: "space", unit: "bytes"), period: 524_288, comments: ["one", "two", "three"],
            defaultSampleType: "alloc_space", docURL: "https://example.com/doc")
        let bytes = profile.encodedProto()
        XCTAssertEqual(try Profile(proto: bytes), profile)
        XCTAssertEqual(try Profile(proto: try profile.gzippedProto()), profile)
        XCTAssertEqual(ProfileValidator.problems(inProto: bytes), [])
    }

    func testStringsAreStoredOnceWithEmptyStringFirst() throws {
        let type = ValueType(type: "goroutine", unit: "count")
        let profile = Profile(sampleTypes: [type], samples: [Sample(locationIDs: [], values: [1], labels: [.string("count", "goroutine")])],
                              periodType: type, period: 1)
        var strings: [String] = []
        var decoder = ProtobufDecoder(profile.encodedProto())
        while let field = try decoder.nextField() {
            if field.number == 6 { strings.append(try field.string()) }
        }
        XCTAssertEqual(strings, ["", "goroutine", "count"])
    }

    func testDecoderRejectsWhatPprofRejects() {
        func error(_ bytes: [UInt8]) -> ProfileDecodingError? {
            do { _ = try Profile(proto: bytes); return nil } catch { return error }
        }
        XCTAssertEqual(error([]), .empty)
        // A sample type but no string table at all.
        XCTAssertEqual(error([0x0a, 0x02, 0x08, 0x01]), .stringTableMissing)
        // string_table[0] = "x".
        XCTAssertEqual(error([0x32, 0x01, 0x78]), .firstStringNotEmpty("x"))
        // sample_type.type = 5 with only "" in the table.
        XCTAssertEqual(error([0x0a, 0x02, 0x08, 0x05, 0x32, 0x00]),
                       .stringIndexOutOfRange(index: 5, tableSize: 1, field: "sample_type.type"))
        // Two time_nanos: two profiles concatenated.
        XCTAssertEqual(error([0x48, 0x01, 0x32, 0x00, 0x48, 0x02, 0x32, 0x00]), .concatenatedProfiles)
        // Scalars must be varints: period (12) sent as length-delimited.
        XCTAssertEqual(error([0x62, 0x00, 0x32, 0x00]), .malformed(.wrongWireType(field: 12, expected: "a varint")))
        XCTAssertEqual(error([0x1f, 0x8b, 0x08]), .gzip(.truncated))
        XCTAssertEqual(String(describing: ProfileDecodingError.firstStringNotEmpty("x")),
                       "profile: string_table[0] must be \"\" but is \"x\"")
    }

    func testLabelsFollowPprofDecodingRules() throws {
        // An empty string value is index 0, which pprof reads as "no string": such a label is dropped,
        // exactly as with Go's own profiles.
        let type = ValueType(type: "t", unit: "count")
        let profile = Profile(sampleTypes: [type], samples: [
            Sample(locationIDs: [], values: [1], labels: [.string("empty", ""), .string("k", "v"), .number("n", 0, unit: "ms")]),
        ])
        let decoded = try Profile(proto: profile.encodedProto())
        XCTAssertEqual(decoded.samples[0].labels, [.string("k", "v"), .number("n", 0, unit: "ms")])
    }
}
