import XCTest

/// `GODEBUG=schedtrace=N[,scheddetail=1]` lines match Go 1.27's format
/// (../shared/reference/go-captures/schedtrace/st_127.err and sd_127.err).
final class SchedTraceTests: XCTestCase {
    func testSummaryLinesMatchGo127() throws {
        let r = try ScenarioProcess.run("schedtrace", environment: ["GODEBUG": "schedtrace=300", "GOMAXPROCS": "2"])
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(r.stdout, "", "schedtrace goes to stderr only")
        let lines = r.stderr.split(separator: "\n").map(String.init)
        XCTAssertGreaterThanOrEqual(lines.count, 3, r.stderr)
        for line in lines {
            XCTAssertMatches(line,
                #"SCHED \d+ms: gomaxprocs=2 idleprocs=\d+ threads=\d+ spinningthreads=\d+ needspinning=[01] idlethreads=\d+ runqueue=\d+ \[ \d+ \d+ \] schedticks=\[ \d+ \d+ \]"#)
        }
        XCTAssertTrue(lines[0].hasPrefix("SCHED 0ms: "), "the first line is printed at start-up, as 0ms")
        let ms = lines.compactMap { Int($0.dropFirst(6).prefix { $0.isNumber }) }
        XCTAssertEqual(ms, ms.sorted(), "times increase")
        XCTAssertGreaterThanOrEqual(ms[1], 300)
    }

    func testDetailedFormMatchesGo127() throws {
        let r = try ScenarioProcess.run("schedtrace", environment: ["GODEBUG": "schedtrace=500,scheddetail=1", "GOMAXPROCS": "2"])
        XCTAssertEqual(r.status, 0)
        let lines = r.stderr.split(separator: "\n").map(String.init)
        var sawP = false, sawM = false, sawG = false
        for line in lines {
            if line.hasPrefix("SCHED ") {
                XCTAssertMatches(line,
                    #"SCHED \d+ms: gomaxprocs=2 idleprocs=\d+ threads=\d+ spinningthreads=\d+ needspinning=[01] idlethreads=\d+ runqueue=\d+ gcwaiting=false nmidlelocked=\d+ stopwait=0 sysmonwait=false"#)
            } else if line.hasPrefix("  P") {
                sawP = true
                XCTAssertMatches(line, #"  P[01]: status=[0-4] schedtick=\d+ syscalltick=\d+ m=(\d+|nil) runqsize=\d+ gfreecnt=\d+ timerslen=\d+"#)
            } else if line.hasPrefix("  M") {
                sawM = true
                XCTAssertMatches(line, #"  M\d+: p=(\d+|nil) curg=(\d+|nil) mallocing=0 throwing=0 preemptoff= locks=0 dying=0 spinning=(true|false) blocked=(true|false) lockedg=(\d+|nil)"#)
            } else {
                sawG = true
                XCTAssertMatches(line, #"  G\d+: status=\d+\([^)]*\) m=(\d+|nil) lockedm=(\d+|nil)"#)
            }
        }
        XCTAssertTrue(sawP && sawM && sawG)
        // M lines come newest first, as Go's allm list, in every block; M0 is the main thread, M1 sysmon.
        var block: [Int] = []
        for line in lines + ["SCHED end"] {
            if line.hasPrefix("SCHED ") {
                XCTAssertEqual(block, block.sorted(by: >), r.stderr)
                if !block.isEmpty { XCTAssertEqual(block.suffix(2), [1, 0]) }
                block = []
            } else if line.hasPrefix("  M") {
                block.append(Int(line.dropFirst(3).prefix { $0.isNumber })!)
            }
        }
    }
}
