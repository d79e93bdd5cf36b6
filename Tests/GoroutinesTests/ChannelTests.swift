import Foundation
import Synchronization
import XCTest
@testable import Goroutines

/// Channel semantics as Go defines them: order, blocking, handoff, close, nil channels, threads.
final class ChannelTests: XCTestCase {
    func testBufferedChannelIsFIFOAndReportsCountAndCapacity() throws {
        try Go.runBlocking {
            let ch = Channel<Int>(capacity: 3)
            XCTAssertEqual(ch.capacity, 3)
            for i in 1...3 { ch.send(i) }
            XCTAssertEqual(ch.count, 3)
            XCTAssertFalse(ch.trySend(4), "a full buffer does not take more without a receiver")
            XCTAssertEqual([ch.receive(), ch.receive(), ch.receive()], [1, 2, 3])
            XCTAssertEqual(ch.count, 0)
            guard case .wouldBlock = ch.tryReceive() else { return XCTFail("empty channel must not yield a value") }
        }
    }

    func testUnbufferedSendParksUntilAReceiverTakesTheValue() throws {
        try Go.runBlocking {
            let ch = Channel<String>()
            let sender = GoroutineIDBox()
            let sent = Atomic<Bool>(false)
            go {
                sender.publish()
                ch.send("hello")
                sent.store(true, ordering: .releasing)
            }
            eventuallyParked(sender, .chanSend)
            XCTAssertFalse(sent.load(ordering: .acquiring))
            XCTAssertEqual(ch.count, 0, "an unbuffered channel holds nothing: the value waits with the sender")
            XCTAssertEqual(ch.receive(), "hello")
            eventually("sender resumes") { sent.load(ordering: .acquiring) }
        }
    }

    func testReceiveParksWithChanReceiveAndGetsTheValueHandedOver() throws {
        try Go.runBlocking {
            let ch = Channel<Int>(capacity: 4)
            let receiver = GoroutineIDBox()
            let got = Collected<Int?>()
            let wg = WaitGroup()
            wg.go {
                receiver.publish()
                got.append(ch.receive())
            }
            eventuallyParked(receiver, .chanReceive)
            ch.send(42)
            XCTAssertEqual(ch.count, 0, "a parked receiver gets the value directly, not through the buffer")
            wg.wait()
            XCTAssertEqual(got.values, [42])
        }
    }

    func testBlockedSenderOnFullBufferJoinsTheBackInOrder() throws {
        try Go.runBlocking {
            let ch = Channel<Int>(capacity: 2)
            ch.send(1)
            ch.send(2)
            let sender = GoroutineIDBox()
            go {
                sender.publish()
                ch.send(3)
            }
            eventuallyParked(sender, .chanSend)
            XCTAssertEqual(ch.receive(), 1)
            XCTAssertEqual(ch.count, 2, "the blocked sender's value moved into the freed slot")
            XCTAssertEqual(ch.receive(), 2)
            XCTAssertEqual(ch.receive(), 3)
        }
    }

    func testCloseDrainsBufferThenReceivesNilAndWakesEveryReceiver() throws {
        try Go.runBlocking {
            let buffered = Channel<Int>(capacity: 2)
            buffered.send(7)
            buffered.close()
            XCTAssertTrue(buffered.isClosed)
            XCTAssertEqual(buffered.receive(), 7, "values sent before close are still delivered")
            XCTAssertNil(buffered.receive())
            guard case .closed = buffered.tryReceive() else { return XCTFail("tryReceive must report closed") }

            let ch = Channel<Int>()
            let got = Collected<Int?>()
            let wg = WaitGroup()
            let ids = (0..<5).map { _ in GoroutineIDBox() }
            for box in ids {
                wg.go {
                    box.publish()
                    got.append(ch.receive())
                }
            }
            for box in ids { eventuallyParked(box, .chanReceive) }
            ch.close()
            wg.wait()
            XCTAssertEqual(got.values.count, 5)
            XCTAssertTrue(got.values.allSatisfy { $0 == nil })
        }
    }

    func testForInReceivesUntilClosed() throws {
        try Go.runBlocking {
            let ch = Channel<Int>(capacity: 8)
            go {
                for i in 0..<100 { ch.send(i) }
                ch.close()
            }
            var received: [Int] = []
            for value in ch { received.append(value) }
            XCTAssertEqual(received, Array(0..<100))
        }
    }

    func testBlockedReceiversAreServedInArrivalOrder() throws {
        try Go.runBlocking {
            let ch = Channel<Int>()
            let order = Collected<(Int, Int)>()
            let wg = WaitGroup()
            for k in 0..<8 {
                let box = GoroutineIDBox()
                wg.go {
                    box.publish()
                    order.append((k, ch.receive()!))
                }
                eventuallyParked(box, .chanReceive)
            }
            for v in 0..<8 { ch.send(v) }
            wg.wait()
            XCTAssertEqual(order.values.sorted { $0.0 < $1.0 }.map(\.1), Array(0..<8), "receiver k got the k-th value")
        }
    }

    func testProducersAndConsumersExchangeEveryValueExactlyOnce() throws {
        for capacity in [0, 1, 64] {
            let producers = 4, consumers = 4, perProducer = 25_000
            let seen = UnsafeMutablePointer<Atomic<Int>>.allocate(capacity: producers * perProducer)
            for i in 0..<producers * perProducer { (seen + i).initialize(to: Atomic(0)) }
            defer { seen.deallocate() }
            let seenAddress = UInt(bitPattern: seen)
            let total = Atomic<Int>(0)
            try Go.runBlocking {
                let ch = Channel<Int>(capacity: capacity)
                let producing = WaitGroup()
                let consuming = WaitGroup()
                for c in 0..<consumers {
                    consuming.go {
                        let seen = UnsafeMutablePointer<Atomic<Int>>(bitPattern: seenAddress)!
                        var sum = 0
                        for v in ch {
                            seen[v].wrappingAdd(1, ordering: .relaxed)
                            sum += v
                            if (v + c) % 97 == 0 { Go.yield() }
                        }
                        total.wrappingAdd(sum, ordering: .relaxed)
                    }
                }
                for p in 0..<producers {
                    producing.go {
                        for i in 0..<perProducer { ch.send(p * perProducer + i) }
                    }
                }
                producing.wait()
                ch.close()
                consuming.wait()
            }
            let n = producers * perProducer
            XCTAssertEqual(total.load(ordering: .relaxed), n * (n - 1) / 2, "capacity \(capacity): sum of all values")
            let wrong = (0..<n).filter { seen[$0].load(ordering: .relaxed) != 1 }
            XCTAssertEqual(wrong.count, 0, "capacity \(capacity): every value received exactly once (first bad: \(wrong.prefix(5)))")
        }
    }

    func testPlainThreadsAndGoroutinesTalkThroughChannels() throws {
        let requests = Channel<Int>()
        let replies = Channel<Int>()
        go {
            for r in requests { replies.send(r * 2) }
            replies.close()
        }
        // This test's thread is not a goroutine: it blocks on futex notes.
        var results: [Int] = []
        for i in 0..<200 {
            requests.send(i)
            results.append(replies.receive()!)
        }
        requests.close()
        XCTAssertNil(replies.receive())
        XCTAssertEqual(results, (0..<200).map { $0 * 2 })

        // A thread blocked in receive is woken by a goroutine's send.
        let late = Channel<Int>()
        go {
            Go.sleep(for: .milliseconds(5))
            late.send(99)
        }
        XCTAssertEqual(late.receive(), 99)
    }

    func testNilChannelBlocksForeverWithGosWaitReasons() throws {
        let receiver = GoroutineIDBox(), sender = GoroutineIDBox()
        go {
            let none: Channel<Int>? = nil
            receiver.publish()
            _ = none.receive()
        }
        go {
            let none: Channel<Int>? = nil
            sender.publish()
            none.send(1)
        }
        eventuallyParked(receiver, .chanReceiveNilChan)
        eventuallyParked(sender, .chanSendNilChan)
        XCTAssertEqual(WaitReason.chanReceiveNilChan.description, "chan receive (nil chan)")
    }

    func testUnbufferedPingPongStaysCorrectAcrossManyRoundTrips() throws {
        try Go.runBlocking {
            let ping = Channel<Int>(), pong = Channel<Int>()
            go {
                while let v = ping.receive() { pong.send(v + 1) }
                pong.close()
            }
            var v = 0
            for _ in 0..<50_000 {
                ping.send(v)
                v = pong.receive()!
            }
            ping.close()
            XCTAssertNil(pong.receive())
            XCTAssertEqual(v, 50_000)
        }
    }
}
