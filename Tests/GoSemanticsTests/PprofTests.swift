import Foundation
import XCTest
import Goroutines
import Profiling

// Go 1.27 runtime/pprof/pprof_test.go, the parts about goroutine profiles and tracebacks that the API
// expresses (Go's Lookup("goroutine") is `GoroutineProfiles.goroutine()`, WriteTo(w, 1) its `legacyText()`,
// pprof.Do `Go.withLabels`, runtime.Stack `Go.stack(all:)`). Not ported:
// - CPU, block and mutex profile tests (TestCPUProfile*, TestMathBigDivide, TestMorestack, TestBlockProfile*,
//   TestMutexProfile*, TestLabelRace, TestLabelSystemstack, TestTimeVDSO, TestProfilerStackDepth,
//   TestMutexBlockFullAggregation, TestBlockMutexProfileInlineExpansion, TestCPUProfileLabel,
//   TestGoroutineSwitch): they check Go function names and runtime frames (runtime.chanrecv1,
//   runtime/pprof.cpuHogger) in the samples; ProfilingTests covers these profiles with this project's frames.
// - TestGoroutineCounts' finalizer goroutine (runtime.SetFinalizer; no GC here) and its
//   profile.CheckValid (ProfilingTests checks validity with go tool pprof).
// - TestGoroutineProfileConcurrency's finalizer subtests (no finalizers), TestGoroutineLeakProfileConcurrency
//   (Go's goroutineleak profile), TestGoroutineProfileCoro (iter.Pull coroutines), TestGoroutineProfileIssue74090
//   (a Go GC stack-scan race), TestEmptyCallStack, TestTryAdd, TestAtomicLoadStore64,
//   TestProfileRecordNullPadding, TestCPUProfileWithFork: Go-internal record and buffer layouts.
final class GoPprofTests: XCTestCase, @unchecked Sendable {
    func testGoroutineCounts() throws {
        try goTest {
            withMaxProcs(1) {  // ensures all goroutines reach the desired blocking point
                let c = Channel<Int>()
                for i in 0..<100 {
                    if i % 10 == 0 { go { func1(c) } } else if i % 2 == 0 { go { func2(c) } } else { go { func3(c) } }
                    for _ in 0..<5 { Go.yield() }
                }
                Go.withLabels(["label": "value"]) {
                    for i in 0..<89 {
                        if i % 10 == 0 { go { func1(c) } } else if i % 2 == 0 { go { func2(c) } } else { go { func3(c) } }
                        for _ in 0..<5 { Go.yield() }
                    }
                }
                Go.setGoroutineLabels(["self-label": "self-value"])
                defer { Go.setGoroutineLabels([:]) }

                let profile = GoroutineProfiles.goroutine()
                let prof = profile.legacyText()
                let labelStr = "\n# labels: {\"label\":\"value\"}"
                let selfLabelStr = "\n# labels: {\"self-label\":\"self-value\"}"
                let orderedPrefix = ["\n50 @ ", "\n44 @", labelStr, "\n40 @", "\n36 @", labelStr, "\n10 @", "\n9 @", labelStr, "\n1 @"]
                if !containsInOrder(prof, orderedPrefix + [selfLabelStr]) {
                    XCTFail("expected sorted goroutine counts with Labels:\n\(prof)")
                }
                // The proto form (Go parses it back): counts with their labels.
                let expectedLabels: [Int: [String: String]] = [
                    50: [:], 44: ["label": "value"], 40: [:], 36: ["label": "value"], 10: [:], 9: ["label": "value"],
                    1: ["self-label": "self-value"],
                ]
                for (count, labels) in expectedLabels {
                    let found = profile.groups.contains { group in
                        group.count == count && Dictionary(group.labels.map { ($0.key, $0.value) }, uniquingKeysWith: { $1 }) == labels
                    }
                    if !found { XCTFail("expected count profile to contain \(count) goroutines with labels \(labels)") }
                }
                c.close()
                Go.sleep(for: .milliseconds(10))  // let goroutines exit
            }
        }
    }

    func testGoroutineProfileConcurrency() throws {
        try goTest {
            self.launchesSubtest()
        }
    }

    /// Go's "overlapping profile requests" subtest: two goroutines take goroutine profiles in a loop until
    /// one sees both profilers in flight, within a 10 s context. Its goroutines never block, so on one P
    /// the context's timer cannot end the loop without preemption.
    func testGoroutineProfileConcurrencyOverlapping() throws {
        try goTest {
            let (ctx, cancel) = Context.background.withTimeout(.seconds(10))
            defer { cancel() }
            let wg = WaitGroup()
            for i in 0..<2 {
                wg.add(1)
                Go.withLabels(["i": String(i)]) {
                    go {
                        defer { wg.done() }
                        while ctx.err == nil {
                            let prof = Go.stack(all: true)
                            // Go counts runtime_goroutineProfileWithLabels frames: profilers in flight.
                            if prof.components(separatedBy: "RuntimeSnapshot.goroutines").count - 1 >= 2 { cancel() }
                        }
                    }
                }
            }
            wg.wait()
        }
    }

    /// Go's "goroutine launches" subtest, 100 runs: while goroutines are being launched and relabelled,
    /// every profile counts each loop-i label once (or twice for the newest).
    private func launchesSubtest() {
        let runs = testingShort ? 5 : 100
        for run in 0..<runs {
            let done = WaitGroup()
            let (ctx, cancel) = Context.background.withCancel()
            let ch = Channel<Int>()
            let ready = WaitGroup()
            let name = "launches\(run)"
            ready.add(1)
            done.add(1)
            go {
                defer { done.done() }
                var i = 0
                while ctx.err == nil {
                    Go.setGoroutineLabels(["\(name)-loop-i": String(i)])
                    done.add(1)
                    go {
                        _ = ch.receive()
                        done.done()
                    }
                    for _ in 0..<i { Go.yield() }
                    if i == 0 { ready.done() }
                    i += 1
                }
            }
            ready.add(1)
            @Sendable func churn(_ i: Int) {
                Go.setGoroutineLabels(["\(name)-churn-i": String(i)])
                if i == 0 {
                    ready.done()
                } else if i % 16 == 0 {
                    Go.yield()
                }
                if ctx.err == nil { go { churn(i + 1) } }
            }
            go { churn(0) }
            ready.wait()

            for p in 0..<3 {
                var counts: [String: Int] = [:]
                for group in GoroutineProfiles.goroutine().groups {
                    if let label = group.labels.first(where: { $0.key == "\(name)-loop-i" }) { counts[label.value, default: 0] += group.count }
                }
                if counts.isEmpty { XCTFail("profile #\(p + 1) has no goroutine labelled loop-i") }
                let maxIndex = counts.count - 1
                for j in 0...max(maxIndex, 0) where maxIndex >= 0 {
                    let n = counts[String(j)] ?? 0
                    if n == 1 || (n == 2 && j == maxIndex) { continue }
                    XCTFail("profile #\(p + 1)'s goroutines with label loop-i:\(j); \(n) != 1 (or 2 for the last entry, \(maxIndex)); counts \(counts)")
                    break
                }
            }
            cancel()
            ch.close()
            done.wait()
        }
    }

    /// runtime.Stack(all) in a loop while a CPU profile runs and goroutines are blocked.
    func testTracebackAll() throws {
        try goTest {
            let path = NSTemporaryDirectory() + "proftraceback-\(getpid())"
            defer { try? FileManager.default.removeItem(atPath: path) }
            try CPUProfiler.startCPUProfile(writingTo: .file(path: path))
            defer { _ = try? CPUProfiler.stopCPUProfile() }
            let ch = Channel<Int>()
            defer { ch.close() }
            for _ in 0..<10 { go { _ = ch.receive() } }
            // Go: 10,000 rounds; 1,000 here (each round walks and symbolizes every goroutine: 10,000 take
            // ~10 s in a debug build, 30 s for the three GOMAXPROCS runs).
            for _ in 0..<1000 { _ = Go.stack(all: true) }
        }
    }

    /// runtime.Stack's own format: the caller first, "[running]", this function's frame at the top.
    func testStackOfCurrentGoroutine() throws {
        try goTest {
            let text = Go.stack()
            let id = Go.goroutineID!
            XCTAssert(text.hasPrefix("goroutine \(id) [running]:\n"), text)
            let firstFrame = text.split(separator: "\n").dropFirst().first ?? ""
            XCTAssert(firstFrame.contains("testStackOfCurrentGoroutine"), "the caller is the first frame:\n\(text)")
            XCTAssertFalse(text.contains("Go.stack("), text)
        }
    }
}

@inline(never) private func func1(_ c: Channel<Int>) { _ = c.receive() }
@inline(never) private func func2(_ c: Channel<Int>) { _ = c.receive() }
@inline(never) private func func3(_ c: Channel<Int>) { _ = c.receive() }

private func containsInOrder(_ s: String, _ all: [String]) -> Bool {
    var rest = Substring(s)
    for t in all {
        guard let r = rest.range(of: t) else { return false }
        rest = rest[r.upperBound...]
    }
    return true
}
