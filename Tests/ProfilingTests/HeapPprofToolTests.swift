import Foundation
import Glibc
import XCTest

@testable import Profiling
import Symbolication

/// The process's real symbols, as the debug server will use them.
struct LiveSymbols: FrameResolver {
    func frames(at pcs: [UInt]) -> [[SymbolicatedFrame]] { Symbolizer.shared.frames(at: pcs) }
    func mappings() -> [ImageMapping] { Symbolizer.shared.mappings() }
    func mappingIndex(containing pc: UInt) -> Int? { Symbolizer.shared.mappingIndex(containing: pc) }
}

final class RetainedRecord {
    var payload = [UInt8](repeating: 7, count: 2048)
}

nonisolated(unsafe) var heapPprofRetained: [RetainedRecord] = []

/// Keeps 8 MiB of Swift objects and arrays alive: what inuse_space must point at.
@inline(never) func heapPprofRetainRecords() {
    for _ in 0..<4096 { heapPprofRetained.append(RetainedRecord()) }
}

/// Allocates 32 MiB of strings and arrays and lets them all go: alloc_space, but no inuse_space.
@inline(never) func heapPprofChurnStrings() -> Int {
    var total = 0
    for i in 0..<16_384 {
        let text = String(repeating: "churn-\(i)-", count: 150)
        let numbers = [Int](repeating: i, count: 64)
        total &+= text.utf8.count &+ numbers.count
    }
    return total
}

final class HeapPprofToolTests: XCTestCase {
    func testGoToolPprofNamesTheSwiftFunctionsThatAllocate() throws {
        let go = try XCTUnwrap(which("go"), "go (1.27) is not on PATH")
        let saved = HeapProfiler.samplingRate
        try HeapProfiler.setSamplingRate(16 * 1024)
        heapPprofRetainRecords()
        XCTAssertGreaterThan(heapPprofChurnStrings(), 0)
        let snapshot = HeapProfiler.snapshot()
        try HeapProfiler.setSamplingRate(saved)
        defer { heapPprofRetained.removeAll() }

        let directory = NSTemporaryDirectory() + "heap-pprof-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for kind in [HeapProfile.Kind.heap, .allocs] {
            let profile = HeapProfile(kind: kind, snapshot: snapshot, resolver: LiveSymbols())
            let path = "\(directory)/\(profile.name).pb.gz"
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            XCTAssertGreaterThanOrEqual(fd, 0)
            try profile.write(.gzippedProto, toFileDescriptor: fd)
            close(fd)
            XCTAssertEqual(ProfileValidator.problems(inProto: try profile.render(.proto)), [])

            // Other tests in this process allocate too (some on goroutine stacks); look at this test's work.
            let inUse = try runProcess(go, ["tool", "pprof", "-top", "-sample_index=inuse_space",
                                            "-focus=heapPprofRetainRecords", path])
            XCTAssertEqual(inUse.status, 0, inUse.stderr)
            XCTAssertEqual(inUse.stderr, "", "go tool pprof warned")
            let inUseTop = try XCTUnwrap(firstEntry(of: inUse.stdout), inUse.stdout)
            // RetainedRecord.init allocates the payload array; the object itself comes from its allocating init.
            XCTAssertTrue(inUseTop.hasSuffix(" ProfilingTests.RetainedRecord.init()"), "top in-use entry: \(inUseTop)\n\(inUse.stdout)")
            XCTAssertTrue(inUse.stdout.contains(" ProfilingTests.heapPprofRetainRecords()\n"), inUse.stdout)
            XCTAssertFalse(inUse.stdout.contains("swift_allocObject") || inUse.stdout.contains("swift_slowAlloc"), inUse.stdout)

            let allocated = try runProcess(go, ["tool", "pprof", "-top", "-sample_index=alloc_space",
                                                "-focus=heapPprofChurnStrings", path])
            XCTAssertEqual(allocated.status, 0, allocated.stderr)
            let allocTop = try XCTUnwrap(firstEntry(of: allocated.stdout), allocated.stdout)
            XCTAssertTrue(allocTop.hasSuffix(" ProfilingTests.heapPprofChurnStrings()"), "top allocating entry: \(allocTop)\n\(allocated.stdout)")
            XCTAssertFalse(allocated.stdout.contains("swift_allocObject") || allocated.stdout.contains("swift_slowAlloc"),
                           allocated.stdout)

            // pprof's legacy heap parser reads the debug=1 text as a four-column profile at our rate.
            let textPath = "\(directory)/\(profile.name).txt"
            XCTAssertTrue(FileManager.default.createFile(atPath: textPath, contents: Data(profile.legacyText().utf8)))
            let raw = try runProcess(go, ["tool", "pprof", "-raw", "-symbolize=none", textPath])
            XCTAssertEqual(raw.status, 0, raw.stderr)
            XCTAssertTrue(raw.stdout.contains("PeriodType: space bytes\nPeriod: 16384\n"), raw.stdout)
            XCTAssertTrue(raw.stdout.contains("alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes"),
                          raw.stdout)
        }
    }

    /// The first row under pprof's `flat flat% sum% cum cum%` header.
    private func firstEntry(of top: String) -> String? {
        let lines = top.split(separator: "\n")
        guard let header = lines.firstIndex(where: { $0.contains("flat%") && $0.contains("cum%") }),
              header + 1 < lines.count else { return nil }
        return String(lines[header + 1])
    }
}
