import Foundation
import Glibc
import Goroutines
import Symbolication
import Synchronization
import XCTest
@testable import Profiling

/// CPU profiles of real work in this process, read back by `go tool pprof` (Go 1.27) and by our decoder.
final class CPUProfileTests: XCTestCase {
    private var directory: String!

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "cpu-profile-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Two labelled goroutines burn CPU in different functions, 3:1. pprof must rank them so (±15 %),
    /// show their labels, and the profile must have Go's CPU shape.
    func testGoToolPprofRanksTwoLabelledGoroutinesByTheirCPUTime() throws {
        let go = try XCTUnwrap(which("go"), "go (1.27) is not on PATH")
        let recording = try CPUProfiler.start()
        let done = WaitGroup()
        done.add(2)
        Goroutines.go {
            Go.withLabels(["worker": "alpha"]) { cpuProfileTestAlpha(cpuSeconds: 1.2) }
            done.done()
        }
        Goroutines.go {
            Go.withLabels(["worker": "beta"]) { cpuProfileTestBeta(cpuSeconds: 0.4) }
            done.done()
        }
        done.wait()
        let cpu = recording.stop()
        let profile = try cpu.pprofProfile(resolver: Symbolizer.shared)

        XCTAssertEqual(profile.sampleTypes, [ValueType(type: "samples", unit: "count"), ValueType(type: "cpu", unit: "nanoseconds")])
        XCTAssertEqual(profile.periodType, ValueType(type: "cpu", unit: "nanoseconds"))
        XCTAssertEqual(profile.period, 10_000_000)
        XCTAssertGreaterThan(profile.durationNanos, 1_000_000_000 / 2)
        XCTAssertEqual(profile.defaultSampleType, "")
        for sample in profile.samples { XCTAssertEqual(sample.values[1], sample.values[0] * 10_000_000) }
        XCTAssertEqual(ProfileValidator.problems(inProto: profile.encodedProto()), [])

        let path = "\(directory!)/cpu.pb.gz"
        try cpu.write(.gzippedProto, toFileDescriptor: try openForWriting(path))
        let top = try run(go, ["tool", "pprof", "-top", "-unit=ms", path])
        // CPU_PROFILE_TEST_KEEP=<path> keeps a copy of the profile for a closer look.
        if let keep = ProcessInfo.processInfo.environment["CPU_PROFILE_TEST_KEEP"] { try? FileManager.default.copyItem(atPath: path, toPath: keep) }
        let alpha = try flatAndCum(of: "ProfilingTests.cpuProfileTestAlpha", in: top)
        let beta = try flatAndCum(of: "ProfilingTests.cpuProfileTestBeta", in: top)
        // Each burned an exact amount of its thread's CPU: 1200 ms and 400 ms.
        XCTAssertEqual(alpha.cum / beta.cum, 3.0, accuracy: 0.45, top)
        XCTAssertEqual(alpha.flat / beta.flat, 3.0, accuracy: 0.45, top)
        XCTAssertEqual(alpha.cum, 1200, accuracy: 180, top)
        XCTAssertEqual(beta.cum, 400, accuracy: 60, top)
        XCTAssertLessThan(top.range(of: "cpuProfileTestAlpha")!.lowerBound, top.range(of: "cpuProfileTestBeta")!.lowerBound,
                          "alpha ranks first: \(top)")

        let tags = try run(go, ["tool", "pprof", "-tags", path])
        XCTAssertTrue(tags.contains("worker:"), tags)
        XCTAssertNotNil(tags.range(of: #"\(\s*7\d(\.\d+)?%\): alpha"#, options: .regularExpression), tags)
        XCTAssertNotNil(tags.range(of: #"\(\s*2\d(\.\d+)?%\): beta"#, options: .regularExpression), tags)
    }

    /// CPU spent in the kernel inside read(2) lands in the function that called read, even though
    /// libc's read has no frame pointer.
    func testSamplesInsideABlockingSystemCallLandInTheCallingFunction() throws {
        let recording = try CPUProfiler.start()
        let done = WaitGroup()
        done.add(1)
        Goroutines.go {
            Go.blockingCall { cpuProfileTestReadZero(cpuSeconds: 0.6) }
            done.done()
        }
        done.wait()
        let profile = try recording.stop().pprofProfile(resolver: Symbolizer.shared)
        let stacks = namedStacks(profile)
        let reading = stacks.filter { $0.names.contains { $0.hasPrefix("ProfilingTests.cpuProfileTestReadZero") } }
        let readingTicks = reading.reduce(0) { $0 + $1.count }
        XCTAssertEqual(Double(readingTicks), 60, accuracy: 15, "ticks inside cpuProfileTestReadZero")
        // Most of it is in libc's read (or the helpers read calls, such as the cancellation-point
        // bookkeeping), and the frame above read is our function, not its caller.
        let readNames: Set<String> = ["read", "__libc_read", "__GI___libc_read"]
        let inRead = reading.filter { stack in stack.names.prefix(2).contains { readNames.contains($0) } }
        let inReadTicks = inRead.reduce(0) { $0 + $1.count }
        XCTAssertGreaterThan(inReadTicks, readingTicks / 2, "\(reading.prefix(5))")
        let directCaller = inRead.filter { stack in
            guard let i = stack.names.firstIndex(where: { readNames.contains($0) }), i + 1 < stack.names.count else { return false }
            return stack.names[i + 1].hasPrefix("ProfilingTests.cpuProfileTestReadZero")
        }
        XCTAssertEqual(directCaller.reduce(0) { $0 + $1.count }, inReadTicks, "\(inRead.prefix(5))")
    }

    func testOnlyOneCPUProfileRunsAtATime() throws {
        let first = try CPUProfiler.start(rate: 250)
        XCTAssertTrue(CPUProfiler.isRunning)
        XCTAssertThrowsError(try CPUProfiler.start()) { error in
            XCTAssertEqual(error as? CPUProfilerError, .alreadyInUse)
            XCTAssertEqual("\(error)", "cpu profiling already in use")
        }
        XCTAssertThrowsError(try CPUProfiler.startCPUProfile(writingTo: .stream { _ in })) { error in
            XCTAssertEqual(error as? CPUProfilerError, .alreadyInUse)
        }
        cpuProfileTestAlpha(cpuSeconds: 0.1)
        let profile = try first.stop().pprofProfile(resolver: Symbolizer.shared)
        XCTAssertEqual(profile.period, 4_000_000, "250 Hz")
        XCTAssertFalse(CPUProfiler.isRunning)
        // Free again: the next one starts.
        _ = try CPUProfiler.start().stop()
    }

    func testRateOutsideItsBoundsIsRefused() {
        for rate in [0, -1, 1001] {
            XCTAssertThrowsError(try CPUProfiler.start(rate: rate)) { error in
                XCTAssertEqual(error as? CPUProfilerError, .rateOutOfRange(rate, maximum: 1000))
                XCTAssertTrue("\(error)".contains("1...1000"), "\(error)")
            }
        }
        XCTAssertFalse(CPUProfiler.isRunning)
    }

    func testStartAndStopCPUProfileWriteAGzippedProfileToAFile() throws {
        let path = "\(directory!)/written.pb.gz"
        try CPUProfiler.startCPUProfile(writingTo: .file(path: path))
        cpuProfileTestBeta(cpuSeconds: 0.3)
        let profile = try XCTUnwrap(try CPUProfiler.stopCPUProfile())
        XCTAssertNil(try CPUProfiler.stopCPUProfile(), "nothing runs any more")
        let bytes = try XCTUnwrap(FileManager.default.contents(atPath: path))
        let decoded = try Profile(proto: try Gzip.decompress(Array(bytes)))
        XCTAssertEqual(decoded.samples.count, profile.samples.count)
        let ticks = namedStacks(decoded).filter { $0.names.contains { $0.hasPrefix("ProfilingTests.cpuProfileTestBeta") } }
            .reduce(0) { $0 + $1.count }
        XCTAssertEqual(Double(ticks), 30, accuracy: 8)

        XCTAssertThrowsError(try CPUProfiler.startCPUProfile(writingTo: .file(path: "/nonexistent-dir/x.pb.gz"))) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent-dir/x.pb.gz"), "\(error)")
        }
        XCTAssertFalse(CPUProfiler.isRunning, "a failed start leaves nothing running")
    }

    /// A thread that blocks SIGPROF is named in the profile's comments.
    func testThreadsBlockingSIGPROFAreReported() throws {
        let ready = DispatchSemaphore(value: 0), finish = DispatchSemaphore(value: 0)
        let tid = Mutex<Int32>(0)
        let thread = Thread {
            var set = sigset_t()
            sigemptyset(&set)
            sigaddset(&set, SIGPROF)
            pthread_sigmask(SIG_BLOCK, &set, nil)
            let link = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self")) ?? ""   // "pid/task/tid"
            tid.withLock { $0 = Int32(link.split(separator: "/").last ?? "") ?? -1 }
            ready.signal()
            finish.wait()
        }
        thread.start()
        ready.wait()
        let recording = try CPUProfiler.start()
        finish.signal()
        let profile = recording.stop()
        let blocker = tid.withLock { $0 }
        XCTAssertTrue(profile.comments.contains { $0.hasPrefix("thread \(blocker) (") && $0.contains("blocks SIGPROF") },
                      "\(profile.comments)")
        XCTAssertEqual(profile.comments.filter { $0.contains("blocks SIGPROF") }.count, 1, "only that thread blocks it: \(profile.comments)")
    }

    // MARK: helpers

    private func openForWriting(_ path: String) throws -> Int32 {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        if fd < 0 { throw POSIXError(.init(rawValue: errno)!) }
        return fd
    }

    private func run(_ tool: String, _ arguments: [String]) throws -> String {
        let result = try runProcess(tool, arguments)
        XCTAssertEqual(result.status, 0, result.stderr)
        return result.stdout
    }

    /// flat and cum (ms) of the first `-top` row naming `function`.
    private func flatAndCum(of function: String, in top: String) throws -> (flat: Double, cum: Double) {
        let row = try XCTUnwrap(top.split(separator: "\n").first { $0.contains(function) }, top)
        let fields = row.split(separator: " ", omittingEmptySubsequences: true)
        func ms(_ field: Substring) -> Double { Double(field.replacingOccurrences(of: "ms", with: "")) ?? -1 }
        return (ms(fields[0]), ms(fields[3]))
    }
}

/// Each sample's function names, leaf first, one per location: the function that owns the machine code
/// (inlined callees left out), and its count.
func namedStacks(_ profile: Profile) -> [(names: [String], count: Int64)] {
    let functions = Dictionary(uniqueKeysWithValues: profile.functions.map { ($0.id, $0.name) })
    let locations = Dictionary(uniqueKeysWithValues: profile.locations.map { ($0.id, $0) })
    return profile.samples.map { sample in
        let names = sample.locationIDs.map { id in
            locations[id]?.lines.last.flatMap { functions[$0.functionID] } ?? "?"
        }
        return (names, sample.values[0])
    }
}

/// Time the scheduler itself spends (switching, run queues) shows under the scheduler's own names, as
/// Go's runtime frames do.
final class CPUProfileSchedulerTests: XCTestCase {
    func testSchedulerFramesAppearUnderTheirNames() throws {
        let recording = try CPUProfiler.start(rate: 500)
        let done = WaitGroup()
        for _ in 0..<4 {
            done.go {
                for _ in 0..<100_000 { Go.yield() }   // nearly all of it is switching
            }
        }
        done.wait()
        let profile = try recording.stop().pprofProfile(resolver: Symbolizer.shared)
        let stacks = namedStacks(profile)
        let total = stacks.reduce(0) { $0 + $1.count }
        let inScheduler = stacks.filter { $0.names.contains { $0.hasPrefix("Goroutines.Scheduler.") } }.reduce(0) { $0 + $1.count }
        XCTAssertGreaterThan(total, 0)
        XCTAssertGreaterThan(inScheduler * 2, total, "most of a yield storm is the scheduler's own work: \(stacks.prefix(3))")
    }

    func testDroppingARecordingStopsIt() throws {
        do {
            _ = try CPUProfiler.start()
            // The handle is gone here.
        }
        XCTAssertFalse(CPUProfiler.isRunning)
        _ = try CPUProfiler.start().stop()
    }
}
