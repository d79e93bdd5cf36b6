import Foundation
import XCTest
import Goroutines

// Go 1.27 sync/mutex_test.go, rwmutex_test.go, waitgroup_test.go, once_test.go and cond_test.go, ported.
// A Go panic a test recovers from is a thrown error here where the API throws (Once); the runtime's own
// panics end the process, so tests that recover from them are not ported:
// - TestMutexMisuse (unlock of unlocked Mutex/RWMutex: fatal errors, checked in a subprocess by Go),
//   TestWaitGroupMisuse (negative counter panic), TestIssue76126 (a panic in WaitGroup.Go ends the
//   process), TestCondCopy (copying a Cond: a Swift class cannot be copied).
// - TestWaitGroupAlign: the alignment of a WaitGroup inside a struct; a Swift class has no such layout.
// - TestMutex's SetMutexProfileFraction(1) is kept (the profile is exercised while hammering).
final class GoSyncTests: XCTestCase, @unchecked Sendable {
    // MARK: mutex_test.go

    /// Go hammers the runtime semaphore directly; here the public counting semaphore of one.
    func testSemaphore() throws {
        try goTest {
            let s = Semaphore(capacity: 1)
            let c = Channel<Bool>()
            for _ in 0..<10 {
                go {
                    for _ in 0..<1000 {
                        s.acquire()
                        s.release()
                    }
                    c.send(true)
                }
            }
            for _ in 0..<10 { _ = c.receive() }
        }
    }

    func testMutex() throws {
        try goTest {
            let previous = Go.setMutexProfileFraction(1)
            defer { Go.setMutexProfileFraction(previous) }
            let m = GoMutex()
            m.lock()
            if m.tryLock() { return XCTFail("TryLock succeeded with mutex locked") }
            m.unlock()
            if !m.tryLock() { return XCTFail("TryLock failed with mutex unlocked") }
            m.unlock()
            let c = Channel<Bool>()
            for _ in 0..<10 { go { hammerMutex(m, 1000, c) } }
            for _ in 0..<10 { _ = c.receive() }
        }
    }

    /// A goroutine that holds the mutex most of the time must not keep another from getting it.
    func testMutexFairness() throws {
        try goTest {
            let mu = GoMutex()
            let stop = Channel<Bool>()
            defer { stop.close() }
            go {
                while true {
                    mu.lock()
                    Go.sleep(for: .microseconds(100))
                    mu.unlock()
                    var stopped = false
                    select {
                        Receive(stop) { _ in stopped = true }
                        Default {}
                    }
                    if stopped { return }
                }
            }
            let done = Channel<Bool>(capacity: 1)
            go {
                for _ in 0..<10 {
                    Go.sleep(for: .microseconds(100))
                    mu.lock()
                    mu.unlock()
                }
                done.send(true)
            }
            select {
                Receive(done) { _ in }
                Receive(Go.after(.seconds(10))) { _ in XCTFail("can't acquire Mutex in 10 seconds") }
            }
        }
    }

    // MARK: rwmutex_test.go

    func testParallelReaders() throws {
        try goTest {
            let previous = Go.maxProcs
            defer { Go.setMaxProcs(previous) }
            parallelReaders(1, gomaxprocs: 4)
            parallelReaders(3, gomaxprocs: 4)
            parallelReaders(4, gomaxprocs: 2)
        }
    }

    func testRWMutex() throws {
        try goTest {
            let m = RWMutex()
            m.lock()
            if m.tryLock() { return XCTFail("TryLock succeeded with mutex locked") }
            if m.tryReadLock() { return XCTFail("TryRLock succeeded with mutex locked") }
            m.unlock()
            if !m.tryLock() { return XCTFail("TryLock failed with mutex unlocked") }
            m.unlock()
            if !m.tryReadLock() { return XCTFail("TryRLock failed with mutex unlocked") }
            if !m.tryReadLock() { return XCTFail("TryRLock failed with mutex rlocked") }
            if m.tryLock() { return XCTFail("TryLock succeeded with mutex rlocked") }
            m.readUnlock()
            m.readUnlock()

            let previous = Go.maxProcs
            defer { Go.setMaxProcs(previous) }
            let n = testingShort ? 5 : 1000
            for (procs, readers) in [(1, 1), (1, 3), (1, 10), (4, 1), (4, 3), (4, 10), (10, 1), (10, 3), (10, 10), (10, 5)] {
                hammerRWMutex(gomaxprocs: procs, numReaders: readers, iterations: n)
            }
        }
    }

    func testRLocker() throws {
        try goTest {
            let wl = RWMutex()
            let rl = wl.readLocker
            let wlocked = Channel<Bool>(capacity: 1), rlocked = Channel<Bool>(capacity: 1)
            let n = 10
            go {
                for _ in 0..<n {
                    rl.lock()
                    rl.lock()
                    rlocked.send(true)
                    wl.lock()
                    wlocked.send(true)
                }
            }
            for _ in 0..<n {
                _ = rlocked.receive()
                rl.unlock()
                var failure: String?
                select {
                    Receive(wlocked) { _ in failure = "RLocker() didn't read-lock it" }
                    Default {}
                }
                if let failure { return XCTFail(failure) }
                rl.unlock()
                _ = wlocked.receive()
                select {
                    Receive(rlocked) { _ in failure = "RLocker() didn't respect the write lock" }
                    Default {}
                }
                if let failure { return XCTFail(failure) }
                wl.unlock()
            }
        }
    }

    // MARK: waitgroup_test.go

    func testWaitGroup() throws {
        try goTest {
            let wg1 = WaitGroup(), wg2 = WaitGroup()
            for _ in 0..<8 {
                let n = 16
                wg1.add(n)
                wg2.add(n)
                let exited = Channel<Bool>(capacity: n)
                for _ in 0..<n {
                    go {
                        wg1.done()
                        wg2.wait()
                        exited.send(true)
                    }
                }
                wg1.wait()
                for _ in 0..<n {
                    var tooSoon = false
                    select {
                        Receive(exited) { _ in tooSoon = true }
                        Default {}
                    }
                    if tooSoon { return XCTFail("WaitGroup released group too soon") }
                    wg2.done()
                }
                for _ in 0..<n { _ = exited.receive() }  // blocks if the barrier fails to unlock someone
            }
        }
    }

    func testWaitGroupRace() throws {
        try goTest {
            for _ in 0..<1000 {
                let wg = WaitGroup()
                let n = AtomicInt()
                wg.add(1)
                go {
                    n.add(1)
                    wg.done()
                }
                wg.add(1)
                go {
                    n.add(1)
                    wg.done()
                }
                wg.wait()
                if n.value != 2 { return XCTFail("Spurious wakeup from Wait") }
            }
        }
    }

    func testWaitGroupGo() throws {
        try goTest {
            let wg = WaitGroup()
            let i = Shared(0)
            wg.go { i.value += 1 }
            wg.wait()
            if i.value != 1 { XCTFail("got \(i.value), want 1") }
        }
    }

    // MARK: once_test.go

    func testOnce() throws {
        try goTest {
            let o = Shared(0)
            let once = Once()
            let c = Channel<Bool>()
            let n = 10
            for _ in 0..<n {
                go {
                    once.run { o.value += 1 }
                    if o.value != 1 { XCTFail("once failed inside run: \(o.value) is not 1") }
                    c.send(true)
                }
            }
            for _ in 0..<n { _ = c.receive() }
            if o.value != 1 { XCTFail("once failed outside run: \(o.value) is not 1") }
        }
    }

    /// A body that fails (Go: panics) still counts as the one call.
    func testOncePanic() throws {
        try goTest {
            let once = Once()
            do {
                try once.run { throw TestFailure("failed") }
                return XCTFail("Once.Do did not panic")
            } catch {}
            once.run { XCTFail("Once.Do called twice") }
        }
    }

    // MARK: cond_test.go

    func testCondSignal() throws {
        try goTest {
            let m = GoMutex()
            let c = Cond(m)
            var n = 2
            let running = Channel<Bool>(capacity: n), awake = Channel<Bool>(capacity: n)
            for _ in 0..<n {
                go {
                    m.lock()
                    running.send(true)
                    c.wait()
                    awake.send(true)
                    m.unlock()
                }
            }
            for _ in 0..<n { _ = running.receive() }  // wait for everyone to run
            while n > 0 {
                var failure: String?
                select {
                    Receive(awake) { _ in failure = "goroutine not asleep" }
                    Default {}
                }
                if let failure { return XCTFail(failure) }
                m.lock()
                c.signal()
                m.unlock()
                _ = awake.receive()  // deadlocks if no goroutine wakes up
                select {
                    Receive(awake) { _ in failure = "too many goroutines awake" }
                    Default {}
                }
                if let failure { return XCTFail(failure) }
                n -= 1
            }
            c.signal()
        }
    }

    func testCondSignalGenerations() throws {
        try goTest {
            let m = GoMutex()
            let c = Cond(m)
            let n = 100
            let running = Channel<Bool>(capacity: n), awake = Channel<Int>(capacity: n)
            for i in 0..<n {
                go {
                    m.lock()
                    running.send(true)
                    c.wait()
                    awake.send(i)
                    m.unlock()
                }
                if i > 0 {
                    let a = awake.receive()!
                    if a != i - 1 { return XCTFail("wrong goroutine woke up: want \(i - 1), got \(a)") }
                }
                _ = running.receive()
                m.lock()
                c.signal()
                m.unlock()
            }
        }
    }

    func testCondBroadcast() throws {
        try goTest {
            let m = GoMutex()
            let c = Cond(m)
            let n = 200
            let running = Channel<Int>(capacity: n), awake = Channel<Int>(capacity: n)
            let exit = Shared(false)
            for g in 0..<n {
                go {
                    m.lock()
                    while !exit.value {
                        running.send(g)
                        c.wait()
                        awake.send(g)
                    }
                    m.unlock()
                }
            }
            for i in 0..<n {
                for _ in 0..<n { _ = running.receive() }  // deadlocks unless n are running
                if i == n - 1 {
                    m.lock()
                    exit.value = true
                    m.unlock()
                }
                var failure: String?
                select {
                    Receive(awake) { _ in failure = "goroutine not asleep" }
                    Default {}
                }
                if let failure { return XCTFail(failure) }
                m.lock()
                c.broadcast()
                m.unlock()
                var seen = [Bool](repeating: false, count: n)
                for _ in 0..<n {
                    let g = awake.receive()!
                    if seen[g] { return XCTFail("goroutine woke up twice") }
                    seen[g] = true
                }
            }
            select {
                Receive(running) { _ in XCTFail("goroutine did not exit") }
                Default {}
            }
            c.broadcast()
        }
    }

    func testRace() throws {
        try goTest {
            let x = Shared(0)
            let c = Cond(GoMutex())
            let done = Channel<Bool>()
            go {
                c.locker.lock()
                x.value = 1
                c.wait()
                if x.value != 2 { XCTFail("want 2") }
                x.value = 3
                c.signal()
                c.locker.unlock()
                done.send(true)
            }
            go {
                c.locker.lock()
                while true {
                    if x.value == 1 {
                        x.value = 2
                        c.signal()
                        break
                    }
                    c.locker.unlock()
                    Go.yield()
                    c.locker.lock()
                }
                c.locker.unlock()
                done.send(true)
            }
            go {
                c.locker.lock()
                while true {
                    if x.value == 2 {
                        c.wait()
                        if x.value != 3 { XCTFail("want 3") }
                        break
                    }
                    if x.value == 3 { break }
                    c.locker.unlock()
                    Go.yield()
                    c.locker.lock()
                }
                c.locker.unlock()
                done.send(true)
            }
            for _ in 0..<3 { _ = done.receive() }
        }
    }

    func testCondSignalStealing() throws {
        try goTest {
            for _ in 0..<1000 {
                let m = GoMutex()
                let cond = Cond(m)
                let ch = Channel<Void>()
                go {
                    m.lock()
                    ch.send(())
                    cond.wait()
                    m.unlock()
                    ch.send(())
                }
                _ = ch.receive()
                m.lock()
                m.unlock()
                let done = Shared(false)
                go { cond.broadcast() }
                go {
                    m.lock()
                    while !done.value { cond.wait() }
                    m.unlock()
                }
                _ = ch.receive()
                m.lock()
                done.value = true
                m.unlock()
                cond.broadcast()
            }
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

private func hammerMutex(_ m: GoMutex, _ loops: Int, _ cdone: Channel<Bool>) {
    for i in 0..<loops {
        if i % 3 == 0 {
            if m.tryLock() { m.unlock() }
            continue
        }
        m.lock()
        m.unlock()
    }
    cdone.send(true)
}

private func parallelReaders(_ numReaders: Int, gomaxprocs: Int) {
    Go.setMaxProcs(gomaxprocs)
    let m = RWMutex()
    let clocked = Channel<Bool>(), cunlock = Channel<Bool>(), cdone = Channel<Bool>()
    for _ in 0..<numReaders {
        go {
            m.readLock()
            clocked.send(true)
            _ = cunlock.receive()
            m.readUnlock()
            cdone.send(true)
        }
    }
    for _ in 0..<numReaders { _ = clocked.receive() }
    for _ in 0..<numReaders { cunlock.send(true) }
    for _ in 0..<numReaders { _ = cdone.receive() }
}

private func hammerRWMutex(gomaxprocs: Int, numReaders: Int, iterations: Int) {
    Go.setMaxProcs(gomaxprocs)
    let activity = AtomicInt()
    let rwm = RWMutex()
    let cdone = Channel<Bool>()
    @Sendable func reader() {
        for _ in 0..<iterations {
            rwm.readLock()
            let n = activity.add(1)
            if n < 1 || n >= 10000 {
                rwm.readUnlock()
                Go.panic("wlock(\(n))")
            }
            for _ in 0..<100 {}
            activity.add(-1)
            rwm.readUnlock()
        }
        cdone.send(true)
    }
    @Sendable func writer() {
        for _ in 0..<iterations {
            rwm.lock()
            let n = activity.add(10000)
            if n != 10000 {
                rwm.unlock()
                Go.panic("wlock(\(n))")
            }
            for _ in 0..<100 {}
            activity.add(-10000)
            rwm.unlock()
        }
        cdone.send(true)
    }
    go { writer() }
    var i = 0
    while i < numReaders / 2 {
        go { reader() }
        i += 1
    }
    go { writer() }
    while i < numReaders {
        go { reader() }
        i += 1
    }
    for _ in 0..<2 + numReaders { _ = cdone.receive() }
}
