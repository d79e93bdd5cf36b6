import CSampling
import Glibc
import XCTest

@testable import Profiling

/// Work for one short-lived thread: allocate, free half, leave the other half to the joiner.
final class ThreadAllocationJob: @unchecked Sendable {
    let count: Int
    let blocks: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    var site: UInt = 0

    init(count: Int) {
        self.count = count
        blocks = .allocate(capacity: count)
    }

    deinit { blocks.deallocate() }
}

@inline(never) func runThreadAllocationJob(_ job: ThreadAllocationJob) {
    job.site = mallocBlocks(count: job.count, size: 64, into: job.blocks)
    for i in stride(from: 0, to: job.count, by: 2) { free(job.blocks[i]) }
}

/// Keeps malloc busy on another thread until told to stop (for the fork test).
final class AllocationChurn: @unchecked Sendable {
    let stop = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
    init() { stop.initialize(to: 0) }
    deinit { stop.deallocate() }
}

private func startThread(_ body: @convention(c) (UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer?,
                         _ argument: AnyObject) -> pthread_t {
    var thread = pthread_t()
    let result = pthread_create(&thread, nil, body, Unmanaged.passRetained(argument).toOpaque())
    precondition(result == 0, "pthread_create failed: \(result)")
    return thread
}

final class HeapThreadAndForkTests: XCTestCase {
    private var savedRate = 0

    override func setUp() { savedRate = HeapProfiler.samplingRate }
    override func tearDown() { try? HeapProfiler.setSamplingRate(savedRate) }

    func testThreadsStartingAndExitingLoseNothing() throws {
        try HeapProfiler.setSamplingRate(1)
        let rounds = 5, threadsPerRound = 16, perThread = 2000
        var site: UInt = 0
        for _ in 0..<rounds {
            let jobs = (0..<threadsPerRound).map { _ in ThreadAllocationJob(count: perThread) }
            let threads = jobs.map { job in
                startThread({ argument in
                    let job = Unmanaged<ThreadAllocationJob>.fromOpaque(argument!).takeRetainedValue()
                    runThreadAllocationJob(job)
                    return nil
                }, job)
            }
            for thread in threads { pthread_join(thread, nil) }
            // The survivors are freed here, on another thread than the one that allocated them.
            for job in jobs {
                for i in stride(from: 1, to: perThread, by: 2) { free(job.blocks[i]) }
            }
            XCTAssertEqual(Set(jobs.map(\.site)).count, 1, "every thread allocates from the same call site")
            site = jobs[0].site
        }
        let totals = SiteTotals(HeapProfiler.snapshot(), site: site)
        try HeapProfiler.setSamplingRate(savedRate)

        XCTAssertEqual(totals.sampledAllocations, Int64(rounds * threadsPerRound * perThread))
        XCTAssertEqual(totals.sampledAllocatedBytes, Int64(rounds * threadsPerRound * perThread * 64))
        XCTAssertEqual(totals.inUseObjects, 0)
        XCTAssertEqual(totals.inUseBytes, 0)
        XCTAssertEqual(HeapProfiler.statistics.stackTableDrops, 0)
    }

    func testForkWhileOtherThreadsAreSamplingNeitherHangsNorBreaksTheChild() throws {
        try HeapProfiler.setSamplingRate(1)
        let churn = AllocationChurn()
        let workers = (0..<3).map { _ in
            startThread({ argument in
                let churn = Unmanaged<AllocationChurn>.fromOpaque(argument!).takeRetainedValue()
                var kept = [UnsafeMutableRawPointer?](repeating: nil, count: 64)
                var i = 0
                while churn.stop.pointee == 0 {
                    free(kept[i & 63])
                    kept[i & 63] = malloc(16 + (i % 512))
                    i += 1
                }
                for block in kept { free(block) }
                return nil
            }, churn)
        }
        defer {
            churn.stop.pointee = 1
            for worker in workers { pthread_join(worker, nil) }
        }

        for attempt in 0..<40 {
            let pid = fork()
            XCTAssertGreaterThanOrEqual(pid, 0, "fork failed")
            if pid == 0 {
                // Child: only C calls. Sampling must keep working with the tables inherited mid-update.
                var before = gr_heap_stats(), after = gr_heap_stats()
                gr_heap_read_stats(&before)
                for n in 0..<2000 { free(malloc(32 + n % 100)) }
                gr_heap_read_stats(&after)
                _exit(after.samples >= before.samples + 2000 && after.live_sampled_blocks <= before.live_sampled_blocks ? 0 : 3)
            }
            XCTAssertEqual(waitWithDeadline(pid, seconds: 20), 0, "child \(attempt) hung or failed")
        }
    }

    /// Exit status of `pid`, or -1 after killing it when it does not finish in time.
    private func waitWithDeadline(_ pid: pid_t, seconds: Double) -> Int32 {
        let deadline = Date().addingTimeInterval(seconds)
        var status: Int32 = 0
        while Date() < deadline {
            let done = waitpid(pid, &status, WNOHANG)
            if done == pid { return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f) }
            usleep(2000)
        }
        kill(pid, SIGKILL)
        waitpid(pid, &status, 0)
        return -1
    }
}
