import Foundation
import Synchronization
import XCTest
@testable import Goroutines

/// Go's own select tests (runtime/chan_test.go, Go 1.27), ported with Go's goroutine and iteration counts
/// and Go's assertions, plus the parked-select shape of the fairness rule Go's selectgo keeps.
final class SelectGoSemanticsTests: XCTestCase {
    /// TestSelectStress: 4 senders and 4 receivers (one per channel: two unbuffered, capacities 2 and 3),
    /// one goroutine that does all its sends through one select and one that does all its receives
    /// through one select, 100 000 values per channel; a channel drops out of a select (becomes nil)
    /// once its quota is met. Everything must finish: no lost wake-up, no crash, no deadlock.
    func testSelectStress() throws {
        let before = Go.setMaxProcs(10)
        defer { Go.setMaxProcs(before) }
        try Go.runBlocking { runSelectStress(perChannel: 100_000) }
    }

    /// The cause of the crash TestSelectStress hit (`Scheduler.swift:77: Unexpectedly found nil`): its
    /// GOMAXPROCS(10) raised `procs` before the new Ps existed, and an M stealing work (or sysmon) indexed
    /// the P table with it. A process growing GOMAXPROCS to 1024 in steps while eight goroutines keep the
    /// Ms busy looking for work must finish.
    func testGrowingGOMAXPROCSWhileMsLookForWorkDoesNotCrash() throws {
        for _ in 0..<3 {
            let r = try ScenarioProcess.run("grow-procs-while-stealing")
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(r.stdout, "procs=1024\n")
        }
    }

    /// TestPseudoRandomSend: a select with two send cases on the same channel (`c <- 1`, `c <- 0`), a
    /// receiver that yields before each receive. Over 100 selects both values must appear more than 10
    /// times, for an unbuffered channel and for one with room for all 100.
    func testPseudoRandomSend() throws {
        let n = 100
        for capacity in [0, n] {
            let (zeros, ones) = try Go.runBlocking { () -> (Int, Int) in
                let c = Channel<Int>(capacity: capacity)
                let received = Collected<Int>()
                let done = Channel<Void>()
                go {
                    for _ in 0..<n {
                        Go.yield()
                        received.append(c.receive()!)
                    }
                    done.send(())
                }
                for _ in 0..<n {
                    select {
                        Send(1, to: c)
                        Send(0, to: c)
                    }
                }
                _ = done.receive()
                let values = received.values
                return (values.filter { $0 == 0 }.count, values.filter { $0 == 1 }.count)
            }
            XCTAssertTrue(zeros > n / 10 && ones > n / 10,
                          "want pseudorandom, got \(zeros) zeros and \(ones) ones (chan cap \(capacity))")
        }
    }

    /// A select parked with three send cases on one channel, which a single receive then makes ready at
    /// once: the case that completes must be random (Go enqueues a select's cases in a shuffled order, so
    /// the channel's FIFO does not always hand the receiver case 0). 200 rounds, for an unbuffered channel
    /// and for a full buffered one (where the receive frees room for one of the parked sends).
    func testParkedSelectWithSeveralSendCasesReadyAtOnceDoesNotAlwaysPickTheFirst() throws {
        let rounds = 200
        for capacity in [0, 1] {
            let wins = try Go.runBlocking { () -> [Int] in
                var wins = [0, 0, 0]
                for _ in 0..<rounds {
                    let c = Channel<Int>(capacity: capacity)
                    if capacity > 0 { c.send(-1) }
                    let selecting = GoroutineIDBox()
                    let done = Channel<Void>()
                    go {
                        selecting.publish()
                        select {
                            Send(0, to: c)
                            Send(1, to: c)
                            Send(2, to: c)
                        }
                        done.send(())
                    }
                    eventuallyParked(selecting, .select)
                    if capacity > 0 { XCTAssertEqual(c.receive(), -1) }
                    let winner = c.receive()!
                    _ = done.receive()
                    wins[winner] += 1
                }
                return wins
            }
            XCTAssertEqual(wins.reduce(0, +), rounds)
            // Uniform would be ~67 each; a shuffled enqueue leaves no case below 10% of the rounds.
            for (index, count) in wins.enumerated() {
                XCTAssertGreaterThan(count, rounds / 10, "case \(index) won \(count) of \(rounds): \(wins) (chan cap \(capacity))")
            }
        }
    }
}

/// The body of Go's TestSelectStress (shared with the Scenarios executable's soak loop).
func runSelectStress(perChannel n: Int) {
    let c: [Channel<Int>] = [Channel(), Channel(), Channel(capacity: 2), Channel(capacity: 3)]
    let wg = WaitGroup()
    wg.add(10)
    for k in 0..<4 {
        go {
            for _ in 0..<n { c[k].send(0) }
            wg.done()
        }
        go {
            for _ in 0..<n { _ = c[k].receive() }
            wg.done()
        }
    }
    go {
        var sent = [0, 0, 0, 0]
        var c1: [Channel<Int>?] = c
        for _ in 0..<(4 * n) {
            select {
                Send(0, to: c1[3]) { sent[3] += 1; if sent[3] == n { c1[3] = nil } }
                Send(0, to: c1[2]) { sent[2] += 1; if sent[2] == n { c1[2] = nil } }
                Send(0, to: c1[0]) { sent[0] += 1; if sent[0] == n { c1[0] = nil } }
                Send(0, to: c1[1]) { sent[1] += 1; if sent[1] == n { c1[1] = nil } }
            }
        }
        wg.done()
    }
    go {
        var received = [0, 0, 0, 0]
        var c1: [Channel<Int>?] = c
        for _ in 0..<(4 * n) {
            select {
                Receive(c1[0]) { _ in received[0] += 1; if received[0] == n { c1[0] = nil } }
                Receive(c1[1]) { _ in received[1] += 1; if received[1] == n { c1[1] = nil } }
                Receive(c1[2]) { _ in received[2] += 1; if received[2] == n { c1[2] = nil } }
                Receive(c1[3]) { _ in received[3] += 1; if received[3] == n { c1[3] = nil } }
            }
        }
        wg.done()
    }
    wg.wait()
}
