import Foundation
import XCTest

/// Swift traps, bad memory accesses and uncaught throws end like Go panics (issue 16): the reason, Go's
/// signal line, the trapping goroutine with the trapping line first, exit status 2, GOTRACEBACK levels.
/// Frames as README's "Frame names in stacks and profiles": a real frame `name()` and `FILE:LINE +0xOFF`.
/// Scenarios: Tests/Scenarios/TrapScenarios.swift.
final class TrapPanicTests: XCTestCase {
    /// The line of the scenario source that contains `code` (so the test follows edits of that file).
    private func line(of code: String) throws -> Int {
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Scenarios/TrapScenarios.swift")
        let lines = try String(contentsOf: source, encoding: .utf8).components(separatedBy: "\n")
        return try XCTUnwrap(lines.firstIndex { $0.contains(code) }) + 1
    }

    /// A real frame (`name()`, `FILE:LINE +0xOFF`) or an inlined one (`name(...)`, `FILE:LINE`).
    private let realOrInlinedFrame = #"[^\s]+\(\)\n\t[^\n]+:\d+ \+0x[0-9a-f]+\n|[^\s]+\(\.\.\.\)\n\t[^\n]+:\d+\n"#

    private let signalLine = #"\[signal SIGILL: illegal instruction code=0x2 addr=0x[0-9a-f]+ pc=0x[0-9a-f]+\]\n"#

    func testArithmeticOverflowOnTheMainGoroutineNamesTheCheckAndTheLine() throws {
        let r = try ScenarioProcess.run("trap-overflow")
        XCTAssertEqual(r.status, 2)
        let trapLine = try line(of: "Int.max - 2 + i")
        XCTAssertMatches(r.stderr, "panic: arithmetic overflow\n" + signalLine + "\ngoroutine 1 \\[running\\]:\n" +
            "GoroutinesScenarios.trapOverflow\\(_:\\)\\(\\)\n\t[^\n]*Tests/Scenarios/TrapScenarios.swift:\(trapLine) \\+0x[0-9a-f]+\n.*")
        XCTAssertFalse(r.stderr.contains("Swift runtime failure"), "the compiler's artificial frame is hidden")
    }

    func testIndexOutOfRangeInAGoroutine() throws {
        let r = try ScenarioProcess.run("trap-index-goroutine")
        XCTAssertEqual(r.status, 2)
        // Debug builds trap inside the standard library after it printed its own message.
        XCTAssertTrue(r.stderr.contains("Fatal error: Index out of range"), r.stderr)
        let report = try XCTUnwrap(r.stderr.range(of: "panic: ")).lowerBound
        let trapLine = try line(of: "return values[i].value")
        // Go starts at the user's faulting line: the standard library's failure path above it is left out.
        XCTAssertMatches(String(r.stderr[report...]), "panic: Index out of range\n" + signalLine + "\ngoroutine 2 \\[running\\]:\n" +
            "GoroutinesScenarios.trapIndexOutOfRange\\(_:\\)\\(\\)\n\t[^\n]*TrapScenarios.swift:\(trapLine) \\+0x[0-9a-f]+\n.*" +
            "created by GoroutinesScenarios.inGoroutine\\(_:\\) in goroutine 1\n\t[^\n]+\n")
        XCTAssertFalse(r.stderr[report...].contains("goroutine 1 ["), "GOTRACEBACK=single shows the panicking goroutine only")
    }

    func testForceUnwrapOfNilInAGoroutine() throws {
        let r = try ScenarioProcess.run("trap-unwrap-goroutine")
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("Fatal error: Unexpectedly found nil while unwrapping an Optional value"))
        let trapLine = try line(of: "return value!")
        XCTAssertTrue(r.stderr.contains("\npanic: Unexpectedly found nil while unwrapping an Optional value\n[signal SIGILL"), r.stderr)
        XCTAssertTrue(r.stderr.contains("\ngoroutine 2 [running]:\nGoroutinesScenarios.trapForceUnwrap(_:)()\n\t"), r.stderr)
        XCTAssertTrue(r.stderr.contains("TrapScenarios.swift:\(trapLine) +0x"), r.stderr)
    }

    func testFatalErrorInAGoroutineStartsAtTheCaller() throws {
        let r = try ScenarioProcess.run("trap-fatal-error-goroutine")
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("Fatal error: bad input 5"), r.stderr)
        let report = try XCTUnwrap(r.stderr.range(of: "panic: ")).lowerBound
        let trapLine = try line(of: "if i > 0 { fatalError(\"bad input \\(i)\") }")
        XCTAssertMatches(String(r.stderr[report...]), "panic: bad input 5\n" + signalLine + "\ngoroutine 2 \\[running\\]:\n" +
            "GoroutinesScenarios.trapFatalError\\(_:\\)\\(\\)\n\t[^\n]*TrapScenarios.swift:\(trapLine) \\+0x[0-9a-f]+\n" +
            "(?:" + realOrInlinedFrame + ")+created by GoroutinesScenarios.inGoroutine\\(_:\\) in goroutine 1\n\t[^\n]+\n")
    }

    func testNilPointerDereferenceReadsAsGosRuntimeError() throws {
        let r = try ScenarioProcess.run("trap-nil-pointer-goroutine")
        XCTAssertEqual(r.status, 2)
        let faultLine = try line(of: "UnsafePointer<Int>(bitPattern: i + 3)!.pointee")
        XCTAssertMatches(r.stderr, "panic: runtime error: invalid memory address or nil pointer dereference\n" +
            "\\[signal SIGSEGV: segmentation violation code=0x1 addr=0x8 pc=0x[0-9a-f]+\\]\n\n" +
            "goroutine 2 \\[running\\]:\nGoroutinesScenarios.faultNilPointer\\(_:\\)\\(\\)\n\t[^\n]*TrapScenarios.swift:\(faultLine) \\+0x[0-9a-f]+\n.*")
    }

    func testWildAddressIsAFatalFault() throws {
        let r = try ScenarioProcess.run("trap-wild-address")
        XCTAssertEqual(r.status, 2)
        let faultLine = try line(of: "UnsafePointer<Int>(bitPattern: 0xdead_0000 + i * 8)!.pointee")
        XCTAssertMatches(r.stderr, "unexpected fault address 0xdead0028\nfatal error: fault\n" +
            "\\[signal SIGSEGV: segmentation violation code=0x1 addr=0xdead0028 pc=0x[0-9a-f]+\\]\n\n" +
            "goroutine 1 \\[running\\]:\nGoroutinesScenarios.faultWildAddress\\(_:\\)\\(\\)\n\t[^\n]*TrapScenarios.swift:\(faultLine) \\+0x[0-9a-f]+\n.*")
    }

    /// A report that cannot finish (here: another thread holds stdout's lock, which the dying process
    /// flushes) still ends with the signal line and Go's exit status after 10 s, not a silent SIGALRM.
    func testAReportThatHangsEndsWithTheSignalLineAndStatusTwo() throws {
        let r = try ScenarioProcess.run("trap-report-blocked", timeout: 60)
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertMatches(r.stderr, #"fatal error: unexpected signal; the goroutine report did not finish within 10 s [^\n]*\n"# +
            #"\[signal SIGSEGV: segmentation violation code=0x1 addr=0xdead0028 pc=0x[0-9a-f]+\]\n"#)
    }

    func testFaultOnAThreadThatIsNotAGoroutineGetsAThreadSection() throws {
        let r = try ScenarioProcess.run("trap-thread")
        XCTAssertEqual(r.status, 2)
        let faultLine = try line(of: "UnsafePointer<Int>(bitPattern: i + 3)!.pointee")
        XCTAssertMatches(r.stderr, "panic: runtime error: invalid memory address or nil pointer dereference\n" +
            "\\[signal SIGSEGV: segmentation violation code=0x1 addr=0x8 pc=0x[0-9a-f]+\\]\n\n" +
            "thread \\d+ \\[running\\]:\nGoroutinesScenarios.faultNilPointer\\(_:\\)\\(\\)\n\t[^\n]*TrapScenarios.swift:\(faultLine) \\+0x[0-9a-f]+\n.*")
    }

    func testTracebackLevels() throws {
        let none = try ScenarioProcess.run("trap-overflow", environment: ["GOTRACEBACK": "none"])
        XCTAssertEqual(none.status, 2)
        XCTAssertMatches(none.stderr, "panic: arithmetic overflow\n" + signalLine)

        let all = try ScenarioProcess.run("trap-nil-pointer-goroutine", environment: ["GOTRACEBACK": "all"])
        XCTAssertEqual(all.status, 2)
        XCTAssertTrue(all.stderr.contains("\n\ngoroutine 2 [running]:\n"), all.stderr)
        XCTAssertTrue(all.stderr.contains("\n\ngoroutine 1 [sync.WaitGroup.Wait]:\n"), "all: the other goroutines too: \(all.stderr)")

        // system: Go then prints its runtime's frames too; here the standard library's failure path that
        // the other levels leave out sits above the user's frame.
        let system = try ScenarioProcess.run("trap-index-goroutine", environment: ["GOTRACEBACK": "system"])
        XCTAssertEqual(system.status, 2)
        XCTAssertMatches(system.stderr, ".*\n\ngoroutine 2 \\[running\\]:\n(?:Swift\\.[^\\s]+\\(\\)\n\t[^\n]+\n)+" +
            "GoroutinesScenarios.trapIndexOutOfRange\\(_:\\)\\(\\)\n.*\n\ngoroutine 1 \\[sync.WaitGroup.Wait\\]:\n.*")

        let crash = try ScenarioProcess.run("trap-nil-pointer-goroutine", environment: ["GOTRACEBACK": "crash"])
        XCTAssertEqual(crash.status, SIGABRT, "crash: abort for a core dump")
        XCTAssertTrue(crash.stderr.contains("\n\ngoroutine 1 [sync.WaitGroup.Wait]:\n"), crash.stderr)
    }

    func testUncaughtThrowInAGoroutineShowsTheThrowSite() throws {
        let r = try ScenarioProcess.run("throw-goroutine")
        XCTAssertEqual(r.status, 2)
        let throwLine = try line(of: "if i > 0 { throw ThrownFromWorker() }")
        XCTAssertMatches(r.stderr, "panic: worker failed: disk full\n\ngoroutine 2 \\[running\\]:\n" +
            "GoroutinesScenarios.throwingWorker\\(_:\\)\\(\\)\n\t[^\n]*TrapScenarios.swift:\(throwLine) \\+0x[0-9a-f]+\n" +
            "(?:" + realOrInlinedFrame + ")+created by [^\n]+ in goroutine 1\n\t[^\n]+\n")
    }

    func testUncaughtThrowOnTheMainGoroutineShowsTheThrowSite() throws {
        let r = try ScenarioProcess.run("throw-main")
        XCTAssertEqual(r.status, 2)
        let throwLine = try line(of: "if i > 0 { throw ThrownFromWorker() }")
        XCTAssertMatches(r.stderr, "panic: worker failed: disk full\n\ngoroutine 1 \\[running\\]:\n" +
            "GoroutinesScenarios.throwingWorker\\(_:\\)\\(\\)\n\t[^\n]*TrapScenarios.swift:\(throwLine) \\+0x[0-9a-f]+\n" +
            "(?:" + realOrInlinedFrame + ")*")
        XCTAssertFalse(r.stderr.contains("created by"))
    }
}
