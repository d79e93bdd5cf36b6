import CSampling
import Foundation
import Glibc
import XCTest

@testable import Profiling

/// The return address of the call to the function that calls this. Every allocation made during that
/// call has it in its sampled stack, so it picks out "what this call allocated" from the profile.
/// 0 when the stack cannot be walked (a goroutine stack the sampler was not told about).
@_optimize(none) @inline(never) func callSiteOfCaller() -> UInt {   // unoptimized: no tail call
    gr_heap_stack_frame(2)   // 0: into this function, 1: into our caller, 2: its call site
}

/// Totals of every record whose stack passes through `site`.
struct SiteTotals: Equatable {
    var allocatedObjects: Int64 = 0, allocatedBytes: Int64 = 0, inUseObjects: Int64 = 0, inUseBytes: Int64 = 0
    var sampledAllocations: Int64 = 0, sampledAllocatedBytes: Int64 = 0
    var sampledInUseObjects: Int64 = 0, sampledInUseBytes: Int64 = 0
    var records = 0

    init(_ snapshot: HeapSnapshot, site: UInt) {
        for record in snapshot.records where record.stack.contains(site) {
            records += 1
            allocatedObjects += record.allocatedObjects
            allocatedBytes += record.allocatedBytes
            inUseObjects += record.inUseObjects
            inUseBytes += record.inUseBytes
            sampledAllocations += record.sampledAllocations
            sampledAllocatedBytes += record.sampledAllocatedBytes
            sampledInUseObjects += record.sampledInUseObjects
            sampledInUseBytes += record.sampledInUseBytes
        }
    }
}

/// Allocates `count` blocks of `size` bytes with malloc into `into` and returns the call site.
@inline(never) func mallocBlocks(count: Int, size: Int, into: UnsafeMutablePointer<UnsafeMutableRawPointer?>) -> UInt {
    let site = callSiteOfCaller()
    for i in 0..<count { into[i] = malloc(size) }
    return site
}

/// Same as mallocBlocks, but a different function (a different stack) for the accuracy test.
@inline(never) func mallocLargeBlocks(count: Int, size: Int, into: UnsafeMutablePointer<UnsafeMutableRawPointer?>) -> UInt {
    let site = callSiteOfCaller()
    for i in 0..<count { into[i] = malloc(size) }
    return site
}

@inline(never) func duplicateStrings(_ text: UnsafePointer<CChar>, count: Int,
                                     into: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> UInt {
    let site = callSiteOfCaller()
    for i in 0..<count { into[i] = strdup(text) }
    return site
}

final class Payload {
    var a = 1, b = 2, c = 3, d = 4
}

@inline(never) func allocateSwiftObjects(count: Int, keep: inout [Payload]) -> UInt {
    let site = callSiteOfCaller()
    for _ in 0..<count { keep.append(Payload()) }
    return site
}

final class HeapSamplerTests: XCTestCase {
    private var savedRate = 0

    override func setUp() {
        savedRate = HeapProfiler.samplingRate
    }

    override func tearDown() {
        try? HeapProfiler.setSamplingRate(savedRate)
    }

    func testEveryMallocFamilyFunctionResolvesToTheInterposer() {
        let functions = HeapProfiler.interposedFunctions
        XCTAssertEqual(functions.count, 11)
        for (name, interposed) in functions.sorted(by: { $0.key < $1.key }) {
            XCTAssertTrue(interposed, "\(name) does not resolve to CSampling's definition")
        }
    }

    func testExecutableExportsTheMallocFamilyDynamically() throws {
        let nm = Process()
        nm.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let executable = try XCTUnwrap(realpath("/proc/self/exe", nil).map { path in
            defer { free(path) }
            return String(cString: path)
        })
        nm.arguments = ["nm", "-D", "--defined-only", executable]
        let pipe = Pipe()
        nm.standardOutput = pipe
        try nm.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        nm.waitUntilExit()
        XCTAssertEqual(nm.terminationStatus, 0)
        let exported = Set(output.split(separator: "\n").compactMap { line -> String? in
            let parts = line.split(separator: " ")
            return parts.count == 3 && parts[1] == "T" ? String(parts[2]) : nil
        })
        for name in ["malloc", "free", "calloc", "realloc", "reallocarray", "posix_memalign", "aligned_alloc",
                     "memalign", "valloc", "pvalloc", "malloc_usable_size"] {
            XCTAssertTrue(exported.contains(name), "\(name) is not in the test executable's dynamic symbols")
        }
    }

    /// The rate comes from GOROUTINES_MEMPROFILERATE at startup: this test runs itself in a child process
    /// with the variable set, and the child checks what it sees.
    func testStartupRateComesFromTheEnvironment() throws {
        if let expected = ProcessInfo.processInfo.environment["HEAP_TEST_EXPECTED_RATE"] {
            XCTAssertEqual(HeapProfiler.samplingRate, Int(expected))
            return
        }
        XCTAssertEqual(HeapProfiler.samplingRateEnvironmentVariable, "GOROUTINES_MEMPROFILERATE")
        let executable = try XCTUnwrap(realpath("/proc/self/exe", nil).map { path in
            defer { free(path) }
            return String(cString: path)
        })
        for (value, expected) in [("4096", 4096), ("0", 0), ("1", 1), ("12kb", 524_288), ("-5", 524_288)] {
            var environment = ProcessInfo.processInfo.environment
            environment["GOROUTINES_MEMPROFILERATE"] = value
            environment["HEAP_TEST_EXPECTED_RATE"] = String(expected)
            let child = Process()
            child.executableURL = URL(fileURLWithPath: executable)
            child.arguments = ["ProfilingTests.HeapSamplerTests/testStartupRateComesFromTheEnvironment"]
            child.environment = environment
            child.standardOutput = FileHandle.nullDevice
            child.standardError = FileHandle.nullDevice
            try child.run()
            child.waitUntilExit()
            XCTAssertEqual(child.terminationStatus, 0, "GOROUTINES_MEMPROFILERATE=\(value) should give rate \(expected)")
        }
    }

    func testNegativeRateIsRejectedWithAClearMessage() {
        XCTAssertThrowsError(try HeapProfiler.setSamplingRate(-1)) { error in
            XCTAssertEqual("\(error)", "heap sampling rate must be 0 (off) or a positive number of bytes, got -1")
        }
    }

    func testRateOneRecordsEveryAllocationExactly() throws {
        try HeapProfiler.setSamplingRate(1)
        let blocks = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: 1000)
        defer { blocks.deallocate() }
        let site = mallocBlocks(count: 1000, size: 100, into: blocks)
        for i in stride(from: 0, to: 1000, by: 2) { free(blocks[i]) }
        let totals = SiteTotals(HeapProfiler.snapshot(), site: site)
        for i in stride(from: 1, to: 1000, by: 2) { free(blocks[i]) }
        try HeapProfiler.setSamplingRate(savedRate)

        XCTAssertEqual(totals.sampledAllocations, 1000)
        XCTAssertEqual(totals.sampledAllocatedBytes, 100_000)
        XCTAssertEqual(totals.allocatedObjects, 1000, "rate 1 needs no unbiasing")
        XCTAssertEqual(totals.allocatedBytes, 100_000)
        XCTAssertEqual(totals.inUseObjects, 500)
        XCTAssertEqual(totals.inUseBytes, 50_000)
        let after = SiteTotals(HeapProfiler.snapshot(), site: site)
        XCTAssertEqual(after.inUseObjects, 0)
        XCTAssertEqual(after.inUseBytes, 0)
        XCTAssertEqual(after.allocatedObjects, 1000)
    }

    func testSwiftRuntimeAllocationsAreSampled() throws {
        try HeapProfiler.setSamplingRate(1)
        var keep: [Payload] = []
        keep.reserveCapacity(200)
        let site = allocateSwiftObjects(count: 200, keep: &keep)
        let totals = SiteTotals(HeapProfiler.snapshot(), site: site)
        try HeapProfiler.setSamplingRate(savedRate)
        // swift_allocObject -> swift_slowAlloc -> malloc inside libswiftCore reaches our malloc.
        XCTAssertEqual(totals.sampledAllocations, 200)
        XCTAssertEqual(totals.inUseObjects, 200)
        XCTAssertEqual(keep.count, 200)
    }

    func testAllocationsInsideGlibcAreSampled() throws {
        try HeapProfiler.setSamplingRate(1)
        let copies = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: 50)
        defer { copies.deallocate() }
        let text = strdup("a string glibc copies with its own internal call to malloc")!
        defer { free(text) }
        let site = duplicateStrings(text, count: 50, into: copies)
        let live = SiteTotals(HeapProfiler.snapshot(), site: site)
        let copySize = Int64(strlen(copies[0]!) + 1)
        for i in 0..<50 { free(copies[i]) }
        let freed = SiteTotals(HeapProfiler.snapshot(), site: site)
        try HeapProfiler.setSamplingRate(savedRate)
        // strdup's malloc call inside libc.so reaches our malloc (the interposition covers libc itself),
        // and strdup, built without frame pointers, is walked through to its caller.
        XCTAssertEqual(live.sampledAllocations, 50)
        XCTAssertEqual(live.sampledAllocatedBytes, 50 * copySize)
        XCTAssertEqual(freed.inUseObjects, 0)
    }

    func testSamplingOffRecordsNothingButStillCreditsEarlierSamples() throws {
        try HeapProfiler.setSamplingRate(1)
        let early = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: 10)
        let late = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: 10)
        defer { early.deallocate(); late.deallocate() }
        let earlySite = mallocBlocks(count: 10, size: 48, into: early)
        try HeapProfiler.setSamplingRate(0)
        XCTAssertEqual(HeapProfiler.samplingRate, 0)
        let lateSite = mallocBlocks(count: 10, size: 48, into: late)
        for i in 0..<10 { free(early[i]); free(late[i]) }
        let snapshot = HeapProfiler.snapshot()
        XCTAssertEqual(SiteTotals(snapshot, site: lateSite).records, 0)
        let earlyTotals = SiteTotals(snapshot, site: earlySite)
        XCTAssertEqual(earlyTotals.sampledAllocations, 10)
        XCTAssertEqual(earlyTotals.inUseObjects, 0, "frees after switching off must still be credited")
    }

    /// 64 MiB in 1 KiB blocks from one function, 8 MiB in 64 KiB blocks from another, then half of the
    /// first freed. At rate 8 KiB the first site gets about 8192 samples: the estimate's relative
    /// standard deviation is about 1/sqrt(8192) = 1.1 % (in-use: 1.6 %), and for the 64 KiB blocks,
    /// each sampled with probability 1 - e^-8, it is below 0.1 %. ±10 % is more than 6 standard
    /// deviations for every figure, so the test holds for any seed (failure odds below 1e-9).
    func testEstimatesAreWithinTenPercentAndInUseReflectsFrees() throws {
        try HeapProfiler.setSamplingRate(8192)
        let smallCount = 65536, largeCount = 128
        let small = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: smallCount)
        let large = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: largeCount)
        defer { small.deallocate(); large.deallocate() }
        let smallSite = mallocBlocks(count: smallCount, size: 1024, into: small)
        let largeSite = mallocLargeBlocks(count: largeCount, size: 65536, into: large)
        for i in stride(from: 0, to: smallCount, by: 2) { free(small[i]) }
        let snapshot = HeapProfiler.snapshot()
        for i in stride(from: 1, to: smallCount, by: 2) { free(small[i]) }
        for i in 0..<largeCount { free(large[i]) }
        try HeapProfiler.setSamplingRate(savedRate)

        let s = SiteTotals(snapshot, site: smallSite), l = SiteTotals(snapshot, site: largeSite)
        print("accuracy at 8 KiB: small \(s), large \(l)")
        assertWithinTenPercent(s.allocatedBytes, 64 << 20, "small alloc_space")
        assertWithinTenPercent(s.allocatedObjects, 65536, "small alloc_objects")
        assertWithinTenPercent(s.inUseBytes, 32 << 20, "small inuse_space")
        assertWithinTenPercent(s.inUseObjects, 32768, "small inuse_objects")
        assertWithinTenPercent(l.allocatedBytes, 8 << 20, "large alloc_space")
        assertWithinTenPercent(l.allocatedObjects, 128, "large alloc_objects")
        assertWithinTenPercent(l.inUseBytes, 8 << 20, "large inuse_space")
        assertWithinTenPercent(l.inUseObjects, 128, "large inuse_objects")
        XCTAssertGreaterThan(s.sampledAllocations, 4000, "about 8192 samples expected at 8 KiB")
    }

    private func assertWithinTenPercent(_ value: Int64, _ expected: Int64, _ what: String,
                                        file: StaticString = #filePath, line: UInt = #line) {
        let error = abs(Double(value - expected)) / Double(expected)
        XCTAssertLessThanOrEqual(error, 0.10, "\(what): estimated \(value), true \(expected)", file: file, line: line)
    }
}
