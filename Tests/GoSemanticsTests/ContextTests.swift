import Foundation
import XCTest
@testable import Goroutines

// Go 1.27 context/x_test.go and context_test.go (its XTest functions), ported. `Cause(ctx)` is
// `ctx.cause`, `AfterFunc(ctx, f)` is `ctx.afterFunc(f)`; Go's `context_test.key1` type names print with
// the Swift module's name. Not ported:
// - otherContext / customContext / customDoneContext / customCauseContext wrappers (in TestWithCancel,
//   TestDeadline, TestTimeout, TestCanceledTimeout, TestValues, TestCause, TestCustomContextPropagation,
//   TestCustomContextCause, TestCustomContextGoroutines, afterfunc_test.go's TestCustomContextAfterFunc*):
//   Context is a final class here, so user-defined context implementations do not exist; the parts of
//   those tests on the package's own contexts are ported.
// - TestAllocs: allocation counts per call (AllocsPerRun).
// - TestWithValueChecksKey, TestInvalidDerivedFail: nil or non-comparable keys and nil parents are
//   compile-time errors here (keys are Hashable; contexts are non-optional).
// - TestDeadlineExceededSupportsTimeout: Go's `Timeout() bool` error convention has no Swift counterpart.
final class GoContextTests: XCTestCase, @unchecked Sendable {
    private let shortDuration = Duration.milliseconds(1)
    private let veryLongDuration = Duration.seconds(1000 * 3600)
    private let quiescent = Duration.seconds(5)

    private func isDone(_ c: Context) -> Bool {
        var done = false
        select {
            Receive(c.done) { _ in done = true }
            Default {}
        }
        return done
    }

    // MARK: context_test.go (XTest…, using the internal child links)

    func testParentFinishesChild() throws {
        try goTest {
            let (parent, cancel) = Context.background.withCancel()
            let (cancelChild, stop1) = parent.withCancel()
            defer { stop1() }
            let valueChild = parent.withValue("key", "value")
            let (timerChild, stop2) = valueChild.withTimeout(self.veryLongDuration)
            defer { stop2() }
            let afterStop = parent.afterFunc {}
            defer { _ = afterStop() }
            for c in [parent, cancelChild, timerChild, valueChild] where self.isDone(c) {
                XCTFail("<-\(c).Done() want nothing (it should block)")
            }
            if parent.cancelState?.childCount != 3 { XCTFail("bad linkage: parent has \(parent.cancelState?.childCount ?? -1) children, want 3") }
            cancel()
            if parent.cancelState?.childCount != 0 { XCTFail("parent.cancel didn't remove its children") }
            if cancelChild.cancelState?.childCount != 0 { XCTFail("child.cancel didn't remove its children") }
            for c in [parent, cancelChild, timerChild, valueChild] {
                if !self.isDone(c) { XCTFail("\(c).Done() not closed after cancel") }
                if c.err != .canceled { XCTFail("\(c).Err() == \(String(describing: c.err)) want canceled") }
            }
        }
    }

    func testChildFinishesFirst() throws {
        try goTest {
            let (cancelable, stop) = Context.background.withCancel()
            defer { stop() }
            for parent in [Context.background, cancelable] {
                let (child, cancel) = parent.withCancel()
                if self.isDone(parent) || self.isDone(child) { XCTFail("done too early") }
                let parentIsCancelable = parent.cancelState != nil
                if parentIsCancelable && parent.cancelState?.childCount != 1 { XCTFail("bad linkage: parent has \(parent.cancelState?.childCount ?? -1) children") }
                cancel()
                if parentIsCancelable && parent.cancelState?.childCount != 0 { XCTFail("child's cancel didn't remove self from parent's children") }
                if !self.isDone(child) { XCTFail("<-child.Done() blocked, but shouldn't have") }
                if child.err != .canceled { XCTFail("child.Err() == \(String(describing: child.err)) want canceled") }
                if self.isDone(parent) { XCTFail("<-parent.Done() want nothing (it should block)") }
                if parent.err != nil { XCTFail("parent.Err() == \(String(describing: parent.err)) want nil") }
            }
        }
    }

    func testCancelRemoves() throws {
        try goTest {
            func checkChildren(_ when: String, _ ctx: Context, _ want: Int) {
                let got = ctx.cancelState?.childCount ?? -1
                if got != want { XCTFail("\(when): context has \(got) children, want \(want)") }
            }
            var (ctx, _) = Context.background.withCancel()
            checkChildren("after creation", ctx, 0)
            var (_, cancel) = ctx.withCancel()
            checkChildren("with WithCancel child", ctx, 1)
            cancel()
            checkChildren("after canceling WithCancel child", ctx, 0)

            (ctx, _) = Context.background.withCancel()
            checkChildren("after creation", ctx, 0)
            (_, cancel) = ctx.withTimeout(.seconds(3600))
            checkChildren("with WithTimeout child", ctx, 1)
            cancel()
            checkChildren("after canceling WithTimeout child", ctx, 0)

            (ctx, _) = Context.background.withCancel()
            checkChildren("after creation", ctx, 0)
            let stop = ctx.afterFunc {}
            checkChildren("with AfterFunc child", ctx, 1)
            _ = stop()
            checkChildren("after stopping AfterFunc child", ctx, 0)
        }
    }

    // MARK: x_test.go

    func testBackground() throws {
        try goTest {
            let c = Context.background
            if self.isDone(c) { XCTFail("<-c.Done() want nothing (it should block)") }
            XCTAssertEqual(c.description, "context.Background")
        }
    }

    func testTODO() throws {
        try goTest {
            let c = Context.todo
            if self.isDone(c) { XCTFail("<-c.Done() want nothing (it should block)") }
            XCTAssertEqual(c.description, "context.TODO")
        }
    }

    func testWithCancel() throws {
        try goTest {
            let (c1, cancel) = Context.background.withCancel()
            XCTAssertEqual(c1.description, "context.Background.WithCancel")
            let (c2, _) = c1.withCancel()
            let contexts = [c1, c2]
            for (i, c) in contexts.enumerated() {
                if c.done == nil { XCTFail("c[\(i)].Done() == nil want non-nil") }
                if let e = c.err { XCTFail("c[\(i)].Err() == \(e) want nil") }
                if self.isDone(c) { XCTFail("<-c.Done() want nothing (it should block)") }
            }
            cancel()  // should propagate synchronously
            for (i, c) in contexts.enumerated() {
                if !self.isDone(c) { XCTFail("<-c[\(i)].Done() blocked, but shouldn't have") }
                if c.err != .canceled { XCTFail("c[\(i)].Err() == \(String(describing: c.err)) want canceled") }
            }
        }
    }

    private func checkDeadline(_ c: Context, _ name: String) {
        let timer = GoTimer(after: quiescent)
        defer { timer.stop() }
        var timedOut = false
        select {
            Receive(timer.channel) { _ in timedOut = true }
            Receive(c.done) { _ in }
        }
        if timedOut { return XCTFail("\(name): context not timed out after \(quiescent)") }
        if c.err != .deadlineExceeded { XCTFail("\(name): c.Err() == \(String(describing: c.err)); want deadlineExceeded") }
    }

    func testDeadline() throws {
        try goTest {
            var (c, _) = Context.background.withDeadline(.now + self.shortDuration)
            XCTAssert(c.description.hasPrefix("context.Background.WithDeadline("), c.description)
            self.checkDeadline(c, "WithDeadline")
            (c, _) = Context.background.withDeadline(.now + self.shortDuration)
            (c, _) = c.withDeadline(.now + self.veryLongDuration)
            self.checkDeadline(c, "WithDeadline+WithDeadline")
            (c, _) = Context.background.withDeadline(.now - self.shortDuration)
            self.checkDeadline(c, "WithDeadline+inthepast")
            (c, _) = Context.background.withDeadline(.now)
            self.checkDeadline(c, "WithDeadline+now")
        }
    }

    func testTimeout() throws {
        try goTest {
            var (c, _) = Context.background.withTimeout(self.shortDuration)
            XCTAssert(c.description.hasPrefix("context.Background.WithDeadline("), c.description)
            self.checkDeadline(c, "WithTimeout")
            (c, _) = Context.background.withTimeout(self.shortDuration)
            (c, _) = c.withTimeout(self.veryLongDuration)
            self.checkDeadline(c, "WithTimeout+WithTimeout")
        }
    }

    func testCanceledTimeout() throws {
        try goTest {
            let (parent, _) = Context.background.withTimeout(.seconds(1))
            let (c, cancel) = parent.withTimeout(self.veryLongDuration)
            cancel()  // should propagate synchronously
            if !self.isDone(c) { XCTFail("<-c.Done() blocked, but shouldn't have") }
            if c.err != .canceled { XCTFail("c.Err() == \(String(describing: c.err)) want canceled") }
        }
    }

    func testValues() throws {
        try goTest {
            let k1 = Key1(v: 1), k2 = Key2(v: 1), k3 = Key2(v: 3)  // k2: same int as k1, different type
            func check(_ c: Context, _ nm: String, _ v1: String, _ v2: String, _ v3: String, line: UInt = #line) {
                for (key, want, label) in [(AnyHashableKey(k1), v1, "k1"), (AnyHashableKey(k2), v2, "k2"), (AnyHashableKey(k3), v3, "k3")] {
                    let v = key.lookup(in: c) as? String
                    if (v != nil) == want.isEmpty || (v ?? "") != want {
                        XCTFail("\(nm).Value(\(label)) = \(String(describing: v)) want \(want)", line: line)
                    }
                }
            }
            let c0 = Context.background
            check(c0, "c0", "", "", "")
            let c1 = Context.background.withValue(k1, "c1k1")
            check(c1, "c1", "c1k1", "", "")
            XCTAssertEqual(c1.description, "context.Background.WithValue(GoSemanticsTests.Key1, c1k1)")
            let c2 = c1.withValue(k2, "c2k2")
            check(c2, "c2", "c1k1", "c2k2", "")
            XCTAssertEqual(c2.description, "context.Background.WithValue(GoSemanticsTests.Key1, c1k1).WithValue(GoSemanticsTests.Key2(1), c2k2)")
            let c3 = c2.withValue(k3, "c3k3")
            check(c3, "c2", "c1k1", "c2k2", "c3k3")
            let c4 = c3.withValue(k1, String?.none)
            check(c4, "c4", "", "c2k2", "c3k3")
            XCTAssertEqual(c4.description, "context.Background.WithValue(GoSemanticsTests.Key1, c1k1).WithValue(GoSemanticsTests.Key2(1), c2k2).WithValue(GoSemanticsTests.Key2(3), c3k3).WithValue(GoSemanticsTests.Key1, <nil>)")
            let o2 = Context.background.withValue(k1, "c1k1").withValue(k2, "o2k2")
            check(o2, "o2", "c1k1", "o2k2", "")
            let o4 = c4.withValue(k3, String?.none)
            check(o4, "o4", "", "c2k2", "")
        }
    }

    func testSimultaneousCancels() throws {
        try goTest {
            let (root, cancel) = Context.background.withCancel()
            var m: [(Context, CancelFunction)] = [(root, cancel)]
            var q = [root]
            while !q.isEmpty && m.count < 100 {
                let parent = q.removeFirst()
                for _ in 0..<4 {
                    let (ctx, cancel) = parent.withCancel()
                    m.append((ctx, cancel))
                    q.append(ctx)
                }
            }
            let wg = WaitGroup()
            wg.add(m.count)
            for (_, cancel) in m {
                go {
                    cancel()
                    wg.done()
                }
            }
            let stuck = Channel<Void>()
            let timer = GoTimer.afterFunc(self.quiescent) { stuck.close() }
            defer { timer.stop() }
            for (ctx, _) in m {
                var timedOut = false
                select {
                    Receive(ctx.done) { _ in }
                    Receive(stuck) { _ in timedOut = true }
                }
                if timedOut { return XCTFail("timed out waiting for <-ctx.Done(); stacks:\n\(Go.stack(all: true))") }
            }
            let done = Channel<Void>()
            go {
                wg.wait()
                done.close()
            }
            select {
                Receive(done) { _ in }
                Receive(stuck) { _ in XCTFail("timed out waiting for cancel functions; stacks:\n\(Go.stack(all: true))") }
            }
        }
    }

    func testInterlockedCancels() throws {
        try goTest {
            let (parent, cancelParent) = Context.background.withCancel()
            let (child, cancelChild) = parent.withCancel()
            go {
                _ = parent.done?.receive()
                cancelChild()
            }
            cancelParent()
            let timer = GoTimer(after: self.quiescent)
            defer { timer.stop() }
            select {
                Receive(child.done) { _ in }
                Receive(timer.channel) { _ in XCTFail("timed out waiting for child.Done(); stacks:\n\(Go.stack(all: true))") }
            }
        }
    }

    func testLayersCancel() throws { try goTest { self.layers(testTimeout: false) } }
    func testLayersTimeout() throws { try goTest { self.layers(testTimeout: true) } }

    private func layers(testTimeout: Bool) {
        final class Value: Hashable, Sendable {
            static func == (a: Value, b: Value) -> Bool { a === b }
            func hash(into h: inout Hasher) { h.combine(ObjectIdentifier(self)) }
        }
        let minLayers = 30
        var vals: [Value] = []
        var cancels: [CancelFunction] = []
        var numTimers = 0
        var ctx = Context.background
        var i = 0
        while i < minLayers || numTimers == 0 || cancels.isEmpty || vals.isEmpty {
            switch Int.random(in: 0..<3) {
            case 0:
                let v = Value()
                ctx = ctx.withValue(v, v)
                vals.append(v)
            case 1:
                let (c, cancel) = ctx.withCancel()
                ctx = c
                cancels.append(cancel)
            default:
                let (c, cancel) = ctx.withTimeout(testTimeout ? shortDuration : veryLongDuration)
                ctx = c
                cancels.append(cancel)
                numTimers += 1
            }
            i += 1
        }
        func checkValues(_ when: String) {
            for key in vals where (ctx.value(forKey: key) as? Value) !== key {
                XCTFail("\(when): ctx.Value(key) is not the key")
            }
        }
        if !testTimeout && isDone(ctx) { XCTFail("ctx should not be canceled yet") }
        XCTAssert(ctx.description.hasPrefix("context.Background."), ctx.description)
        checkValues("before cancel")
        if testTimeout {
            let timer = GoTimer(after: quiescent)
            defer { timer.stop() }
            select {
                Receive(ctx.done) { _ in }
                Receive(timer.channel) { _ in XCTFail("ctx should have timed out after \(self.quiescent)") }
            }
            checkValues("after timeout")
        } else {
            cancels.randomElement()!()
            if !isDone(ctx) { XCTFail("ctx should be canceled") }
            checkValues("after cancel")
        }
    }

    func testWithCancelCanceledParent() throws {
        try goTest {
            let (parent, pcancel) = Context.background.withCancelCause()
            let cause = TestFailure("Because!")
            pcancel(cause)
            let (c, _) = parent.withCancel()
            if !self.isDone(c) { XCTFail("child not done immediately upon construction") }
            if c.err != .canceled { XCTFail("child not canceled; got = \(String(describing: c.err))") }
            if (c.cause as? TestFailure)?.description != "Because!" { XCTFail("child has wrong cause; got = \(String(describing: c.cause))") }
        }
    }

    func testWithCancelSimultaneouslyCanceledParent() throws {
        try goTest {
            for _ in 0..<100 {
                let (parent, pcancel) = Context.background.withCancelCause()
                let cause = TestFailure("Because!")
                go { pcancel(cause) }
                let (c, _) = parent.withCancel()
                _ = c.done?.receive()
                if c.err != .canceled { XCTFail("child not canceled; got = \(String(describing: c.err))") }
                if (c.cause as? TestFailure)?.description != "Because!" { XCTFail("child has wrong cause; got = \(String(describing: c.cause))") }
            }
        }
    }

    func testCause() throws {
        try goTest {
            let forever = Duration.seconds(1_000_000)
            let parentCause = TestFailure("parentCause"), childCause = TestFailure("childCause")
            let tooSlow = TestFailure("tooSlow"), finishedEarly = TestFailure("finishedEarly")
            let canceled = ContextError.canceled, deadlineExceeded = ContextError.deadlineExceeded
            let cases: [(String, () -> Context, ContextError?, (any Error)?)] = [
                ("Background", { .background }, nil, nil),
                ("TODO", { .todo }, nil, nil),
                ("WithCancel", {
                    let (ctx, cancel) = Context.background.withCancel()
                    cancel()
                    return ctx
                }, canceled, canceled),
                ("WithCancelCause", {
                    let (ctx, cancel) = Context.background.withCancelCause()
                    cancel(parentCause)
                    return ctx
                }, canceled, parentCause),
                ("WithCancelCause nil", {
                    let (ctx, cancel) = Context.background.withCancelCause()
                    cancel(nil)
                    return ctx
                }, canceled, canceled),
                ("WithCancelCause: parent cause before child", {
                    let (parent, cancelParent) = Context.background.withCancelCause()
                    let (ctx, cancelChild) = parent.withCancelCause()
                    cancelParent(parentCause)
                    cancelChild(childCause)
                    return ctx
                }, canceled, parentCause),
                ("WithCancelCause: parent cause after child", {
                    let (parent, cancelParent) = Context.background.withCancelCause()
                    let (ctx, cancelChild) = parent.withCancelCause()
                    cancelChild(childCause)
                    cancelParent(parentCause)
                    return ctx
                }, canceled, childCause),
                ("WithCancelCause: parent cause before nil", {
                    let (parent, cancelParent) = Context.background.withCancelCause()
                    let (ctx, cancelChild) = parent.withCancel()
                    cancelParent(parentCause)
                    cancelChild()
                    return ctx
                }, canceled, parentCause),
                ("WithCancelCause: parent cause after nil", {
                    let (parent, cancelParent) = Context.background.withCancelCause()
                    let (ctx, cancelChild) = parent.withCancel()
                    cancelChild()
                    cancelParent(parentCause)
                    return ctx
                }, canceled, canceled),
                ("WithCancelCause: child cause after nil", {
                    let (parent, cancelParent) = Context.background.withCancel()
                    let (ctx, cancelChild) = parent.withCancelCause()
                    cancelParent()
                    cancelChild(childCause)
                    return ctx
                }, canceled, canceled),
                ("WithCancelCause: child cause before nil", {
                    let (parent, cancelParent) = Context.background.withCancel()
                    let (ctx, cancelChild) = parent.withCancelCause()
                    cancelChild(childCause)
                    cancelParent()
                    return ctx
                }, canceled, childCause),
                ("WithTimeout", {
                    let (ctx, cancel) = Context.background.withTimeout(.zero)
                    cancel()
                    return ctx
                }, deadlineExceeded, deadlineExceeded),
                ("WithTimeout canceled", {
                    let (ctx, cancel) = Context.background.withTimeout(forever)
                    cancel()
                    return ctx
                }, canceled, canceled),
                ("WithTimeoutCause", {
                    let (ctx, cancel) = Context.background.withTimeoutCause(.zero, cause: tooSlow)
                    cancel()
                    return ctx
                }, deadlineExceeded, tooSlow),
                ("WithTimeoutCause canceled", {
                    let (ctx, cancel) = Context.background.withTimeoutCause(forever, cause: tooSlow)
                    cancel()
                    return ctx
                }, canceled, canceled),
                ("WithTimeoutCause stacked", {
                    let (parent, cancel) = Context.background.withCancelCause()
                    let (ctx, _) = parent.withTimeoutCause(.zero, cause: tooSlow)
                    cancel(finishedEarly)
                    return ctx
                }, deadlineExceeded, tooSlow),
                ("WithTimeoutCause stacked canceled", {
                    let (parent, cancel) = Context.background.withCancelCause()
                    let (ctx, _) = parent.withTimeoutCause(forever, cause: tooSlow)
                    cancel(finishedEarly)
                    return ctx
                }, canceled, finishedEarly),
                ("WithoutCancel", { Context.background.withoutCancel() }, nil, nil),
                ("WithoutCancel canceled", {
                    let (ctx, cancel) = Context.background.withCancelCause()
                    let without = ctx.withoutCancel()
                    cancel(finishedEarly)
                    return without
                }, nil, nil),
                ("WithoutCancel timeout", {
                    let (ctx, cancel) = Context.background.withTimeoutCause(.zero, cause: tooSlow)
                    let without = ctx.withoutCancel()
                    cancel()
                    return without
                }, nil, nil),
            ]
            for (name, makeContext, err, cause) in cases {
                let ctx = makeContext()
                if ctx.err != err { XCTFail("\(name): ctx.Err() = \(String(describing: ctx.err)) want \(String(describing: err))") }
                if !sameError(ctx.cause, cause) { XCTFail("\(name): Cause(ctx) = \(String(describing: ctx.cause)) want \(String(describing: cause))") }
            }
        }
    }

    func testCauseRace() throws {
        try goTest {
            let cause = TestFailure("TestCauseRace")
            let (ctx, cancel) = Context.background.withCancelCause()
            go { cancel(cause) }
            while true {
                if let err = ctx.cause {
                    if !sameError(err, cause) { XCTFail("Cause returned \(err), want \(cause)") }
                    break
                }
                Go.yield()
            }
        }
    }

    func testWithoutCancel() throws {
        try goTest {
            let (key, value) = ("key", "value")
            let ctx = Context.background.withValue(key, value).withoutCancel()
            if let d = ctx.deadline { XCTFail("ctx.Deadline() = \(d) want none") }
            if ctx.done != nil { XCTFail("ctx.Done() want nil") }
            if let e = ctx.err { XCTFail("ctx.Err() = \(e) want nil") }
            if ctx.value(forKey: key) as? String != value { XCTFail("ctx.Value(\(key)) want \(value)") }
        }
    }

    func testAfterFuncCalledAfterCancel() throws {
        try goTest {
            let (ctx, cancel) = Context.background.withCancel()
            let donec = Channel<Void>()
            let stop = ctx.afterFunc { donec.close() }
            var failure: String?
            select {
                Receive(donec) { _ in failure = "AfterFunc called before context is done" }
                Receive(Go.after(self.shortDuration)) { _ in }
            }
            if let failure { return XCTFail(failure) }
            cancel()
            select {
                Receive(donec) { _ in }
                Receive(Go.after(self.veryLongDuration)) { _ in failure = "AfterFunc not called after context is canceled" }
            }
            if let failure { return XCTFail(failure) }
            if stop() { XCTFail("stop() = true, want false") }
        }
    }

    func testAfterFuncCalledAfterTimeout() throws {
        try goTest {
            let (ctx, cancel) = Context.background.withTimeout(self.shortDuration)
            defer { cancel() }
            let donec = Channel<Void>()
            _ = ctx.afterFunc { donec.close() }
            select {
                Receive(donec) { _ in }
                Receive(Go.after(self.veryLongDuration)) { _ in XCTFail("AfterFunc not called after context is canceled") }
            }
        }
    }

    func testAfterFuncCalledImmediately() throws {
        try goTest {
            let (ctx, cancel) = Context.background.withCancel()
            cancel()
            let donec = Channel<Void>()
            _ = ctx.afterFunc { donec.close() }
            select {
                Receive(donec) { _ in }
                Receive(Go.after(self.veryLongDuration)) { _ in XCTFail("AfterFunc not called for already-canceled context") }
            }
        }
    }

    func testAfterFuncNotCalledAfterStop() throws {
        try goTest {
            let (ctx, cancel) = Context.background.withCancel()
            let donec = Channel<Void>()
            let stop = ctx.afterFunc { donec.close() }
            if !stop() { return XCTFail("stop() = false, want true") }
            cancel()
            var failure: String?
            select {
                Receive(donec) { _ in failure = "AfterFunc called for already-canceled context" }
                Receive(Go.after(self.shortDuration)) { _ in }
            }
            if let failure { return XCTFail(failure) }
            if stop() { XCTFail("stop() = true, want false") }
        }
    }

    func testAfterFuncCalledAsynchronously() throws {
        try goTest {
            let (ctx, cancel) = Context.background.withCancel()
            let donec = Channel<Void>()
            let stop = ctx.afterFunc { donec.send(()) }
            defer { _ = stop() }
            cancel()
            select {
                Receive(donec) { _ in }
                Receive(Go.after(self.veryLongDuration)) { _ in XCTFail("AfterFunc not called after context is canceled") }
            }
        }
    }

    func testContextErrDoneRace() throws {
        try goTest {
            for _ in 0..<10 {
                let (ctx, cancel) = Context.background.withCancel()
                let donec = ctx.done
                go { cancel() }
                // Go yields here on wasm, which cannot preempt the spinning goroutine; so must this
                // port on one P until preemption lands (issue 14).
                while ctx.err == nil { if Go.maxProcs == 1 { Go.yield() } }
                var closed = false
                select {
                    Receive(donec) { _ in closed = true }
                    Default {}
                }
                if !closed { return XCTFail("ctx.Err is non-nil, but ctx.Done is not closed") }
            }
        }
    }
}

struct Key1: Hashable, Sendable { let v: Int }

struct Key2: Hashable, Sendable, CustomStringConvertible {
    let v: Int
    /// Go's key2.String: `%T(%d)`.
    var description: String { String(reflecting: Key2.self) + "(\(v))" }
}

/// A key of either type, so one loop can look up k1, k2 and k3.
private struct AnyHashableKey {
    let lookup: (Context) -> (any Sendable)?
    init<K: Hashable & Sendable>(_ key: K) { lookup = { $0.value(forKey: key) } }
    func lookup(in c: Context) -> (any Sendable)? { lookup(c) }
}

/// Go compares errors with ==: the same value here (ContextError cases, or the same TestFailure).
private func sameError(_ a: (any Error)?, _ b: (any Error)?) -> Bool {
    switch (a, b) {
    case (nil, nil): return true
    case (let a as ContextError, let b as ContextError): return a == b
    case (let a as TestFailure, let b as TestFailure): return a.description == b.description
    default: return false
    }
}
