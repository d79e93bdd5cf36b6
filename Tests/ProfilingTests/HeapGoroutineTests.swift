import CSampling
import CStackSwitch
import Glibc
import Goroutines
import XCTest

@testable import Profiling

/// Allocates from a goroutine. The scheduler announces each goroutine's stack bounds to the sampler on
/// every switch (gr_heap_set_stack_bounds); with `announceStack` false the job withdraws them for the
/// duration, as a runtime that did not announce them would leave things.
final class GoroutineAllocationJob: @unchecked Sendable {
    let count: Int
    let announceStack: Bool
    let blocks: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    var site: UInt = 0
    var onGoroutineStack = false

    init(count: Int, announceStack: Bool) {
        self.count = count
        self.announceStack = announceStack
        blocks = .allocate(capacity: count)
    }

    deinit { blocks.deallocate() }

    func run() {
        var lo: UInt = 0, hi: UInt = 0
        gr_tls_goroutine_stack(&lo, &hi)
        onGoroutineStack = lo < hi
        gr_heap_set_stack_bounds(announceStack ? lo : 0, announceStack ? hi : 0)
        site = mallocBlocks(count: count, size: 80, into: blocks)
        gr_heap_set_stack_bounds(lo, hi)
        for i in 0..<count { free(blocks[i]) }
    }
}

final class HeapGoroutineTests: XCTestCase {
    private var savedRate = 0

    override func setUp() { savedRate = HeapProfiler.samplingRate }
    override func tearDown() { try? HeapProfiler.setSamplingRate(savedRate) }

    private func runInGoroutine(_ job: GoroutineAllocationJob) throws {
        try Go.runBlocking {
            let group = WaitGroup()
            group.go { job.run() }
            group.wait()
        }
    }

    /// With the bounds announced, goroutine stacks are walked in full: the allocating function's caller
    /// is found in every sample.
    func testGoroutineStacksAreWalkedWhenTheRuntimeAnnouncesThem() throws {
        try HeapProfiler.setSamplingRate(1)
        let job = GoroutineAllocationJob(count: 500, announceStack: true)
        try runInGoroutine(job)
        let totals = SiteTotals(HeapProfiler.snapshot(), site: job.site)
        try HeapProfiler.setSamplingRate(savedRate)
        XCTAssertTrue(job.onGoroutineStack, "the job must run on a goroutine stack for this test to mean anything")
        XCTAssertNotEqual(job.site, 0)
        XCTAssertEqual(totals.sampledAllocations, 500)
        XCTAssertEqual(totals.inUseObjects, 0)
    }

    /// Without them, a sample on a goroutine stack is safe and records the allocation's direct caller only.
    func testUnannouncedGoroutineStacksRecordTheCallerSafely() throws {
        try HeapProfiler.setSamplingRate(1)
        let before = HeapProfiler.statistics.unwalkableStacks
        let job = GoroutineAllocationJob(count: 500, announceStack: false)
        try runInGoroutine(job)
        let after = HeapProfiler.statistics.unwalkableStacks
        try HeapProfiler.setSamplingRate(savedRate)
        XCTAssertTrue(job.onGoroutineStack)
        XCTAssertGreaterThanOrEqual(after - before, 500)
    }
}
