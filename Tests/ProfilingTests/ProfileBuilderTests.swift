import XCTest
@testable import Profiling
import Symbolication

final class ProfileBuilderTests: XCTestCase {
    private let image = ImageMapping(start: 0x400000, limit: 0x500000, fileOffset: 0, path: "/srv/app", buildID: "0011aabb")
    private let library = ImageMapping(start: 0x7f00_0000_0000, limit: 0x7f00_0010_0000, fileOffset: 0x1000,
                                       path: "/usr/lib/libswiftCore.so", buildID: "ffee")

    private func resolver() -> FakeResolver {
        var resolver = FakeResolver(images: [image, library])
        resolver.add(pc: 0x401000, "App.leaf()", line: 12, startLine: 10, inlined: [("App.inlinedHelper()", 99)])
        resolver.add(pc: 0x402000, "App.middle()", line: 22, startLine: 20)
        resolver.add(pc: 0x403000, "App.main()", line: 32, startLine: 30)
        resolver.add(pc: 0x404000, "App.leaf()", line: 14, startLine: 10)  // same function, other PC
        return resolver
    }

    private let countType = ValueType(type: "goroutine", unit: "count")

    func testOneLocationPerPCAtTheCallSiteWithSequentialIDs() throws {
        var builder = try ProfileBuilder(sampleTypes: [countType], periodType: countType, period: 1, timeNanos: 42,
                                         resolver: resolver())
        // Return addresses are call-site + 1.
        try builder.addSample(stack: [0x401001, 0x402001, 0x403001], values: [3])
        try builder.addSample(stack: [0x404001, 0x402001, 0x403001, 0], values: [1])
        let profile = builder.build()

        XCTAssertEqual(profile.locations.map(\.id), [1, 2, 3, 4])
        XCTAssertEqual(profile.locations.map(\.address), [0x401000, 0x402000, 0x403000, 0x404000])
        XCTAssertEqual(profile.samples.map(\.locationIDs), [[1, 2, 3], [4, 2, 3]])
        XCTAssertEqual(profile.samples.map(\.values), [[3], [1]])
        XCTAssertEqual(profile.timeNanos, 42)
        XCTAssertEqual(profile.periodType, countType)
        XCTAssertEqual(profile.period, 1)
        XCTAssertEqual(ProfileValidator.problems(inProto: profile.encodedProto()), [])
    }

    func testInlinedFramesShareOneLocationInnermostFirstAndFunctionsAreDeduplicated() throws {
        var builder = try ProfileBuilder(sampleTypes: [countType], resolver: resolver())
        try builder.addSample(stack: [0x401001, 0x404001], values: [1])
        let profile = builder.build()

        let names = Dictionary(uniqueKeysWithValues: profile.functions.map { ($0.id, $0.name) })
        XCTAssertEqual(profile.locations[0].lines.map { names[$0.functionID] }, ["App.inlinedHelper()", "App.leaf()"])
        XCTAssertEqual(profile.locations[0].lines.map(\.line), [99, 12])
        // App.leaf() at two PCs is one Function.
        XCTAssertEqual(profile.functions.map(\.name), ["App.inlinedHelper()", "App.leaf()"])
        XCTAssertEqual(profile.functions.map(\.id), [1, 2])
        XCTAssertEqual(profile.locations[1].lines.map(\.functionID), [2])
        XCTAssertEqual(profile.functions[1].systemName, "$sApp.leaf()")
        XCTAssertEqual(profile.functions[1].startLine, 10)
        XCTAssertEqual(profile.functions[1].filename, "/src/app/main.swift")
    }

    func testMappingsCarryBuildIDsAndTruthfulSymbolFlags() throws {
        var builder = try ProfileBuilder(sampleTypes: [countType], resolver: resolver())
        // 0x7f0000000101 is in libswiftCore but unknown to the resolver; 0x9001 lies in no mapping.
        try builder.addSample(stack: [0x401001, 0x7f00_0000_0101, 0x9001], values: [1])
        let profile = builder.build()

        XCTAssertEqual(profile.mappings.map(\.id), [1, 2])
        XCTAssertEqual(profile.mappings.map(\.buildID), ["0011aabb", "ffee"])
        XCTAssertEqual(profile.mappings.map(\.filename), ["/srv/app", "/usr/lib/libswiftCore.so"])
        XCTAssertEqual(profile.mappings[1].fileOffset, 0x1000)
        let main = profile.mappings[0]
        XCTAssertTrue(main.hasFunctions && main.hasFilenames && main.hasLineNumbers && main.hasInlineFrames)
        // The library location is unsymbolized: claiming functions would stop pprof from symbolizing it.
        let lib = profile.mappings[1]
        XCTAssertFalse(lib.hasFunctions || lib.hasFilenames || lib.hasLineNumbers || lib.hasInlineFrames)
        XCTAssertEqual(profile.locations.map(\.mappingID), [1, 2, 0])
        XCTAssertEqual(profile.locations[1].lines, [])
        XCTAssertEqual(ProfileValidator.problems(inProto: profile.encodedProto()), [])
    }

    func testFlagsAreNotClaimedWithoutEvidence() throws {
        var resolver = FakeResolver(images: [image])
        resolver.add(pc: 0x402000, "App.noLines()", file: "", line: 0)
        var builder = try ProfileBuilder(sampleTypes: [countType], resolver: resolver)
        try builder.addSample(stack: [0x402001], values: [1])
        let mapping = builder.build().mappings[0]
        XCTAssertTrue(mapping.hasFunctions)
        XCTAssertFalse(mapping.hasFilenames)
        XCTAssertFalse(mapping.hasLineNumbers)
        XCTAssertFalse(mapping.hasInlineFrames)

        // A mapping with no locations claims nothing, as in Go.
        let empty = try ProfileBuilder(sampleTypes: [countType], resolver: resolver).build()
        XCTAssertEqual(empty.mappings.count, 1)
        XCTAssertFalse(empty.mappings[0].hasFunctions)
    }

    func testAddressesAreStableAcrossBuilds() throws {
        // Two scrapes meeting the same PCs in a different order must give each PC the same address.
        var first = try ProfileBuilder(sampleTypes: [countType], resolver: resolver())
        try first.addSample(stack: [0x401001, 0x402001], values: [1])
        var second = try ProfileBuilder(sampleTypes: [countType], resolver: resolver())
        try second.addSample(stack: [0x403001, 0x402001], values: [1])
        try second.addSample(stack: [0x401001, 0x402001], values: [1])
        func addresses(_ profile: Profile, _ sample: Int) -> [UInt64] {
            let byID = Dictionary(uniqueKeysWithValues: profile.locations.map { ($0.id, $0.address) })
            return profile.samples[sample].locationIDs.map { byID[$0]! }
        }
        XCTAssertEqual(addresses(first.build(), 0), addresses(second.build(), 1))
    }

    func testOptionsAndMisuse() throws {
        let types = [ValueType(type: "alloc_space", unit: "bytes"), ValueType(type: "inuse_space", unit: "bytes")]
        var builder = try ProfileBuilder(sampleTypes: types, periodType: ValueType(type: "space", unit: "bytes"),
                                         period: 524_288, defaultSampleType: "alloc_space", comments: ["note"],
                                         durationNanos: 5, resolver: resolver())
        try builder.addSample(stack: [0x401001], values: [10, 20], labels: [.number("bytes", 512)])
        XCTAssertThrowsError(try builder.addSample(stack: [], values: [1])) {
            XCTAssertEqual($0 as? ProfileBuilderError, .valueCountMismatch(expected: 2, got: 1))
        }
        XCTAssertThrowsError(try builder.addSample(stack: [], values: [1, 2], labels: [.string("", "x")])) {
            XCTAssertEqual($0 as? ProfileBuilderError, .emptyLabelKey)
        }
        let profile = builder.build()
        XCTAssertEqual(profile.samples.count, 1)
        XCTAssertEqual(profile.defaultSampleType, "alloc_space")
        XCTAssertEqual(profile.comments, ["note"])
        XCTAssertEqual(profile.durationNanos, 5)
        XCTAssertEqual(profile.samples[0].labels, [.number("bytes", 512)])
        XCTAssertGreaterThan(profile.timeNanos, 1_700_000_000_000_000_000)  // defaults to now
        let decoded = try Profile(proto: profile.gzippedProto())
        XCTAssertEqual(decoded, profile)

        XCTAssertThrowsError(try ProfileBuilder(sampleTypes: [], resolver: resolver())) {
            XCTAssertEqual($0 as? ProfileBuilderError, .noSampleTypes)
        }
        XCTAssertThrowsError(try ProfileBuilder(sampleTypes: types, defaultSampleType: "cpu", resolver: resolver())) {
            XCTAssertEqual($0 as? ProfileBuilderError, .unknownDefaultSampleType("cpu", available: ["alloc_space", "inuse_space"]))
        }
    }
}

final class AddressIndexTests: XCTestCase {
    func testIdsSurviveGrowthAndCollisions() {
        var index = AddressIndex(capacity: 1)
        var next: UInt64 = 0
        // Addresses that differ only in high bits, and runs of neighbours, stress probing and growth.
        let addresses = (1...5000).map { UInt($0) * 0x40 + 0x400000 } + (1...500).map { UInt($0) << 40 }
        for address in addresses {
            _ = index.id(for: address) { next += 1; return next }
        }
        XCTAssertEqual(index.count, addresses.count)
        for (offset, address) in addresses.enumerated() {
            XCTAssertEqual(index.id(for: address) { XCTFail("\(address) lost"); return 0 }, UInt64(offset + 1))
        }
    }
}
