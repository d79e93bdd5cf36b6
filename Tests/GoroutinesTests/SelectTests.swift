import Foundation
import Synchronization
import XCTest
@testable import Goroutines

/// select: random choice among ready cases, default, timeouts, nil channels, blocking on many channels.
final class SelectTests: XCTestCase {
    func testReadyCasesAreChosenUniformly() throws {
        let channels = (0..<4).map { _ in Channel<Int>(capacity: 1) }
        let rounds = 40_000
        let hits = try Go.runBlocking {
            var hits = [0, 0, 0, 0]
            for c in channels { c.send(0) }
            for _ in 0..<rounds {
                var chosen = -1
                select {
                    Receive(channels[0]) { _ in chosen = 0 }
                    Receive(channels[1]) { _ in chosen = 1 }
                    Receive(channels[2]) { _ in chosen = 2 }
                    Receive(channels[3]) { _ in chosen = 3 }
                }
                hits[chosen] += 1
                channels[chosen].send(0)
            }
            return hits
        }
        // Chi-square with 3 degrees of freedom: 16.27 is the 0.1% critical value.
        let expected = Double(rounds) / 4
        let chiSquare = hits.reduce(0.0) { $0 + pow(Double($1) - expected, 2) / expected }
        XCTAssertLessThan(chiSquare, 16.27, "choices \(hits) are not uniform")
    }

    func testDefaultRunsWhenNothingIsReadyAndNotOtherwise() throws {
        try Go.runBlocking {
            let ch = Channel<Int>(capacity: 1)
            var path = ""
            select {
                Receive(ch) { _ in path = "receive" }
                Default { path = "default" }
            }
            XCTAssertEqual(path, "default")
            ch.send(5)
            var got: Int?
            select {
                Receive(ch) { got = $0 }
                Default { path = "default again" }
            }
            XCTAssertEqual(got, 5)
            XCTAssertEqual(path, "default")
        }
    }

    func testBlockedSelectParksWithSelectAndWakesForASend() throws {
        try Go.runBlocking {
            let a = Channel<Int>(), b = Channel<String>()
            let selector = GoroutineIDBox()
            let result = Collected<String>()
            let wg = WaitGroup()
            wg.go {
                selector.publish()
                select {
                    Receive(a) { result.append("a \($0!)") }
                    Receive(b) { result.append("b \($0!)") }
                }
            }
            eventuallyParked(selector, .select)
            b.send("x")
            wg.wait()
            XCTAssertEqual(result.values, ["b x"])
            XCTAssertFalse(a.trySend(1), "the losing case's waiter was removed from its channel")
        }
    }

    func testSendCaseDeliversToABlockedReceiver() throws {
        try Go.runBlocking {
            let out = Channel<Int>()
            let receiver = GoroutineIDBox()
            let got = Collected<Int?>()
            let wg = WaitGroup()
            wg.go {
                receiver.publish()
                got.append(out.receive())
            }
            eventuallyParked(receiver, .chanReceive)
            var sent = false
            select {
                Send(11, to: out) { sent = true }
                Timeout(.seconds(5)) {}
            }
            wg.wait()
            XCTAssertTrue(sent)
            XCTAssertEqual(got.values, [11])
        }
    }

    func testBlockedSendCaseHandsItsOwnValueToTheReceiverThatWins() throws {
        try Go.runBlocking {
            let a = Channel<String>(), b = Channel<String>()
            let selector = GoroutineIDBox()
            let result = Collected<String>()
            let wg = WaitGroup()
            wg.go {
                selector.publish()
                select {
                    Send("for a", to: a) { result.append("sent a") }
                    Send("for b", to: b) { result.append("sent b") }
                }
            }
            eventuallyParked(selector, .select)
            XCTAssertEqual(b.receive(), "for b")
            wg.wait()
            XCTAssertEqual(result.values, ["sent b"])
            if case .wouldBlock = a.tryReceive() {} else { XCTFail("the losing send case was left on its channel") }
        }
    }

    func testCasesOnTheSameChannelTwiceLockItOnceAndStillFire() throws {
        try Go.runBlocking {
            let a = Channel<Int>(capacity: 1)
            let result = Collected<String>()
            a.send(5)
            select {
                Receive(a) { result.append("first \($0!)") }
                Receive(a) { result.append("second \($0!)") }
            }
            XCTAssertEqual(result.values.count, 1)
            XCTAssertTrue(result.values[0].hasSuffix(" 5"), "got \(result.values)")
            let selector = GoroutineIDBox()
            let wg = WaitGroup()
            wg.go {
                selector.publish()
                select {
                    Receive(a) { result.append("blocked \($0!)") }
                    Send(9, to: a) { result.append("sent 9") }
                    Receive(a) { result.append("blocked again \($0!)") }
                }
            }
            wg.wait()
            XCTAssertEqual(result.values.last, "sent 9", "an empty buffered channel takes the send at once")
            XCTAssertEqual(a.receive(), 9)
        }
    }

    func testTimeoutFiresWhenNothingElseDoesAndTimersAreReleased() throws {
        try Go.runBlocking {
            let baseline = Scheduler.shared.armedTimerCount
            let never = Channel<Int>()
            var timedOut = false
            let start = ContinuousClock.now
            select {
                Receive(never) { _ in XCTFail("nothing was sent") }
                Timeout(.milliseconds(20)) { timedOut = true }
            }
            XCTAssertTrue(timedOut)
            XCTAssertGreaterThanOrEqual(ContinuousClock.now - start, .milliseconds(20), "a timeout never fires early")
            XCTAssertFalse(never.trySend(1), "the timed-out select left no waiter behind")

            // A channel winning must stop the timer at once, not leave it armed until it would have fired.
            let ready = Channel<Int>(capacity: 1)
            for _ in 0..<100 {
                let wg = WaitGroup()
                wg.go { Go.sleep(for: .microseconds(50)); ready.send(1) }
                select {
                    Receive(ready) { _ in }
                    Timeout(.seconds(60)) { XCTFail("the channel should win") }
                }
                wg.wait()
            }
            XCTAssertEqual(Scheduler.shared.armedTimerCount, baseline, "no select timer stays armed")
        }
    }

    func testNilChannelCasesNeverFire() throws {
        try Go.runBlocking {
            let none: Channel<Int>? = nil
            var path = ""
            select {
                Receive(none) { _ in path = "nil receive" }
                Send(1, to: none) { path = "nil send" }
                Timeout(.milliseconds(2)) { path = "timeout" }
            }
            XCTAssertEqual(path, "timeout")
        }
    }

    func testClosedChannelCaseReceivesNil() throws {
        try Go.runBlocking {
            let ch = Channel<Int>()
            ch.close()
            var received: Int?? = .none
            select {
                Receive(ch) { received = .some($0) }
            }
            XCTAssertEqual(received, .some(nil), "a closed channel is always ready and yields nil (Go's ok == false)")
        }
    }

    func testSelectsOverTheSameChannelsInOppositeOrdersNeitherDeadlockNorLoseValues() throws {
        try Go.runBlocking {
            let a = Channel<Int>(), b = Channel<Int>()
            let perSide = 20_000
            let received = Atomic<Int>(0)
            let wg = WaitGroup()
            // Senders select over (a, b) and (b, a); receivers likewise, so lock order matters.
            for k in 0..<2 {
                wg.go {
                    for i in 0..<perSide {
                        if k == 0 {
                            select { Send(i, to: a); Send(i, to: b) }
                        } else {
                            select { Send(i, to: b); Send(i, to: a) }
                        }
                    }
                }
                wg.go {
                    for _ in 0..<perSide {
                        if k == 0 {
                            select { Receive(a) { _ in }; Receive(b) { _ in } }
                        } else {
                            select { Receive(b) { _ in }; Receive(a) { _ in } }
                        }
                        received.wrappingAdd(1, ordering: .relaxed)
                    }
                }
            }
            wg.wait()
            XCTAssertEqual(received.load(ordering: .relaxed), 2 * perSide)
        }
    }

    func testCasesBuiltFromAnArrayAndOptionalBranches() throws {
        try Go.runBlocking {
            let inputs = (0..<6).map { _ in Channel<Int>(capacity: 1) }
            inputs[4].send(44)
            var got: [Int] = []
            select(cases: inputs.map { ch in SelectCase.receive(ch) { got.append($0!) } })
            XCTAssertEqual(got, [44])

            let maybe: Channel<Int>? = inputs[1]
            inputs[1].send(1)
            var fromOptional = 0
            select {
                if let maybe { Receive(maybe) { fromOptional = $0! } }
                Timeout(.seconds(5)) {}
            }
            XCTAssertEqual(fromOptional, 1)
        }
    }

    func testSelectFromAPlainThread() {
        let ch = Channel<Int>()
        go {
            Go.sleep(for: .milliseconds(2))
            ch.send(3)
        }
        var got = 0
        select {
            Receive(ch) { got = $0! }
            Timeout(.seconds(10)) {}
        }
        XCTAssertEqual(got, 3)
        var timedOut = false
        select {
            Receive(ch) { _ in }
            Timeout(.milliseconds(3)) { timedOut = true }
        }
        XCTAssertTrue(timedOut, "a thread's select times out through the runtime's timers too")
    }

    func testAfterChannelDeliversOnce() throws {
        try Go.runBlocking {
            let tick = Go.after(.milliseconds(3))
            XCTAssertNotNil(tick.receive() as Void?)
            guard case .wouldBlock = tick.tryReceive() else { return XCTFail("after delivers exactly one value") }
        }
    }
}
