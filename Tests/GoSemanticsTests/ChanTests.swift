import Foundation
import XCTest
import Goroutines

// Go 1.27 runtime/chan_test.go, ported. Not ported:
// - TestChanSendInterface: Go `any` channels of pointers to empty structs; Channel<any Sendable> has no
//   special case to exercise (typed generics).
// - TestSelectStackAdjust, TestShrinkStackDuringBlockedSend, TestNoShrinkStackWhileParking: port their
//   channel traffic only; goroutine stacks here are fixed-size and never shrink, and there is no GC to
//   trigger (runtime.GC() calls are omitted).
// Go's zero value received from a closed channel is nil here (Swift has no zero value).
final class GoChanTests: XCTestCase, @unchecked Sendable {
    func testChan() throws {
        try goTest {
            withMaxProcs(4) {
                let n = testingShort ? 20 : 200
                for chanCap in 0..<n {
                    do {
                        // Ensure that receive from empty chan blocks.
                        let c = Channel<Int>(capacity: chanCap)
                        let recv1 = AtomicInt(), recv2 = AtomicInt()
                        go { _ = c.receive(); recv1.store(1) }
                        go { _ = c.receive(); recv2.store(1) }
                        Go.sleep(for: .milliseconds(1))
                        if recv1.value != 0 || recv2.value != 0 { return XCTFail("chan[\(chanCap)]: receive from empty chan") }
                        // Ensure that non-blocking receive does not block.
                        var failed = false
                        select {
                            Receive(c) { _ in failed = true }
                            Default {}
                        }
                        if failed { return XCTFail("chan[\(chanCap)]: receive from empty chan") }
                        select {
                            Receive(c) { _ in failed = true }
                            Default {}
                        }
                        if failed { return XCTFail("chan[\(chanCap)]: receive from empty chan") }
                        c.send(0)
                        c.send(0)
                    }
                    do {
                        // Ensure that send to full chan blocks.
                        let c = Channel<Int>(capacity: chanCap)
                        for i in 0..<chanCap { c.send(i) }
                        let sent = AtomicInt()
                        go { c.send(0); sent.store(1) }
                        Go.sleep(for: .milliseconds(1))
                        if sent.value != 0 { return XCTFail("chan[\(chanCap)]: send to full chan") }
                        // Ensure that non-blocking send does not block.
                        var failed = false
                        select {
                            Send(0, to: c) { failed = true }
                            Default {}
                        }
                        if failed { return XCTFail("chan[\(chanCap)]: send to full chan") }
                        _ = c.receive()
                    }
                    do {
                        // Ensure that we receive 0 (nil) from closed chan.
                        let c = Channel<Int>(capacity: chanCap)
                        for i in 0..<chanCap { c.send(i) }
                        c.close()
                        for i in 0..<chanCap {
                            let v = c.receive()
                            if v != i { return XCTFail("chan[\(chanCap)]: received \(String(describing: v)), expected \(i)") }
                        }
                        if let v = c.receive() { return XCTFail("chan[\(chanCap)]: received \(v), expected nil") }
                        if case .value(let v) = c.tryReceive() { return XCTFail("chan[\(chanCap)]: received \(v)/true, expected closed") }
                    }
                    do {
                        // Ensure that close unblocks receive.
                        let c = Channel<Int>(capacity: chanCap)
                        let done = Channel<Bool>()
                        go { done.send(c.receive() == nil) }
                        Go.sleep(for: .milliseconds(1))
                        c.close()
                        if done.receive() != true { return XCTFail("chan[\(chanCap)]: received non zero from closed chan") }
                    }
                    do {
                        // Send 100 integers, ensure that we receive them non-corrupted in FIFO order.
                        let c = Channel<Int>(capacity: chanCap)
                        go { for i in 0..<100 { c.send(i) } }
                        for i in 0..<100 {
                            let v = c.receive()
                            if v != i { return XCTFail("chan[\(chanCap)]: received \(String(describing: v)), expected \(i)") }
                        }
                        // Same, but using recv2 (value and ok).
                        go { for i in 0..<100 { c.send(i) } }
                        for i in 0..<100 {
                            guard let v = c.receive() else { return XCTFail("chan[\(chanCap)]: receive failed, expected \(i)") }
                            if v != i { return XCTFail("chan[\(chanCap)]: received \(v), expected \(i)") }
                        }
                        // Send 1000 integers in 4 goroutines, ensure that we receive what we send.
                        let P = 4, L = 1000
                        for _ in 0..<P { go { for i in 0..<L { c.send(i) } } }
                        let done = Channel<[Int: Int]>()
                        for _ in 0..<P {
                            go {
                                var recv: [Int: Int] = [:]
                                for _ in 0..<L { recv[c.receive()!, default: 0] += 1 }
                                done.send(recv)
                            }
                        }
                        var recv: [Int: Int] = [:]
                        for _ in 0..<P { for (k, v) in done.receive()! { recv[k, default: 0] += v } }
                        if recv.count != L { return XCTFail("chan[\(chanCap)]: received \(recv.count) values, expected \(L)") }
                        for (_, v) in recv where v != P { return XCTFail("chan[\(chanCap)]: received \(v) values, expected \(P)") }
                    }
                    do {
                        // Test len/cap.
                        let c = Channel<Int>(capacity: chanCap)
                        if c.count != 0 || c.capacity != chanCap { return XCTFail("chan[\(chanCap)]: bad len/cap") }
                        for i in 0..<chanCap { c.send(i) }
                        if c.count != chanCap || c.capacity != chanCap { return XCTFail("chan[\(chanCap)]: bad len/cap") }
                    }
                }
            }
        }
    }

    func testNonblockRecvRace() throws {
        try goTest {
            let n = testingShort ? 100 : 10000
            let failed = AtomicInt()
            for _ in 0..<n {
                let c = Channel<Int>(capacity: 1)
                c.send(1)
                let finished = WaitGroup()
                finished.go {
                    select {
                        Receive(c) { _ in }
                        Default { failed.store(1) }
                    }
                }
                c.close()
                _ = c.receive()
                finished.wait()  // Go checks t.Failed() after each round; the port waits for the round's select
                if failed.value != 0 { return XCTFail("chan is not ready") }
            }
        }
    }

    /// select acts on the state of the channels at one moment, not over a smeared time window.
    func testNonblockSelectRace() throws {
        try goTest {
            let n = testingShort ? 1000 : 100_000
            let done = Channel<Bool>(capacity: 1)
            for _ in 0..<n {
                let c1 = Channel<Int>(capacity: 1), c2 = Channel<Int>(capacity: 1)
                c1.send(1)
                go {
                    var ready = true
                    select {
                        Receive(c1) { _ in }
                        Receive(c2) { _ in }
                        Default { ready = false }
                    }
                    done.send(ready)
                }
                c2.send(1)
                select {
                    Receive(c1) { _ in }
                    Default {}
                }
                if done.receive() != true { return XCTFail("no chan is ready") }
            }
        }
    }

    /// Same as testNonblockSelectRace, but close(c2) replaces c2 <- 1.
    func testNonblockSelectRace2() throws {
        try goTest {
            let n = testingShort ? 1000 : 100_000
            let done = Channel<Bool>(capacity: 1)
            for _ in 0..<n {
                let c1 = Channel<Int>(capacity: 1), c2 = Channel<Int>()
                c1.send(1)
                go {
                    var ready = true
                    select {
                        Receive(c1) { _ in }
                        Receive(c2) { _ in }
                        Default { ready = false }
                    }
                    done.send(ready)
                }
                c2.close()
                select {
                    Receive(c1) { _ in }
                    Default {}
                }
                if done.receive() != true { return XCTFail("no chan is ready") }
            }
        }
    }

    /// send/recv on the same chan in select does not crash nor deadlock.
    func testSelfSelect() throws {
        try goTest {
            withMaxProcs(2) {
                for chanCap in [0, 10] {
                    let wg = WaitGroup()
                    wg.add(2)
                    let c = Channel<Int>(capacity: chanCap)
                    for p in 0..<2 {
                        go {
                            defer { wg.done() }
                            for i in 0..<1000 {
                                var selfReceive = false
                                let check: (Int?) -> Void = { v in if chanCap == 0 && v == p { selfReceive = true } }
                                if p == 0 || i % 2 == 0 {
                                    select {
                                        Send(p, to: c)
                                        Receive(c, check)
                                    }
                                } else {
                                    select {
                                        Receive(c, check)
                                        Send(p, to: c)
                                    }
                                }
                                if selfReceive { return XCTFail("self receive") }
                            }
                        }
                    }
                    wg.wait()
                }
            }
        }
    }

    func testSelectStress() throws {
        try goTest {
            withMaxProcs(10) {
                let c: [Channel<Int>] = [Channel(), Channel(), Channel(capacity: 2), Channel(capacity: 3)]
                let N = testingShort ? 10_000 : 100_000
                // 4 goroutines send N values on each chan, 4 receive N values on each chan, 1 sends N
                // values on each chan in a single select, 1 receives N values on each in a single select.
                let wg = WaitGroup()
                wg.add(10)
                for k in 0..<4 {
                    go {
                        for _ in 0..<N { c[k].send(0) }
                        wg.done()
                    }
                    go {
                        for _ in 0..<N { _ = c[k].receive() }
                        wg.done()
                    }
                }
                go {
                    var n = [0, 0, 0, 0]
                    var c1: [Channel<Int>?] = c
                    for _ in 0..<4 * N {
                        func sent(_ k: Int) { n[k] += 1; if n[k] == N { c1[k] = nil } }
                        select {
                            Send(0, to: c1[3]) { sent(3) }
                            Send(0, to: c1[2]) { sent(2) }
                            Send(0, to: c1[0]) { sent(0) }
                            Send(0, to: c1[1]) { sent(1) }
                        }
                    }
                    wg.done()
                }
                go {
                    var n = [0, 0, 0, 0]
                    var c1: [Channel<Int>?] = c
                    for _ in 0..<4 * N {
                        func received(_ k: Int) { n[k] += 1; if n[k] == N { c1[k] = nil } }
                        select {
                            Receive(c1[0]) { _ in received(0) }
                            Receive(c1[1]) { _ in received(1) }
                            Receive(c1[2]) { _ in received(2) }
                            Receive(c1[3]) { _ in received(3) }
                        }
                    }
                    wg.done()
                }
                wg.wait()
            }
        }
    }

    func testSelectFairness() throws {
        try goTest {
            let trials = 10000
            let c1 = Channel<UInt8>(capacity: trials + 1), c2 = Channel<UInt8>(capacity: trials + 1)
            for _ in 0..<trials + 1 {
                c1.send(1)
                c2.send(2)
            }
            let c3 = Channel<UInt8>(), c4 = Channel<UInt8>()
            let out = Channel<UInt8>(), done = Channel<UInt8>()
            let wg = WaitGroup()
            wg.add(1)
            go {
                defer { wg.done() }
                while true {
                    var b: UInt8 = 0
                    select {
                        Receive(c3) { b = $0 ?? 0 }
                        Receive(c4) { b = $0 ?? 0 }
                        Receive(c1) { b = $0 ?? 0 }
                        Receive(c2) { b = $0 ?? 0 }
                    }
                    var finished = false
                    select {
                        Send(b, to: out)
                        Receive(done) { _ in finished = true }
                    }
                    if finished { return }
                }
            }
            var cnt1 = 0, cnt2 = 0
            for _ in 0..<trials {
                switch out.receive() {
                case 1: cnt1 += 1
                case 2: cnt2 += 1
                case let b: return XCTFail("unexpected value \(String(describing: b)) on channel")
                }
            }
            // If the select is fair, cnt1 and cnt2 are about the same: fail beyond 10 sigma.
            let mean = Double(trials) * 0.5
            let stddev = (Double(trials) * 0.5 * 0.5).squareRoot()
            if abs(Double(cnt1) - mean) > 10 * stddev {
                XCTFail("unfair select: in \(trials) trials, results were \(cnt1), \(cnt2)")
            }
            done.close()
            wg.wait()
        }
    }

    func testPseudoRandomSend() throws {
        try goTest {
            let n = 100
            for chanCap in [0, n] {
                let c = Channel<Int>(capacity: chanCap)
                let l = Shared([Int](repeating: 0, count: n))
                let m = GoMutex()
                m.lock()
                go {
                    for i in 0..<n {
                        Go.yield()
                        l.value[i] = c.receive()!
                    }
                    m.unlock()
                }
                for _ in 0..<n {
                    select {
                        Send(1, to: c)
                        Send(0, to: c)
                    }
                }
                m.lock()  // wait
                var n0 = 0, n1 = 0
                for i in l.value {
                    n0 += (i + 1) % 2
                    n1 += i
                }
                if n0 <= n / 10 || n1 <= n / 10 {
                    XCTFail("Want pseudorandom, got \(n0) zeros and \(n1) ones (chan cap \(chanCap))")
                }
            }
        }
    }

    func testMultiConsumer() throws {
        try goTest {
            let nwork = 23, niter = 271_828
            let pn = [2, 3, 7, 11, 13, 17, 19, 23, 27, 31]
            let q = Channel<Int>(capacity: nwork * 3), r = Channel<Int>(capacity: nwork * 3)
            // workers
            let wg = WaitGroup()
            for w in 0..<nwork {
                wg.add(1)
                go {
                    for v in q {
                        // mess with the fifo-ish nature of range
                        if pn[w % pn.count] == v { Go.yield() }
                        r.send(v)
                    }
                    wg.done()
                }
            }
            // feeder & closer
            let expect = Shared(0)
            go {
                for i in 0..<niter {
                    let v = pn[i % pn.count]
                    expect.value += v
                    q.send(v)
                }
                q.close()  // no more work
                wg.wait()  // workers done
                r.close()  // ... so there can be no more results
            }
            // consume & check
            var n = 0, s = 0
            for v in r {
                n += 1
                s += v
            }
            if n != niter || s != expect.value {
                XCTFail("Expected sum \(expect.value) (got \(s)) from \(niter) iter (saw \(n))")
            }
        }
    }

    /// Channel operations still work while the sender alternates between deep stack use and blocking.
    func testShrinkStackDuringBlockedSend() throws {
        try goTest {
            let n = 10
            let c = Channel<Int>(), done = Channel<Void>()
            go {
                for i in 0..<n {
                    c.send(i)
                    stackGrowthRecursive(20)  // use lots of stack, briefly
                }
                done.send(())
            }
            for i in 0..<n {
                let x = c.receive()
                if x != i { XCTFail("bad channel read: want \(i), got \(String(describing: x))") }
                Go.sleep(for: .milliseconds(1))
            }
            _ = done.receive()
        }
    }

    func testNoShrinkStackWhileParking() throws {
        try goTest {
            let n = 10
            @Sendable func send(_ c: Channel<Int>, _ done: Channel<Void>) {
                for i in 0..<n {
                    c.send(i)
                    stackGrowthRecursive(20)
                }
                done.send(())
            }
            @Sendable func recv(_ c: Channel<Int>, _ done: Channel<Void>) {
                for _ in 0..<n {
                    Go.sleep(for: .microseconds(10))  // so the sender always fully blocks
                    _ = c.receive()
                }
                done.send(())
            }
            for _ in 0..<n * 20 {
                let c = Channel<Int>(), done = Channel<Void>()
                go { recv(c, done) }
                go { send(c, done) }
                Go.sleep(for: .microseconds(50))
                _ = done.receive()
                _ = done.receive()
            }
        }
    }

    /// A G can be queued on the same channel several times.
    func testSelectDuplicateChannel() throws {
        try goTest {
            let c = Channel<Int>(), d = Channel<Int>(), e = Channel<Int>()
            // goroutine A
            go {
                select {
                    Receive(c) { _ in }
                    Receive(c) { _ in }
                    Receive(d) { _ in }
                }
                e.send(9)
            }
            Go.sleep(for: .milliseconds(1))  // make sure goroutine A gets queued first on c
            // goroutine B
            go { _ = c.receive() }
            Go.sleep(for: .milliseconds(1))  // make sure goroutine B gets queued on c before continuing
            d.send(7)  // wake up A, it dequeues itself from c. This operation used to corrupt c.recvq.
            _ = e.receive()  // A tells us it's done
            c.send(8)  // wake up B
        }
    }

    func testSelectStackAdjust() throws {
        try goTest {
            let c = Channel<Int>(), d = Channel<Int>()
            let ready1 = Channel<Bool>(), ready2 = Channel<Bool>()
            @Sendable func f(_ ready: Channel<Bool>, _ dup: Bool) {
                stackGrowthRecursive((10 << 10) / (128 * 8))  // temporarily grow the stack to 10K
                ready.send(true)
                var val = 42
                let c2: Channel<Int>? = dup ? c : nil
                let d2: Channel<Int>? = dup ? d : nil
                // Receive from d. val won't be affected.
                select {
                    Receive(c) { val = $0 ?? -1 }
                    Receive(c2) { _ in }
                    Receive(d) { _ in }
                    Receive(d2) { _ in }
                }
                if val != 42 { XCTFail("val changed") }
                ready.send(true)
            }
            go { f(ready1, false) }
            go { f(ready2, true) }
            _ = ready1.receive()
            _ = ready2.receive()
            Go.sleep(for: .milliseconds(10))
            d.close()  // wake selects
            _ = ready1.receive()
            _ = ready2.receive()
        }
    }
}
