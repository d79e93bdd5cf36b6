import Goroutines
import XCTest

/// The leak scan (goroutineleak profile, issue 16): goroutines nothing can wake are reported, waiters that
/// a global, a sleeping goroutine, a plain thread or a reachable waiter can still wake never are.
final class LeakDetectionTests: XCTestCase {
    /// Leaking goroutines of the leak-mix scenario (Tests/Scenarios/LeakScenarios.swift).
    let leaking: Set<String> = ["leak-chan1", "leak-chan2", "leak-chan3", "leak-select", "leak-cond", "leak-wg",
                                "leak-mutex", "leak-chain-recv", "leak-chain-wg", "leak-nilchan"]
    /// The ones the scan finds in every run; a conservative scan may miss a leak whose primitive's address
    /// lingers in stale memory (stdio buffers, dead stack slots), never the other way round. `leak-chan3`'s
    /// channel is the spawning loop's last value and was seen kept alive that way (1 run in 18).
    let alwaysFound: Set<String> = ["leak-chan1", "leak-chan2", "leak-wg", "leak-mutex",
                                    "leak-chain-recv", "leak-chain-wg", "leak-nilchan"]

    private func value(_ key: String, in text: String) -> String? {
        text.split(separator: "\n").first { $0.hasPrefix(key + "=") }.map { String($0.dropFirst(key.count + 1)) }
    }

    func testReportsOnlyGoroutinesNothingCanWake() throws {
        let r = try ScenarioProcess.run("leak-mix")
        XCTAssertEqual(r.status, 0, r.stderr)
        let cases = Set(try XCTUnwrap(value("cases", in: r.stdout)).split(separator: ",").map(String.init))
        XCTAssertTrue(cases.isSubset(of: leaking), "reported a goroutine that can still be woken: \(cases.subtracting(leaking))")
        XCTAssertTrue(alwaysFound.isSubset(of: cases), "missed: \(alwaysFound.subtracting(cases))")
        let count = try XCTUnwrap(Int(try XCTUnwrap(value("leaked", in: r.stdout))))
        XCTAssertEqual(count, cases.count)
        // The profile, the index count and the dump agree with the scan (a later scan finds the same set
        // or, being conservative, at most fewer).
        let total = try XCTUnwrap(r.stdout.split(separator: "\n").first { $0.hasPrefix("goroutineleak profile: total ") })
        let profiled = try XCTUnwrap(Int(total.dropFirst("goroutineleak profile: total ".count)))
        XCTAssertTrue(profiled <= count && profiled >= alwaysFound.count, String(total))
        XCTAssertEqual(value("marked", in: r.stdout), String(profiled))
        XCTAssertEqual(value("dump-leaked-headers", in: r.stdout), String(profiled))
        XCTAssertMatches(try XCTUnwrap(r.stdout.split(separator: "\n").first { $0.hasPrefix("goroutine ") && $0.contains("leak-chan1") }).description,
                         #"goroutine \d+ \[chan receive \(leaked\)\] \{case: "leak-chan1"\}:"#)
    }

    /// 300 scans in one process (about 20 s: each scan stops the world and sleeps 2 ms to catch wakers in
    /// flight): not one waiter that can be woken is ever reported.
    func testNoFalsePositiveAcrossRepeatedScans() throws {
        let r = try ScenarioProcess.run("leak-mix", environment: ["LEAK_RUNS": "300"], timeout: 120)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(value("runs", in: r.stdout)?.split(separator: " ").dropFirst().first, "false-positives=0",
                       r.stdout)
    }

    func testVerifyNoLeaksListsGoroutinesStillAliveThenPasses() throws {
        let baseline = LeakCheckIgnore.current()
        let release = Channel<Int>()
        let done = WaitGroup()
        done.add(1)
        go {
            _ = release.receive()
            done.done()
        }
        XCTAssertThrowsError(try Go.verifyNoLeaks(ignoring: [baseline], retryFor: .milliseconds(20))) { error in
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix("found unexpected goroutines:\n"), text)
            XCTAssertTrue(text.contains(" [chan receive]:\n"), "the still-reachable waiter is alive, not leaked: \(text)")
            if text.contains("(leaked)") {
                // Seen once in CI, not reproduced since: scan again with the scanner's own explanation
                // (where every reference to the channel was found, or not) on stderr.
                setenv("GOROUTINES_LEAK_DEBUG", "1", 1)
                _ = Go.leakCheck(ignoring: [baseline], retryFor: .zero)
                unsetenv("GOROUTINES_LEAK_DEBUG")
                print("leak scan explanation printed above; channel at \(ObjectIdentifier(release))")
            }
            XCTAssertTrue(text.contains("LeakDetectionTests"), "its frames name the test: \(text)")
        }
        // Ignoring it by function passes.
        XCTAssertNoThrow(try Go.verifyNoLeaks(ignoring: [baseline, .anyFunction("GoroutinesTests.LeakDetectionTests.testVerifyNoLeaksListsGoroutinesStillAliveThenPasses")],
                                              retryFor: .milliseconds(20)))
        release.send(1)
        done.wait()
        XCTAssertNoThrow(try Go.verifyNoLeaks(ignoring: [baseline]))
        XCTAssertTrue(Go.leakCheck(ignoring: [baseline]).isEmpty)
    }
}
