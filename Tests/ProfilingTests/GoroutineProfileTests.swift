import Foundation
import Goroutines
import Synchronization
import XCTest
@testable import Profiling

/// The goroutine and threadcreate profiles of this process, collected from the live runtime.
final class GoroutineProfileTests: XCTestCase {
    /// Parks `count` goroutines in `parkedInProfileTest(on:)` (half of them labelled) and runs `body`
    /// while they wait.
    private func withParkedGoroutines(_ count: Int, _ body: () throws -> Void) throws {
        let gate = WaitGroup()
        gate.add(1)
        let parked = WaitGroup()
        let finished = WaitGroup()
        for i in 0..<count {
            parked.add(1)
            finished.add(1)
            go {
                let run = { parked.done(); parkedInProfileTest(on: gate); finished.done() }
                if i % 2 == 0 { Go.withLabels(["role": "parker", "tenant": "t \(i % 4)"], run) } else { run() }
            }
        }
        parked.wait()
        // parked.done() runs just before the park: give the last goroutines a moment to get there.
        while RuntimeSnapshot.goroutines().filter({ $0.status == .waiting && !$0.stack.isEmpty }).count < count {
            Go.sleep(for: .milliseconds(1))
        }
        defer {
            gate.done()
            finished.wait()
        }
        try body()
    }

    func testGoroutineProfileGroupsParkedGoroutinesByStackAndLabels() throws {
        try withParkedGoroutines(8) {
            let profile = GoroutineProfiles.goroutine()
            XCTAssertGreaterThanOrEqual(profile.total, 8)
            let text = profile.legacyText()
            XCTAssertTrue(text.hasPrefix("goroutine profile: total "), text)
            XCTAssertTrue(text.contains("# labels: {\"role\":\"parker\", \"tenant\":\"t 0\"}"), text)
            XCTAssertTrue(text.contains("# labels: {\"role\":\"parker\", \"tenant\":\"t 2\"}"), text)
            XCTAssertTrue(text.contains("ProfilingTests.parkedInProfileTest(on:)+0x"), text)
            XCTAssertTrue(text.contains("Goroutines.WaitGroup.wait()+0x"), text)
            XCTAssertFalse(text.contains("Scheduler."), "scheduler frames are hidden in the text form")
            XCTAssertFalse(text.contains("goroutineEntry"), "entry frames are hidden in the text form")
            // Four unlabelled parkers share one record.
            XCTAssertTrue(text.contains("\n4 @ 0x"), text)

            let proto = try profile.render(.gzippedProto)
            XCTAssertEqual(ProfileValidator.problems(inProto: try profile.render(.proto)), [])
            let decoded = try Profile(proto: proto)
            XCTAssertEqual(decoded.sampleTypes.map { "\($0.type)/\($0.unit)" }, ["goroutine/count"])
            XCTAssertEqual(decoded.periodType.map { "\($0.type)/\($0.unit)" }, "goroutine/count")
            XCTAssertEqual(decoded.period, 1)
        }
    }

    func testGoToolPprofReadsTheGoroutineProfileAndItsLabels() throws {
        guard let go = which("go") else { throw XCTSkip("go is not installed") }
        try withParkedGoroutines(6) {
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("goroutine-\(getpid()).pb.gz")
            try Data(try GoroutineProfiles.goroutine().render(.gzippedProto)).write(to: file)
            defer { try? FileManager.default.removeItem(at: file) }
            let top = try runProcess(go, ["tool", "pprof", "-top", file.path])
            XCTAssertEqual(top.status, 0, top.stderr)
            XCTAssertTrue(top.stdout.contains("ProfilingTests.parkedInProfileTest(on:)"), top.stdout)
            let tags = try runProcess(go, ["tool", "pprof", "-tags", file.path])
            XCTAssertEqual(tags.status, 0, tags.stderr)
            XCTAssertTrue(tags.stdout.contains("role: Total 3"), tags.stdout)
            XCTAssertTrue(tags.stdout.contains("parker"), tags.stdout)
            let raw = try runProcess(go, ["tool", "pprof", "-raw", file.path])
            XCTAssertEqual(raw.status, 0)
            XCTAssertEqual(raw.stderr, "", "no warnings")
        }
    }

    func testDebug2IsGoTracebackTextForEveryGoroutine() throws {
        try withParkedGoroutines(4) {
            let text = GoroutineProfiles.goroutineTraceback()
            let blocks = text.components(separatedBy: "\n\n")
            let ours = blocks.filter { $0.contains("ProfilingTests.parkedInProfileTest(on:)") }
            XCTAssertEqual(ours.count, 4, text)
            for block in ours {
                let lines = block.split(separator: "\n").map(String.init)
                XCTAssertTrue(lines[0].hasPrefix("goroutine ") && lines[0].contains(" [sync.WaitGroup.Wait"), lines[0])
                XCTAssertTrue(lines.contains { $0.hasPrefix("created by ") }, block)
                XCTAssertTrue(lines.contains { $0.hasPrefix("\t") && $0.contains("GoroutineProfileTests.swift:") }, block)
            }
            XCTAssertEqual(ours.filter { $0.contains("{role: parker, tenant: \"t ") }.count, 2, "1.27 label blocks in headers")
        }
    }

    func testEveryGoroutineAppearsExactlyOnceWhileTheyKeepRunning() throws {
        // Busy goroutines park and run all the time; the scheduler records some of them before running
        // them, the collector the rest. None may be missed or counted twice.
        let stop = Atomic<Bool>(false)
        let ids = IDCollector()
        let finished = WaitGroup()
        for _ in 0..<64 {
            finished.add(1)
            go {
                ids.add(Go.goroutineID ?? -1)
                while !stop.load(ordering: .relaxed) {
                    Go.yield()
                    Go.sleep(for: .microseconds(50))
                }
                finished.done()
            }
        }
        while ids.count < 64 { Go.sleep(for: .milliseconds(1)) }
        let workers = ids.all
        for _ in 0..<20 {
            let snapshot = RuntimeSnapshot.goroutines()
            let seen = snapshot.map(\.id).filter { workers.contains($0) }
            XCTAssertEqual(seen.count, 64, "each worker exactly once")
            XCTAssertEqual(Set(seen).count, 64)
        }
        stop.store(true, ordering: .relaxed)
        finished.wait()
    }

    func testThreadcreateHasOneRecordPerRuntimeThread() throws {
        Go.sleep(for: .milliseconds(1))  // make sure the runtime has started
        let profile = GoroutineProfiles.threadcreate()
        XCTAssertEqual(profile.total, RuntimeSnapshot.threads().count)
        XCTAssertTrue(profile.legacyText().hasPrefix("threadcreate profile: total \(profile.total)\n"))
        XCTAssertEqual(ProfileValidator.problems(inProto: try profile.render(.proto)), [])
    }
}

final class IDCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var ids: Set<Int64> = []
    func add(_ id: Int64) { lock.lock(); ids.insert(id); lock.unlock() }
    var count: Int { lock.lock(); defer { lock.unlock() }; return ids.count }
    var all: Set<Int64> { lock.lock(); defer { lock.unlock() }; return ids }
}

@inline(never) func parkedInProfileTest(on gate: WaitGroup) {
    gate.wait()
}
