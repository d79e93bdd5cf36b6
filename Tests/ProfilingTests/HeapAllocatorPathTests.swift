import CSampling
import Glibc
import XCTest

@testable import Profiling

// Glibc's Swift overlay does not import <malloc.h>; reach these through the dynamic linker, which is
// also how libraries reach them (and what the interposition test checks resolves to CSampling).
private func libcFunction<T>(_ name: String, as type: T.Type) -> T {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else { fatalError("no \(name)") }
    return unsafeBitCast(symbol, to: type)
}
let memalign = libcFunction("memalign", as: (@convention(c) (Int, Int) -> UnsafeMutableRawPointer?).self)
let pvalloc = libcFunction("pvalloc", as: (@convention(c) (Int) -> UnsafeMutableRawPointer?).self)
let malloc_usable_size = libcFunction("malloc_usable_size", as: (@convention(c) (UnsafeMutableRawPointer?) -> Int).self)

/// The blocks one call of `allocateThroughEveryPath` leaves alive.
struct AllocatorPathBlocks {
    var site: UInt = 0
    var grown: UnsafeMutableRawPointer?   // calloc -> realloc -> reallocarray, 10000 bytes
    var posixAligned: UnsafeMutableRawPointer?   // 4096 bytes, 64-aligned
    var aligned: UnsafeMutableRawPointer?   // 1024 bytes, 256-aligned
    var memaligned: UnsafeMutableRawPointer?   // 512 bytes, 128-aligned
    var pageAligned: UnsafeMutableRawPointer?   // valloc(100)
    var pageRounded: UnsafeMutableRawPointer?   // pvalloc(100)

    var all: [UnsafeMutableRawPointer?] { [grown, posixAligned, aligned, memaligned, pageAligned, pageRounded] }
}

@inline(never) func allocateThroughEveryPath() -> AllocatorPathBlocks {
    var blocks = AllocatorPathBlocks()
    blocks.site = callSiteOfCaller()
    let zeroed = calloc(10, 100)
    let grown = realloc(zeroed, 5000)
    blocks.grown = reallocarray(grown, 100, 100)
    var out: UnsafeMutableRawPointer?
    if posix_memalign(&out, 64, 4096) == 0 { blocks.posixAligned = out }
    blocks.aligned = aligned_alloc(256, 1024)
    blocks.memaligned = memalign(128, 512)
    blocks.pageAligned = valloc(100)
    blocks.pageRounded = pvalloc(100)
    return blocks
}

final class HeapAllocatorPathTests: XCTestCase {
    private var savedRate = 0

    override func setUp() { savedRate = HeapProfiler.samplingRate }
    override func tearDown() { try? HeapProfiler.setSamplingRate(savedRate) }

    func testEveryAllocationPathIsSampledAndEveryFreeIsCredited() throws {
        _ = (memalign, pvalloc)   // resolve the lazy globals outside the measured call
        try HeapProfiler.setSamplingRate(1)
        let blocks = allocateThroughEveryPath()
        let live = SiteTotals(HeapProfiler.snapshot(), site: blocks.site)
        for block in blocks.all { free(block) }
        let freed = SiteTotals(HeapProfiler.snapshot(), site: blocks.site)
        try HeapProfiler.setSamplingRate(savedRate)

        XCTAssertTrue(blocks.all.allSatisfy { $0 != nil })
        let page = UInt(sysconf(Int32(_SC_PAGESIZE)))
        XCTAssertEqual(UInt(bitPattern: blocks.posixAligned) % 64, 0)
        XCTAssertEqual(UInt(bitPattern: blocks.aligned) % 256, 0)
        XCTAssertEqual(UInt(bitPattern: blocks.memaligned) % 128, 0)
        XCTAssertEqual(UInt(bitPattern: blocks.pageAligned) % page, 0)
        XCTAssertEqual(UInt(bitPattern: blocks.pageRounded) % page, 0)

        // calloc 1000, realloc 5000, reallocarray 10000, posix_memalign 4096, aligned_alloc 1024,
        // memalign 512, valloc 100, pvalloc 100: eight allocations, the first two freed by realloc.
        XCTAssertEqual(live.sampledAllocations, 8)
        XCTAssertEqual(live.sampledAllocatedBytes, 21_832)
        XCTAssertEqual(live.inUseObjects, 6)
        XCTAssertEqual(live.inUseBytes, 15_832)
        XCTAssertEqual(freed.inUseObjects, 0)
        XCTAssertEqual(freed.inUseBytes, 0)
        XCTAssertEqual(freed.allocatedBytes, 21_832)
    }

    func testCallocReturnsZeroedMemoryWhileSampled() throws {
        try HeapProfiler.setSamplingRate(1)
        for round in 0..<50 {
            let block = try XCTUnwrap(calloc(1000 + round, 8))
            let bytes = UnsafeRawBufferPointer(start: block, count: (1000 + round) * 8)
            XCTAssertTrue(bytes.allSatisfy { $0 == 0 })
            memset(block, 0xab, bytes.count)
            free(block)
        }
    }

    func testFailedReallocKeepsTheBlockTracked() throws {
        _ = malloc_usable_size
        try HeapProfiler.setSamplingRate(1)
        let blocks = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: 1)
        defer { blocks.deallocate() }
        let site = mallocBlocks(count: 1, size: 256, into: blocks)
        errno = 0
        XCTAssertNil(realloc(blocks[0], Int.max - 4096), "an impossible realloc must fail")
        XCTAssertNil(reallocarray(blocks[0], Int.max, 16), "an overflowing reallocarray must fail")
        XCTAssertEqual(errno, ENOMEM)
        let afterFailures = SiteTotals(HeapProfiler.snapshot(), site: site)
        XCTAssertGreaterThanOrEqual(malloc_usable_size(blocks[0]), 256)
        XCTAssertNil(realloc(blocks[0], 0), "glibc's realloc(p, 0) frees p")
        let afterFree = SiteTotals(HeapProfiler.snapshot(), site: site)
        try HeapProfiler.setSamplingRate(savedRate)

        XCTAssertEqual(afterFailures.inUseObjects, 1, "the block survived the failed reallocs and is still in use")
        XCTAssertEqual(afterFailures.inUseBytes, 256)
        XCTAssertEqual(afterFree.inUseObjects, 0)
    }

    /// Blocks that glibc handed out without us (as before our code ran) are freed through our free, and
    /// sampled blocks freed behind our back (glibc-internal frees) are credited once their address returns.
    func testBlocksAllocatedOrFreedBehindTheInterposersBackStayCorrect() throws {
        try HeapProfiler.setSamplingRate(1)
        for _ in 0..<1000 { free(gr_libc_malloc(64)) }
        let block = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: 1)
        defer { block.deallocate() }
        var site: UInt = 0
        var reused = 0
        for round in 0..<200 {
            site = mallocBlocks(count: 1, size: 48, into: block)
            let address = block[0]
            if round < 199 { gr_libc_free(address) } else { free(address) }
            if round > 0, address == previousAddress { reused += 1 }
            previousAddress = address
        }
        let totals = SiteTotals(HeapProfiler.snapshot(), site: site)
        try HeapProfiler.setSamplingRate(savedRate)
        XCTAssertEqual(totals.sampledAllocations, 200)
        XCTAssertGreaterThan(reused, 100, "glibc's tcache hands the same 48-byte block back")
        // Every stale entry whose address came back was credited; only ones never reused stay in use.
        XCTAssertLessThanOrEqual(totals.sampledInUseObjects, Int64(200 - reused))
    }
    private var previousAddress: UnsafeMutableRawPointer?

    func testInvalidAlignmentIsRejectedLikeGlibc() {
        var out: UnsafeMutableRawPointer?
        XCTAssertEqual(posix_memalign(&out, 3, 64), EINVAL)
        XCTAssertEqual(posix_memalign(&out, 4, 64), EINVAL, "must be a multiple of sizeof(void *)")
        XCTAssertEqual(posix_memalign(&out, 0, 64), EINVAL)
        XCTAssertEqual(posix_memalign(&out, 32, Int.max - 4096), ENOMEM)
        XCTAssertEqual(malloc_usable_size(nil), 0)
    }
}

final class HeapTableLimitTests: XCTestCase {
    /// More live sampled blocks than the side table holds: the overflow is dropped and counted, nothing
    /// breaks, and exactly the dropped blocks stay "in use" after everything is freed (their frees cannot
    /// be credited).
    func testSideTableOverflowIsDroppedAndCounted() throws {
        let saved = HeapProfiler.samplingRate
        let count = 600_000   // the side table has 2^19 = 524288 slots
        let blocks = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: count)
        defer { blocks.deallocate() }
        let before = HeapProfiler.statistics
        try HeapProfiler.setSamplingRate(1)
        let site = mallocBlocks(count: count, size: 16, into: blocks)
        try HeapProfiler.setSamplingRate(saved)
        let full = HeapProfiler.statistics
        for i in 0..<count { free(blocks[i]) }
        let after = HeapProfiler.statistics
        let totals = SiteTotals(HeapProfiler.snapshot(), site: site)

        let dropped = Int64(full.pointerTableDrops - before.pointerTableDrops)
        XCTAssertGreaterThanOrEqual(dropped, Int64(count - 524_288))
        XCTAssertEqual(totals.sampledAllocations, Int64(count), "every allocation is still counted")
        // Drops by other threads of this process (sampling at rate 1 meanwhile) count too, hence ≤.
        XCTAssertLessThanOrEqual(totals.sampledInUseObjects, dropped)
        XCTAssertGreaterThanOrEqual(totals.sampledInUseObjects, Int64(count - 524_288))
        XCTAssertLessThanOrEqual(after.liveSampledBlocks, before.liveSampledBlocks + 1000,
                                 "tracked blocks were all taken back out")
    }
}
