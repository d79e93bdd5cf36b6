import Foundation
import XCTest
import Goroutines

// Go 1.27 sync/map_test.go and sync/oncefunc_test.go, ported, plus runtime/crash_test.go's
// TestGoexitDefer (the Goexit behaviour OnceFunc's test relies on). `SyncMap<Key, Value>` is typed, so
// Go's `any` keys become String keys and values. Not ported:
// - TestMapMatchesDeepCopy, TestMapMatchesHashTrieMap: the same random-call comparison as
//   TestMapMatchesRWMutex (ported) against Go's other internal reference maps.
// - TestIssue40999 (cleanups of GC'd keys), TestMapRangeNoAllocations, TestMapClearOneAllocation and the
//   allocation counts of TestOnceFunc/TestOnceValue/TestOnceValues: GC and AllocsPerRun.
// - TestOnceFuncPanicNil (panic(nil)) and TestOnceFuncPanicTraceback (the panicking frame in the
//   recovered stack): a Go panic that is recovered is a thrown error here, with no value-less form and no
//   stack.
// - TestCompareAndSwap_NonExistingKey uses the map itself as a key and nil as the old value: ported with
//   a typed key and value.
final class GoMapAndOnceFuncTests: XCTestCase, @unchecked Sendable {
    // MARK: map_test.go

    /// Random call sequences give the same results on SyncMap as on a locked dictionary (Go's
    /// RWMutexMap). Go's quick.CheckEqual runs 100 random sequences; so does this. Every op gets a
    /// random value (Go leaves it nil for ops other than Store/LoadOrStore, which makes its
    /// CompareAndSwap/CompareAndDelete calls never match a stored string).
    func testMapMatchesRWMutex() throws {
        try goTest {
            enum Op: CaseIterable { case load, store, loadOrStore, loadAndDelete, delete, swap, compareAndSwap, compareAndDelete, clear }
            func randValue() -> String { String((0..<Int.random(in: 0..<4)).map { _ in Character(UnicodeScalar(UInt8(97 + Int.random(in: 0..<26)))) }) }
            for _ in 0..<100 {
                let calls = (0..<Int.random(in: 0..<50)).map { _ in (Op.allCases.randomElement()!, randValue(), randValue()) }
                let m = SyncMap<String, String>()
                var reference: [String: String] = [:]
                for (op, k, v) in calls {
                    let newValue = String(Int.random(in: 0..<Int.max))
                    let got: (String?, Bool), want: (String?, Bool)
                    switch op {
                    case .load:
                        let value = m.load(k)
                        got = (value, value != nil)
                        want = (reference[k], reference[k] != nil)
                    case .store:
                        m.store(k, v)
                        reference[k] = v
                        got = (nil, false); want = (nil, false)
                    case .loadOrStore:
                        let r = m.loadOrStore(k, v)
                        got = (r.value, r.loaded)
                        if let existing = reference[k] { want = (existing, true) } else { reference[k] = v; want = (v, false) }
                    case .loadAndDelete:
                        let value = m.loadAndDelete(k)
                        got = (value, value != nil)
                        let old = reference.removeValue(forKey: k)
                        want = (old, old != nil)
                    case .delete:
                        m.delete(k)
                        reference[k] = nil
                        got = (nil, false); want = (nil, false)
                    case .swap:
                        let previous = m.swap(k, v)
                        got = (previous, previous != nil)
                        let old = reference.updateValue(v, forKey: k)
                        want = (old, old != nil)
                    case .compareAndSwap:
                        if m.compareAndSwap(k, old: v, new: newValue) {
                            m.delete(k)
                            got = (v, true)
                        } else {
                            got = (nil, false)
                        }
                        if reference[k] == v { reference[k] = nil; want = (v, true) } else { want = (nil, false) }
                    case .compareAndDelete:
                        got = (nil, m.compareAndDelete(k, old: v) && m.load(k) == nil)
                        if reference[k] == v { reference[k] = nil; want = (nil, true) } else { want = (nil, false) }
                    case .clear:
                        m.clear()
                        reference.removeAll()
                        got = (nil, false); want = (nil, false)
                    }
                    if got.0 != want.0 || got.1 != want.1 { return XCTFail("\(op)(\(k), \(v)) = \(got), want \(want)") }
                }
                var final: [String: String] = [:]
                m.range { k, v in final[k] = v; return true }
                if final != reference { return XCTFail("final map \(final) != \(reference)") }
            }
        }
    }

    func testConcurrentRange() throws {
        try goTest {
            let mapSize: Int64 = 1 << 10
            let m = SyncMap<Int64, Int64>()
            for n in 1...mapSize { m.store(n, n) }
            let done = Channel<Void>()
            let wg = WaitGroup()
            defer {
                done.close()
                wg.wait()
            }
            for g in stride(from: Int64(Go.maxProcs), to: 0, by: -1) {
                wg.add(1)
                go {
                    defer { wg.done() }
                    var i: Int64 = 0
                    while true {
                        var stop = false
                        select {
                            Receive(done) { _ in stop = true }
                            Default {}
                        }
                        if stop { return }
                        for n in 1..<mapSize {
                            if Int64.random(in: 0..<mapSize) == 0 { m.store(n, n &* i &* g) } else { _ = m.load(n) }
                        }
                        i += 1
                    }
                }
            }
            let iters = testingShort ? 16 : 1 << 10
            for _ in 0..<iters {
                var seen = Set<Int64>()
                var failure: String?
                m.range { k, v in
                    if v % k != 0 { failure = "while Storing multiples of \(k), Range saw value \(v)"; return false }
                    if seen.contains(k) { failure = "Range visited key \(k) twice"; return false }
                    seen.insert(k)
                    return true
                }
                if let failure { return XCTFail(failure) }
                if seen.count != Int(mapSize) { return XCTFail("Range visited \(seen.count) elements of \(mapSize)-element Map") }
            }
        }
    }

    func testMapRangeNestedCall() throws {  // Go issue 46399
        try goTest {
            let m = SyncMap<Int, String>()
            for (i, v) in ["hello", "world", "Go"].enumerated() { m.store(i, v) }
            m.range { key, value in
                m.range { key, value in
                    if m.load(key) != value { XCTFail("Nested Range loads unexpected value, got \(String(describing: m.load(key))) want \(value)") }
                    if m.loadOrStore(42, "dummy").loaded { XCTFail("Nested Range loads unexpected value, want store a new value") }
                    let val = "sync.Map"
                    m.store(42, val)
                    if m.loadAndDelete(42) != val { XCTFail("Nested Range loads unexpected value, want \(val)") }
                    return true
                }
                m.delete(key)
                return true
            }
            var length = 0
            m.range { _, _ in length += 1; return true }
            if length != 0 { XCTFail("Unexpected sync.Map size, got \(length) want 0") }
        }
    }

    func testCompareAndSwapNonExistingKey() throws {
        try goTest {
            let m = SyncMap<String, Int>()
            if m.compareAndSwap("m", old: 0, new: 42) { XCTFail("CompareAndSwap on a non-existing key succeeded") }
        }
    }

    func testConcurrentClear() throws {
        try goTest {
            let m = SyncMap<Int, Int>()
            let wg = WaitGroup()
            wg.add(30)  // 10 goroutines writing, 10 reading, 10 clearing
            for i in 0..<10 {
                go {
                    defer { wg.done() }
                    m.store(i, i * 10)
                }
            }
            for i in 0..<10 {
                go {
                    defer { wg.done() }
                    _ = m.load(i)  // Go logs found / not found
                }
            }
            for _ in 0..<10 {
                go {
                    defer { wg.done() }
                    m.clear()
                }
            }
            wg.wait()
            m.clear()
            m.range { k, v in
                XCTFail("after Clear, Map contains (\(k), \(v)); expected to be empty")
                return true
            }
        }
    }

    // MARK: oncefunc_test.go

    func testOnceFunc() throws {
        try goTest {
            let calls = Shared(0)
            let f = onceFunc { calls.value += 1 }
            for _ in 0..<10 { f() }  // Go: AllocsPerRun(10, f)
            if calls.value != 1 { XCTFail("want calls==1, got \(calls.value)") }
        }
    }

    func testOnceValue() throws {
        try goTest {
            let calls = Shared(0)
            let f = onceValue { () -> Int in
                calls.value += 1
                return calls.value
            }
            for _ in 0..<10 { _ = f() }
            let value = f()
            if calls.value != 1 { XCTFail("want calls==1, got \(calls.value)") }
            if value != 1 { XCTFail("want value==1, got \(value)") }
        }
    }

    func testOnceValues() throws {
        try goTest {
            let calls = Shared(0)
            let f = onceValue { () -> (Int, Int) in
                calls.value += 1
                return (calls.value, calls.value + 1)
            }
            for _ in 0..<10 { _ = f() }
            let (v1, v2) = f()
            if calls.value != 1 { XCTFail("want calls==1, got \(calls.value)") }
            if v1 != 1 || v2 != 2 { XCTFail("want v1==1 and v2==2, got \(v1) and \(v2)") }
        }
    }

    /// Go's testOncePanicX: the first and the second call both fail with the first call's error.
    private func oncePanicX(_ calls: Shared<Int>, _ f: () throws -> Void) {
        for label in ["first time", "second time"] {
            do {
                try f()
                return XCTFail("\(label): f did not panic")
            } catch {
                if (error as? TestFailure)?.description != "x" { return XCTFail("\(label): want panic x, got \(error)") }
            }
        }
        if calls.value != 1 { XCTFail("want calls==1, got \(calls.value)") }
    }

    func testOnceFuncPanic() throws {
        try goTest {
            let calls = Shared(0)
            let f = onceFunc { () throws in
                calls.value += 1
                throw TestFailure("x")
            }
            self.oncePanicX(calls, f)
        }
    }

    func testOnceValuePanic() throws {
        try goTest {
            let calls = Shared(0)
            let f = onceValue { () throws -> Int in
                calls.value += 1
                throw TestFailure("x")
            }
            self.oncePanicX(calls) { _ = try f() }
        }
    }

    func testOnceValuesPanic() throws {
        try goTest {
            let calls = Shared(0)
            let f = onceValue { () throws -> (Int, Int) in
                calls.value += 1
                throw TestFailure("x")
            }
            self.oncePanicX(calls) { _ = try f() }
        }
    }

    /// If f calls Goexit the results are unspecified, but f is not called twice.
    func testOnceFuncGoexit() throws {
        try goTest {
            let calls = Shared(0)
            let f = onceFunc {
                calls.value += 1
                Go.goexit()
            }
            let wg = WaitGroup()
            for _ in 0..<2 {
                wg.add(1)
                go { Go.withCleanup({ wg.done() }) { f() } }
                wg.wait()
            }
            if calls.value != 1 { XCTFail("want calls==1, got \(calls.value)") }
        }
    }

    /// The wrapped function is released once it has run (Go: garbage collected), and not before.
    func testOnceXGC() throws {
        try goTest {
            final class Buffer: @unchecked Sendable { var bytes = [UInt8](repeating: 0, count: 1024) }
            let makers: [(String, (Buffer) -> () -> Void)] = [
                ("OnceFunc", { buf in onceFunc { buf.bytes[0] = 1 } }),
                ("OnceValue", { buf in let f = onceValue { () -> Int in buf.bytes[0] = 1; return 0 }; return { _ = f() } }),
                ("OnceValues", { buf in let f = onceValue { () -> (Int, Int) in buf.bytes[0] = 1; return (0, 0) }; return { _ = f() } }),
                ("OnceFunc panic", { buf in let f = onceFunc { () throws in buf.bytes[0] = 1; throw TestFailure("test panic") }; return { try? f() } }),
                ("OnceValue panic", { buf in let f = onceValue { () throws -> Int in buf.bytes[0] = 1; throw TestFailure("test panic") }; return { _ = try? f() } }),
            ]
            for (name, make) in makers {
                var buf: Buffer? = Buffer()
                weak let released = buf
                let f = make(buf!)
                buf = nil
                if released == nil { XCTFail("\(name): wrapped function released too early") }
                f()
                if released != nil { XCTFail("\(name): wrapped function should be released, but still live") }
                f()
            }
        }
    }

    // MARK: runtime/crash_test.go TestGoexitDefer

    /// Goexit runs the goroutine's deferred calls (here: its `withCleanup` cleanups).
    func testGoexitDefer() throws {
        try goTest {
            let c = Channel<Void>()
            go {
                Go.withCleanup({ c.send(()) }) { () -> Void in
                    Go.goexit()
                }
            }
            _ = c.receive()  // deadlocks if the cleanup does not run
        }
    }
}
