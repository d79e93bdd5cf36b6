import Foundation
import XCTest

@testable import Profiling
import Symbolication

/// The heap/allocs profiles against Go 1.27's captures, and our allocator-frame rules.
final class HeapProfileTests: XCTestCase {
    /// Go's frames in the capture play the roles our allocator frames play: `runtime.` frames lead the
    /// stack and are hidden, and runtime.goexit is never printed.
    private let goRuntimeFrame: @Sendable (SymbolicatedFrame) -> Bool = { $0.function.hasPrefix("runtime.") }
    private let goexit: @Sendable (SymbolicatedFrame) -> Bool = { $0.function == "runtime.goexit" }

    private static let stats = HeapMemoryStatistics(heapInUse: 9_439_072, heapSystem: 16_416_768, heapIdle: 6_152_192,
                                                    maxResidentBytes: 10_612_736, totalAllocatedBytes: 9_547_400,
                                                    mallocs: 3769, frees: 258, stackInUse: 360_448, stackSystem: 393_232)

    /// Parses the records of a heap `debug=1` text, with a resolver that knows exactly the frames its `#`
    /// lines show; PCs they hide get runtime names (Go hid them because they were runtime frames).
    private func parseHeapText(_ text: String) -> (records: [HeapProfileRecord], resolver: FakeResolver) {
        var records: [HeapProfileRecord] = []
        var resolver = FakeResolver()
        let recordLine = try! NSRegularExpression(pattern: #"^(\d+): (\d+) \[(\d+): (\d+)\] @((?: 0x[0-9a-f]+)+)$"#)
        for line in text.split(separator: "\n").map(String.init) {
            if line.hasPrefix("# runtime.MemStats") { break }
            if line.hasPrefix("#\t") {
                let cells = line.split(separator: "\t", omittingEmptySubsequences: true)
                guard cells.count == 4, let pc = UInt(cells[1].dropFirst(2), radix: 16) else { continue }
                let function = cells[2].split(separator: "+").dropLast().joined(separator: "+")
                let offset = UInt(cells[2].split(separator: "+").last!.dropFirst(2), radix: 16)!
                let fileLine = cells[3].split(separator: ":")
                if resolver.table[pc] == nil {
                    resolver.table[pc] = [SymbolicatedFrame(function: function, systemName: function, file: String(fileLine[0]),
                                                            line: Int(fileLine[1])!, entry: pc - offset)]
                }
                continue
            }
            let range = NSRange(line.startIndex..., in: line)
            guard let match = recordLine.firstMatch(in: line, range: range) else { continue }
            func group(_ i: Int) -> String { String(line[Range(match.range(at: i), in: line)!]) }
            let (inUseObjects, inUseBytes, allocs, allocBytes) = (Int64(group(1))!, Int64(group(2))!, Int64(group(3))!, Int64(group(4))!)
            let stack = group(5).split(separator: " ").map { UInt($0.dropFirst(2), radix: 16)! }
            records.append(HeapProfileRecord(stack: stack, allocatedObjects: allocs, allocatedBytes: allocBytes,
                                             inUseObjects: inUseObjects, inUseBytes: inUseBytes, sampledAllocations: allocs,
                                             sampledAllocatedBytes: allocBytes, sampledInUseObjects: inUseObjects,
                                             sampledInUseBytes: inUseBytes))
        }
        for record in records {
            for returnAddress in record.stack where resolver.table[returnAddress - 1] == nil {
                let name = returnAddress == GoCaptures.goexitReturnAddress ? "runtime.goexit" : "runtime.hidden"
                resolver.table[returnAddress - 1] = [SymbolicatedFrame(function: name, systemName: name, file: "proc.go",
                                                                       line: 1, entry: returnAddress - 0x10)]
            }
        }
        return (records, resolver)
    }

    func testTextReproducesGoCaptureUpToTheMemStatsTrailer() throws {
        try XCTSkipUnless(GoCaptures.available("heap.debug1.txt"), "Go captures not present")
        let capture = try GoCaptures.body("heap.debug1.txt")
        let (records, resolver) = parseHeapText(capture)
        XCTAssertEqual(records.count, 4)
        // Snapshot order is newest first; hand the records over shuffled except for the two 0-byte ones,
        // whose relative order is the tie Go leaves in MemProfile order.
        let snapshot = HeapSnapshot(samplingRate: 524_288, records: [records[3], records[0], records[2], records[1]],
                                    statistics: HeapProfiler.statistics)
        let profile = HeapProfile(kind: .heap, snapshot: snapshot, resolver: resolver, memoryStatistics: Self.stats,
                                  isAllocatorFrame: goRuntimeFrame, textOmits: goexit)
        let text = profile.legacyText()
        let ours = try XCTUnwrap(text.range(of: "\n# runtime.MemStats\n"))
        let theirs = try XCTUnwrap(capture.range(of: "\n# runtime.MemStats\n"))
        XCTAssertEqual(String(text[..<ours.lowerBound]), String(capture[..<theirs.lowerBound]))
        // Every line Go prints, in Go's order and shape, with the values we measured (0 where a field
        // describes a garbage collector or structures a malloc heap does not have).
        let trailer = text[ours.upperBound...].split(separator: "\n")
        let goTrailer = capture[theirs.upperBound...].split(separator: "\n")
        XCTAssertEqual(trailer.map { $0.split(separator: " ")[1] }, goTrailer.map { $0.split(separator: " ")[1] })
        XCTAssertEqual(trailer.count, 27)
        let zeros = "[" + Array(repeating: "0", count: 256).joined(separator: " ") + "]"
        XCTAssertEqual(trailer, [
            "# Alloc = 9439072", "# TotalAlloc = 9547400", "# Sys = 16810000", "# Lookups = 0", "# Mallocs = 3769",
            "# Frees = 258", "# HeapAlloc = 9439072", "# HeapSys = 16416768", "# HeapIdle = 6152192",
            "# HeapInuse = 9439072", "# HeapReleased = 0", "# HeapObjects = 3511", "# Stack = 360448 / 393232",
            "# MSpan = 0 / 0", "# MCache = 0 / 0", "# BuckHashSys = 0", "# GCSys = 0", "# OtherSys = 0", "# NextGC = 0",
            "# LastGC = 0", "# PauseNs = \(zeros)", "# PauseEnd = \(zeros)", "# NumGC = 0", "# NumForcedGC = 0",
            "# GCCPUFraction = 0", "# DebugGC = false", "# MaxRSS = 10612736",
        ].map { Substring($0) })
    }

    func testHeaderAddsOneWhenNothingWasFreedAndPrintsTwiceTheRate() {
        let record = HeapProfileRecord(stack: [0x1001], allocatedObjects: 10, allocatedBytes: 40_960, inUseObjects: 10,
                                       inUseBytes: 40_960, sampledAllocations: 3, sampledAllocatedBytes: 12_288,
                                       sampledInUseObjects: 3, sampledInUseBytes: 12_288)
        let profile = HeapProfile(kind: .allocs, snapshot: HeapSnapshot(samplingRate: 4096, records: [record],
                                                                        statistics: HeapProfiler.statistics),
                                  resolver: FakeResolver(), memoryStatistics: Self.stats)
        XCTAssertTrue(profile.legacyText().hasPrefix("heap profile: 3: 12288 [3: 12289] @ heap/8192\n3: 12288 [3: 12288] @ 0x1001\n#\t0x1000\n\n"),
                      profile.legacyText())
        let off = HeapProfile(kind: .heap, snapshot: HeapSnapshot(samplingRate: 0, records: [], statistics: HeapProfiler.statistics),
                              resolver: FakeResolver(), memoryStatistics: Self.stats)
        XCTAssertTrue(off.legacyText().hasPrefix("heap profile: 0: 0 [0: 1] @ heap/0\n\n# runtime.MemStats\n"), off.legacyText())
    }

    private func goProtoRecords(_ file: String) throws -> (go: Profile, records: [HeapProfileRecord]) {
        let go = ProtoText.parse(try String(contentsOfFile: GoCaptures.directory + file, encoding: .utf8)).profile()
        let byID = Dictionary(uniqueKeysWithValues: go.locations.map { ($0.id, $0.address) })
        let records = go.samples.map { sample -> HeapProfileRecord in
            var blockSize: Int64 = 0
            if case .number(let value, _)? = sample.labels.first?.value { blockSize = value }
            return HeapProfileRecord(stack: sample.locationIDs.map { UInt(byID[$0]!) + 1 },
                                     allocatedObjects: sample.values[0], allocatedBytes: sample.values[1],
                                     inUseObjects: sample.values[2], inUseBytes: sample.values[3],
                                     sampledAllocations: 1, sampledAllocatedBytes: blockSize,
                                     sampledInUseObjects: 0, sampledInUseBytes: 0)
        }
        return (go, records)
    }

    func testProtoShapesMatchGoCaptures() throws {
        for (file, kind) in [("heap.decoded.txt", HeapProfile.Kind.heap), ("allocs.decoded.txt", .allocs)] {
            try XCTSkipUnless(GoCaptures.available(file), "Go captures not present")
            let (go, records) = try goProtoRecords(file)
            let profile = HeapProfile(kind: kind, snapshot: HeapSnapshot(samplingRate: 524_288, records: records,
                                                                         statistics: HeapProfiler.statistics),
                                      resolver: FakeResolver(replaying: go), timeNanos: go.timeNanos,
                                      memoryStatistics: Self.stats, isAllocatorFrame: goRuntimeFrame)
            let ours = try profile.pprofProfile()
            XCTAssertEqual(ours.sampleTypes.map { "\($0.type)/\($0.unit)" },
                           ["alloc_objects/count", "alloc_space/bytes", "inuse_objects/count", "inuse_space/bytes"])
            XCTAssertEqual(ours.sampleTypes, go.sampleTypes, file)
            XCTAssertEqual(ours.periodType, go.periodType, file)
            XCTAssertEqual(ours.period, go.period, file)
            XCTAssertEqual(ours.defaultSampleType, go.defaultSampleType, file)
            XCTAssertEqual(ours.samples, go.samples, file)   // values, `bytes` labels without unit, order
            XCTAssertEqual(ours.locations, go.locations, file)
            XCTAssertEqual(ours.functions, go.functions, file)
            XCTAssertEqual(ProfileValidator.problems(inProto: ours.encodedProto()), [], file)
        }
    }

    /// Swift allocation stacks: allocator frames leave the proto stack and are hidden in the text; a
    /// stack made only of allocator frames is kept whole.
    func testSwiftAllocatorFramesAreDroppedFromTheLeafEnd() throws {
        var resolver = FakeResolver(images: [TestBinary.mapping])
        let base = TestBinary.mapping.start + 0x200
        let (slowAlloc, allocObject, append, worker, main) = (base, base + 0x40, base + 0x80, base + 0xc0, base + 0x100)
        resolver.table[slowAlloc] = [SymbolicatedFrame(function: "swift_slowAlloc", systemName: "swift_slowAlloc", entry: slowAlloc - 8)]
        resolver.table[allocObject] = [SymbolicatedFrame(function: "swift_allocObject", systemName: "swift_allocObject",
                                                         entry: allocObject - 8)]
        resolver.table[append] = [SymbolicatedFrame(function: "Swift.Array.append(_:)", systemName: "$sSa6appendyyxnFSi_Tg5",
                                                    entry: append - 8)]
        resolver.add(pc: worker, "App.Worker.run()", line: 42, entry: worker - 0x20)
        resolver.add(pc: main, "App.main()", line: 7, entry: main - 0x20)
        let records = [
            HeapProfileRecord(stack: [slowAlloc + 1, allocObject + 1, append + 1, worker + 1, main + 1], allocatedObjects: 128,
                              allocatedBytes: 524_288, inUseObjects: 64, inUseBytes: 262_144, sampledAllocations: 2,
                              sampledAllocatedBytes: 8192, sampledInUseObjects: 1, sampledInUseBytes: 4096),
            HeapProfileRecord(stack: [slowAlloc + 1, allocObject + 1], allocatedObjects: 1, allocatedBytes: 600_000,
                              inUseObjects: 0, inUseBytes: 0, sampledAllocations: 1, sampledAllocatedBytes: 600_000,
                              sampledInUseObjects: 0, sampledInUseBytes: 0),
        ]
        let profile = HeapProfile(kind: .heap, snapshot: HeapSnapshot(samplingRate: 524_288, records: records,
                                                                      statistics: HeapProfiler.statistics),
                                  resolver: resolver, memoryStatistics: Self.stats)
        let proto = try profile.pprofProfile()
        let address = Dictionary(uniqueKeysWithValues: proto.locations.map { ($0.id, UInt($0.address)) })
        XCTAssertEqual(proto.samples[0].locationIDs.map { address[$0]! }, [worker, main], "top frame is the user's")
        XCTAssertEqual(proto.samples[1].locationIDs.map { address[$0]! }, [slowAlloc, allocObject], "nothing else: kept whole")
        XCTAssertEqual(proto.samples[0].labels, [.number("bytes", 4096)])
        XCTAssertEqual(proto.samples[0].values, [128, 524_288, 64, 262_144])
        XCTAssertEqual(proto.defaultSampleType, "")

        let text = profile.legacyText()
        XCTAssertFalse(text.contains("\tswift_slowAlloc+0x8\t") && text.contains("App.Worker.run()") == false)
        let firstRecord = try XCTUnwrap(text.components(separatedBy: "\n\n").first { $0.contains("App.Worker.run()") })
        XCTAssertFalse(firstRecord.contains("swift_"), firstRecord)
        XCTAssertFalse(firstRecord.contains("Swift.Array.append"), firstRecord)
        XCTAssertTrue(firstRecord.contains("@ 0x\(String(slowAlloc + 1, radix: 16)) 0x\(String(allocObject + 1, radix: 16))"),
                      "the @ list keeps every PC, as Go's does")
        XCTAssertTrue(text.contains("\tswift_slowAlloc+0x8\t"), "an allocator-only stack shows its frames")
    }

    func testStandardLibrarySymbolsAreToldApartFromUserExtensions() {
        XCTAssertTrue(HeapAllocatorFrames.isStandardLibrary(mangled: "$sSa6appendyyxnF"))
        XCTAssertTrue(HeapAllocatorFrames.isStandardLibrary(mangled: "$ss22_ContiguousArrayBufferV20_consumeAndCreateNewyAByxGSbF"))
        XCTAssertTrue(HeapAllocatorFrames.isStandardLibrary(mangled: "$sSS6appendyySSF"))
        XCTAssertFalse(HeapAllocatorFrames.isStandardLibrary(mangled: "$sSa4MainE9addTwiceyyF"), "a user extension of Array")
        XCTAssertFalse(HeapAllocatorFrames.isStandardLibrary(mangled: "$sSo7timespecV"), "an imported C type")
        XCTAssertFalse(HeapAllocatorFrames.isStandardLibrary(mangled: "$s4Main6workeryyF"))
        XCTAssertTrue(HeapAllocatorFrames.isAllocator(symbol: "_Znwm"))
        XCTAssertTrue(HeapAllocatorFrames.isAllocator(symbol: "swift_allocObject"))
        XCTAssertFalse(HeapAllocatorFrames.isAllocator(symbol: "App.main()"))
    }
}
