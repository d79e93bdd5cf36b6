import Foundation
import XCTest
import Goroutines
#if canImport(Glibc)
import Glibc
#endif

// Go 1.27 runtime/proc_test.go, ported. Go's testprog programs (GCFairness, GCFairness2) run in-process
// here with a stop flag, since this process goes on after them. Not ported:
// - TestStopTheWorldDeadlock's runtime.GC() loop (no GC); its GOMAXPROCS loop and perpetuum mobile are.
// - TestAsyncPreempt: a testprog that checks Go's signal-based preemption of a tight loop in assembly.
// - TestPreemptSplitBig: stack-split preemption checks of Go's frames; no split stacks here.
// - TestSchedLocalQueue, TestSchedLocalQueueSteal, TestSchedLocalQueueEmpty, TestStealOrder: drive Go's
//   internal run-queue functions (runtime.RunSchedLocalQueueTest…), not public API.
// - TestLockOSThreadNesting, TestLockOSThreadExit, TestLockOSThreadAvoidsStatePropagation,
//   TestLockOSThreadTemplateThreadRace, TestLockOSThreadVgetrandom: internal lock counts, testprog
//   subprocesses that exit locked threads, unshare(2) and vgetrandom state.
// - TestPreemptionAfterSyscall, TestGetgThreadSwitch, TestNetpollBreak, TestBigGOMAXPROCS, TestTraceSTW,
//   TestTraceGCSTW, TestMexitSTW: Go internals (execution tracer, netpoll break, getg, STW phases).
// - TestNumGoroutine's first half runs testprog NumGoroutine (a fresh program prints 1); the in-process
//   half (NumGoroutine agrees with runtime.Stack(all)) is ported.
final class GoProcTests: XCTestCase, @unchecked Sendable {
    func testStopTheWorldDeadlock() throws {
        try goTest {
            let stop = Channel<Bool>(capacity: 1)
            @Sendable func perpetuumMobile() {
                select {
                    Receive(stop) { _ in }
                    Default { go { perpetuumMobile() } }
                }
            }
            let maxprocs = Go.setMaxProcs(3)
            let compl = Channel<Bool>(capacity: 2)
            go {
                for _ in 0..<1000 { Go.yield() }  // Go: runtime.GC()
                compl.send(true)
            }
            go {
                for _ in 0..<1000 { Go.setMaxProcs(3) }
                compl.send(true)
            }
            go { perpetuumMobile() }
            _ = compl.receive()
            _ = compl.receive()
            stop.send(true)
            Go.setMaxProcs(maxprocs)
        }
    }

    func testYieldProgress() throws { try goTest { Self.yieldProgress(locked: false) } }
    func testYieldLockedProgress() throws { try goTest { Self.yieldProgress(locked: true) } }

    private static func yieldProgress(locked: Bool) {
        let c = Channel<Bool>(), cack = Channel<Bool>()
        go {
            if locked { Go.lockOSThread() }
            while true {
                var received = false
                select {
                    Receive(c) { _ in received = true }
                    Default { Go.yield() }
                }
                if received {
                    cack.send(true)
                    return
                }
            }
        }
        Go.sleep(for: .milliseconds(10))
        c.send(true)
        _ = cack.receive()
    }

    func testYieldLocked() throws {
        try goTest {
            let n = 10
            let c = Channel<Bool>()
            go {
                Go.lockOSThread()
                for _ in 0..<n {
                    Go.yield()
                    Go.sleep(for: .milliseconds(1))
                }
                c.send(true)
            }
            _ = c.receive()
        }
    }

    func testGoroutineParallelism() throws {
        try goTest {
            let P = testingShort ? 3 : 4, N = testingShort ? 3 : 10
            withMaxProcs(P) {
                for _ in 0..<N {
                    let done = Channel<Bool>()
                    let x = AtomicInt()
                    for p in 0..<P {
                        go {
                            for i in 0..<3 {
                                let expected = P * i + p
                                while x.value != expected {}
                                x.store(expected + 1)
                            }
                            done.send(true)
                        }
                    }
                    for _ in 0..<P { _ = done.receive() }
                }
            }
        }
    }

    func testGoroutineParallelism2() throws {
        try goTest {
            Self.goroutineParallelism2(load: true, netpoll: false)
            Self.goroutineParallelism2(load: false, netpoll: true)
            Self.goroutineParallelism2(load: true, netpoll: true)
        }
    }

    private static func goroutineParallelism2(load: Bool, netpoll: Bool) {
        let P = 4, N = testingShort ? 3 : 10
        withMaxProcs(P) {
            var listeners: [Int32] = []
            defer { for fd in listeners { close(fd) } }
            for _ in 0..<N {
                if load {
                    let done = Channel<Bool>()
                    let x = AtomicInt()
                    for _ in 0..<P {
                        go {
                            if x.add(1) == P {
                                done.send(true)
                                return
                            }
                            while x.value != P {}
                        }
                    }
                    _ = done.receive()
                }
                if netpoll {
                    // Go: net.Listen("tcp", "localhost:0"), kept open (a defer in a loop).
                    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                    var addr = sockaddr_in()
                    addr.sin_family = sa_family_t(AF_INET)
                    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
                    let bound = withUnsafePointer(to: &addr) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                    }
                    if fd >= 0 && bound == 0 && listen(fd, 16) == 0 { listeners.append(fd) } else if fd >= 0 { close(fd) }
                }
                let done = Channel<Bool>()
                let x = AtomicInt()
                for p in 0..<P / 2 {
                    go {
                        for p2 in 0..<2 {
                            go {
                                for i in 0..<3 {
                                    let expected = P * i + p * 2 + p2
                                    while x.value != expected {}
                                    x.store(expected + 1)
                                }
                                done.send(true)
                            }
                        }
                    }
                }
                for _ in 0..<P { _ = done.receive() }
            }
        }
    }

    func testBlockLocked() throws {
        try goTest {
            let n = 10
            let c = Channel<Bool>()
            go {
                Go.lockOSThread()
                for _ in 0..<n { c.send(true) }
                Go.unlockOSThread()
            }
            for _ in 0..<n { _ = c.receive() }
        }
    }

    func testTimerFairness() throws {
        try goTest {
            let done = Channel<Bool>(), c = Channel<Bool>()
            for _ in 0..<2 {
                go {
                    while true {
                        var finished = false
                        select {
                            Send(true, to: c)
                            Receive(done) { _ in finished = true }
                        }
                        if finished { return }
                    }
                }
            }
            let timer = Go.after(.milliseconds(20))
            while true {
                var expired = false
                select {
                    Receive(c) { _ in }
                    Receive(timer) { _ in expired = true }
                }
                if expired {
                    done.close()
                    return
                }
            }
        }
    }

    func testTimerFairness2() throws {
        try goTest {
            let done = Channel<Bool>(), c = Channel<Bool>()
            for _ in 0..<2 {
                go {
                    let timer = Go.after(.milliseconds(20))
                    var buf: UInt8 = 0
                    while true {
                        _ = Go.blockingCall { read(0, &buf, 0) }  // Go: syscall.Read(0, buf[0:0])
                        var finished = false
                        select {
                            Send(true, to: c)
                            Receive(c) { _ in }
                            Receive(timer) { _ in finished = true }
                        }
                        if finished {
                            done.send(true)
                            return
                        }
                    }
                }
            }
            _ = done.receive()
            _ = done.receive()
        }
    }

    /// Two goroutines spin waiting for each other: with one P, only preemption lets the other run.
    func testPreemption() throws {
        try goTest {
            let N = testingShort ? 2 : 5
            let c = Channel<Bool>()
            let x = AtomicInt()
            for g in 0..<2 {
                go {
                    for _ in 0..<N {
                        while x.value != g { _ = preempt() }
                        x.store(1 - g)
                    }
                    c.send(true)
                }
            }
            _ = c.receive()
            _ = c.receive()
        }
    }

    func testPreemptionGC() throws {
        let P = testingShort ? 3 : 5, N = testingShort ? 2 : 10
        // P goroutines spin while the test goroutine yields: it needs GOMAXPROCS P+1, or preemption.
        try goTest {
            withMaxProcs(P + 1) {
                let stop = AtomicInt()
                for _ in 0..<P {
                    go { while stop.value == 0 { _ = preempt() } }
                }
                for _ in 0..<N {
                    Go.yield()  // Go also runs runtime.GC() here
                }
                stop.store(1)
            }
        }
    }

    /// testprog GCFairness: with GOMAXPROCS 1, two goroutines writing to /dev/null without end must not
    /// keep the main goroutine's 10 ms sleep from ending.
    func testGCFairness() throws {
        try goTest {
            withMaxProcs(1) {
                let stop = AtomicInt()
                let fd = open("/dev/null", O_WRONLY)
                guard fd >= 0 else { return }  // Go prints OK without /dev/null
                defer { close(fd) }
                let wg = WaitGroup()
                for _ in 0..<2 {
                    wg.go {
                        var dot: UInt8 = 0x2e
                        while stop.value == 0 { _ = write(fd, &dot, 1) }
                    }
                }
                Go.sleep(for: .milliseconds(10))
                stop.store(1)
                wg.wait()
            }
        }
    }

    /// testprog GCFairness2: three goroutines allocating in a loop, GOMAXPROCS 1: every one gets to run.
    func testGCFairness2() throws {
        try goTest {
            withMaxProcs(1) {
                let stop = AtomicInt()
                let count = [AtomicInt(), AtomicInt(), AtomicInt()]
                // One sink per goroutine: displaced, a hog keeps running beside the next goroutine, so
                // slots of one shared array would be a data race.
                let sinks = [Shared<[UInt8]>([]), Shared<[UInt8]>([]), Shared<[UInt8]>([])]
                let wg = WaitGroup()
                for i in 0..<3 {
                    wg.go {
                        while stop.value == 0 {
                            sinks[i].value = [UInt8](repeating: 0, count: 1024)
                            count[i].add(1)
                        }
                    }
                }
                Go.sleep(for: .milliseconds(30))
                if count.contains(where: { $0.value == 0 }) {
                    Go.sleep(for: .seconds(1))
                    for (i, c) in count.enumerated() where c.value == 0 { XCTFail("goroutine \(i) did not run") }
                }
                stop.store(1)
                wg.wait()
            }
        }
    }

    func testNumGoroutine() throws {
        try goTest {
            var i = 0
            while true {
                Go.yield()
                let n = Go.numGoroutine
                let output = Go.stack(all: true).replacingOccurrences(of: "in goroutine", with: "")
                let nstk = output.components(separatedBy: "goroutine ").count - 1
                if n == nstk { break }
                if i >= 10 { return XCTFail("NumGoroutine=\(n), but found \(nstk) goroutines in stack dump: \(output)") }
                i += 1
            }
        }
    }

    /// A goroutine that computes without yielding (hog) and one that yields often (light) get comparable
    /// CPU time on one P: only time-slice preemption makes that so.
    func testPingPongHog() throws {
        try goTest {
            withMaxProcs(1) {
                let done = Channel<Bool>()
                let hogChan = Channel<Bool>(), lightChan = Channel<Bool>()
                let hogCount = AtomicInt(), lightCount = AtomicInt()
                @Sendable func run(_ limit: Int, _ counter: AtomicInt, _ wake: Channel<Bool>) {
                    while true {
                        var finished = false
                        select {
                            Receive(done) { _ in finished = true }
                            Receive(wake) { _ in
                                for _ in 0..<limit { counter.add(1) }
                                wake.send(true)
                            }
                        }
                        if finished { return }
                    }
                }
                for _ in 0..<2 { go { run(1_000_000, hogCount, hogChan) } }
                for _ in 0..<2 { go { run(1000, lightCount, lightChan) } }
                hogChan.send(true)
                lightChan.send(true)
                Go.sleep(for: .milliseconds(100))
                done.close()
                _ = hogChan.receive()
                _ = lightChan.receive()
                let factor = 20
                if hogCount.value / factor > lightCount.value || lightCount.value / factor > hogCount.value {
                    XCTFail("want hogCount/lightCount in [\(1.0 / Double(factor)), \(factor)]; got \(hogCount.value)/\(lightCount.value)")
                }
            }
        }
    }
}

/// Go's `preempt`: a little work with no calls that could yield.
@inline(never)
func preempt() -> Int {
    var a = (0, 0, 0, 0, 0, 0, 0, 0)
    withUnsafeMutableBytes(of: &a) { _ in }
    return a.0 + a.1 + a.2 + a.3 + a.4 + a.5 + a.6 + a.7
}
