import CSampling
import Foundation
import Glibc
import Goroutines
import Symbolication
import XCTest
@testable import Profiling

/// Allocates and frees strings and arrays: every call goes through the malloc interposer.
@inline(never) func cpuStressMallocChurn(rounds: Int) -> Int {
    var total = 0
    for i in 0..<rounds {
        let text = String(repeating: "x", count: 16 + i % 200) + "\(i)"
        var numbers = [Int](repeating: i, count: 8 + i % 64)
        numbers.append(text.utf8.count)
        total &+= numbers.count
    }
    return total
}

private final class ChurnJob: @unchecked Sendable {
    let rounds: Int
    var result = 0
    init(rounds: Int) { self.rounds = rounds }
}

private func startChurnThread(_ job: ChurnJob) -> pthread_t {
    var thread = pthread_t()
    let rc = pthread_create(&thread, nil, { argument in
        let job = Unmanaged<ChurnJob>.fromOpaque(argument!).takeRetainedValue()
        job.result = cpuStressMallocChurn(rounds: job.rounds)
        return nil
    }, Unmanaged.passRetained(job).toOpaque())
    precondition(rc == 0, "pthread_create failed: \(rc)")
    return thread
}

/// The CPU profiler at its highest rate together with the heap sampler recording every allocation,
/// while threads and labelled goroutines come and go. It must neither crash nor deadlock, and it must
/// see the short-lived threads and goroutines.
final class CPUProfileStressTests: XCTestCase {
    func testHighRateProfileWithHeapSamplingEveryAllocationWhileThreadsAndGoroutinesChurn() throws {
        let savedRate = HeapProfiler.samplingRate
        try HeapProfiler.setSamplingRate(1)
        defer { try? HeapProfiler.setSamplingRate(savedRate) }
        var before = gr_cpuprof_stats()
        gr_cpuprof_read_stats(&before)

        let recording = try CPUProfiler.start(rate: CPUProfiler.maximumRate)
        let deadline = Date(timeIntervalSinceNow: 3)
        var round = 0
        while Date() < deadline {
            round += 1
            let threads = (0..<6).map { _ in startChurnThread(ChurnJob(rounds: 3000)) }
            let goroutines = WaitGroup()
            for g in 0..<16 {
                let label = "r\(round % 4)"
                goroutines.go {
                    Go.withLabels(["round": label, "g": "\(g % 2)"]) { _ = cpuStressMallocChurn(rounds: 500) }
                }
            }
            goroutines.wait()
            for thread in threads { pthread_join(thread, nil) }
        }
        let cpu = recording.stop()
        XCTAssertFalse(CPUProfiler.isRunning)
        var after = gr_cpuprof_stats()
        gr_cpuprof_read_stats(&after)

        let profile = try cpu.pprofProfile(resolver: Symbolizer.shared)
        XCTAssertEqual(ProfileValidator.problems(inProto: profile.encodedProto()), [])
        let stacks = namedStacks(profile)
        let churnTicks = stacks.filter { $0.names.contains { $0.hasPrefix("ProfilingTests.cpuStressMallocChurn") } }
            .reduce(0) { $0 + $1.count }
        XCTAssertGreaterThan(churnTicks, 300, "at 1000 Hz, seconds of churn on many threads; \(round) rounds")
        let labelled = profile.samples.filter { $0.labels.contains { $0.key == "round" } }.reduce(0) { $0 + $1.values[0] }
        XCTAssertGreaterThan(labelled, 10, "samples of the short-lived labelled goroutines carry their labels")
        // Each recorded signal stands for 1 + its timer overruns (the kernel checks CPU timers once per
        // scheduler tick, so at 1000 Hz one signal often carries several periods).
        XCTAssertGreaterThanOrEqual(after.recorded - before.recorded, UInt64(profile.samples.count))
        // Samples that stopped inside libc (malloc, free, memcpy: no frame pointers) still reach the
        // Swift function that called into it.
        let libcMapping = Set(profile.mappings.filter { $0.filename.contains("/libc.so") }.map(\.id))
        let locationMapping = Dictionary(uniqueKeysWithValues: profile.locations.map { ($0.id, $0.mappingID) })
        var libcLeaf: Int64 = 0, libcLeafReachingChurn: Int64 = 0
        for (sample, named) in zip(profile.samples, stacks) {
            guard let leaf = sample.locationIDs.first, libcMapping.contains(locationMapping[leaf] ?? 0) else { continue }
            libcLeaf += named.count
            let ours = named.names.contains { name in
                ["ProfilingTests.", "Profiling.", "Goroutines.", "start_thread"].contains { name.hasPrefix($0) }
            }
            if ours { libcLeafReachingChurn += named.count }
        }
        XCTAssertGreaterThan(libcLeafReachingChurn * 10, libcLeaf * 8, "\(libcLeafReachingChurn) of \(libcLeaf) libc-leaf ticks walk on into our code")
        print("cpu-profile-stress: libc-leaf ticks \(libcLeaf), of which reach our code \(libcLeafReachingChurn)")
        print("cpu-profile-stress: \(round) rounds, \(churnTicks) churn ticks, \(labelled) labelled, lost \(cpu.lostSamples), ring-full \(after.ring_full - before.ring_full), stale signals \(after.stale - before.stale)")
    }
}

/// The profile's shape against Go 1.27's CPU profile, from made-up samples.
final class CPUProfileShapeTests: XCTestCase {
    func testShapeMatchesGoAndLostSamplesGetTheirOwnFrame() throws {
        var resolver = FakeResolver()
        let base: UInt = 0x40_1000
        resolver.add(pc: base, "App.spin()", file: "/src/App/main.swift", line: 10, startLine: 8, entry: base - 0x10)
        resolver.add(pc: base + 0x100, "App.main()", file: "/src/App/main.swift", line: 30, startLine: 25, entry: base + 0xF0)
        let cpu = CPUProfile(
            rate: 100, timeNanos: 1_795_306_285_607_163_144, durationNanos: 1_000_620_433,
            samples: [
                CPUProfile.Sample(stack: [base + 1, base + 0x101], labels: [.string("phase", "spin")], count: 9),
                CPUProfile.Sample(stack: [base + 0x101], labels: [], count: 2),
            ],
            lostSamples: 3)
        let profile = try cpu.pprofProfile(resolver: resolver)
        XCTAssertEqual(profile.sampleTypes, [ValueType(type: "samples", unit: "count"), ValueType(type: "cpu", unit: "nanoseconds")])
        XCTAssertEqual(profile.periodType, ValueType(type: "cpu", unit: "nanoseconds"))
        XCTAssertEqual(profile.period, 10_000_000)
        XCTAssertEqual(profile.durationNanos, 1_000_620_433)
        XCTAssertEqual(profile.timeNanos, 1_795_306_285_607_163_144)
        XCTAssertEqual(profile.defaultSampleType, "")
        XCTAssertEqual(profile.comments, [])
        XCTAssertEqual(profile.samples.map(\.values), [[9, 90_000_000], [2, 20_000_000], [3, 30_000_000]])
        XCTAssertEqual(profile.samples[0].labels, [.string("phase", "spin")])
        let stacks = namedStacks(profile)
        XCTAssertEqual(stacks[0].names, ["App.spin()", "App.main()"])
        XCTAssertEqual(stacks[2].names, [CPUProfile.lostSamplesFunction])
        XCTAssertEqual(profile.locations.first?.address, UInt64(base), "the interrupted PC itself, not PC - 1")

        // The same fields as Go's own capture of a CPU profile.
        if GoCaptures.available("profile.decoded.txt") {
            let go = ProtoText.parse(try GoCaptures.body("profile.decoded.txt"))
            XCTAssertEqual(go.int("period"), profile.period)
            XCTAssertEqual(go.children("sample_type").count, profile.sampleTypes.count)
            let strings = go.all("string_table")
            for name in ["samples", "count", "cpu", "nanoseconds"] {
                XCTAssertTrue(strings.contains { $0.contains(name) }, "\(name) in \(strings.prefix(6))")
            }
            XCTAssertTrue(go.all("default_sample_type").isEmpty)
            XCTAssertFalse(go.all("duration_nanos").isEmpty)
        }
    }

    func testAnotherSIGPROFHandlerMakesStartRefuse() throws {
        _ = try CPUProfiler.start().stop()   // ours is installed now
        var ours = sigaction()
        sigaction(SIGPROF, nil, &ours)
        var foreign = sigaction()
        foreign.__sigaction_handler.sa_handler = { _ in }
        sigemptyset(&foreign.sa_mask)
        sigaction(SIGPROF, &foreign, nil)
        defer { sigaction(SIGPROF, &ours, nil) }
        XCTAssertThrowsError(try CPUProfiler.start()) { error in
            XCTAssertEqual(error as? CPUProfilerError, .foreignSignalHandler)
            XCTAssertTrue("\(error)".contains("another SIGPROF handler"), "\(error)")
        }
        XCTAssertFalse(CPUProfiler.isRunning)
    }
}
