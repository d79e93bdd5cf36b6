import CSampling
import CStackSwitch
import Symbolication
#if canImport(Glibc)
import Glibc
#endif

// Go-format fatal output: `panic: …`, `fatal error: …`, the goroutine tracebacks after them, exit status 2.
// Written straight to fd 2 (unbuffered, like Go's runtime print), after flushing stdout.

func writeStderr(_ text: String) {
    var text = text
    text.withUTF8 { buf in
        var offset = 0
        while offset < buf.count {
            let n = write(2, buf.baseAddress! + offset, buf.count - offset)
            if n <= 0 { break }
            offset += n
        }
    }
}

/// Only one fatal report prints; a second thread failing meanwhile waits to be killed by the exit.
func beginDying() {
    if !Scheduler.shared.panicking.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged {
        while true { pause() }
    }
    fflush(nil)
}

/// Exit status 2, as Go; with GOTRACEBACK=crash, SIGABRT instead (a core dump, Go's "crash").
func die() -> Never {
    fflush(nil)
    if Scheduler.shared.configuration.tracebackCrash {
        signal(SIGABRT, SIG_DFL)
        abort()
    }
    _exit(2)
}

/// `fatal error: <message>` plus the running goroutine's traceback, exit 2 (Go's runtime.throw).
func fatalRuntimeError(_ message: String) -> Never {
    beginDying()
    var out = "fatal error: \(message)\n"
    if Scheduler.shared.configuration.schedtraceMillis > 0 || Scheduler.shared.configuration.scheddetail {
        out += SchedTrace.line(detailed: true)
    }
    if M.current?.curG != nil {
        out += "\n" + GoroutineTraceback.render(currentGoroutineOnly())
    }
    writeStderr(out)
    die()
}

/// Go's deadlock report: every goroutine's traceback after the message.
func fatalDeadlock(message: String, withGoroutines: Bool) -> Never {
    beginDying()
    var out = "fatal error: \(message)\n"
    if Scheduler.shared.configuration.schedtraceMillis > 0 || Scheduler.shared.configuration.scheddetail {
        out += SchedTrace.line(detailed: true)
    }
    if withGoroutines {
        let snapshots = RuntimeSnapshot.goroutines().filter { $0.status == .waiting }
        out += "\n" + GoroutineTraceback.render(snapshots)
    }
    writeStderr(out)
    die()
}

/// The deadlock report of a process that stays up (`DeadlockBehavior`): printed once; dumps and the debug
/// server's index say `deadlocked` from now on.
func reportDeadlockAndKeepRunning(message: String) {
    guard DeadlockState.reported.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
    fflush(nil)
    var out = "fatal error: \(message)\n"
    if Scheduler.shared.configuration.schedtraceMillis > 0 || Scheduler.shared.configuration.scheddetail {
        out += SchedTrace.line(detailed: true)
    }
    let snapshots = RuntimeSnapshot.goroutines().filter { $0.status == .waiting }
    out += "\n" + GoroutineTraceback.render(snapshots)
    out += "\nruntime: the process keeps running for inspection (a debug server is serving, or GOROUTINES_ON_DEADLOCK=serve)\n"
    writeStderr(out)
}

/// An uncaught error or `Go.panic`: `panic: <message>`, the panicking goroutine (all of them with
/// GOTRACEBACK=all), exit 2.
@inline(never)
func goroutinePanic(_ message: String) -> Never {
    beginDying()
    var out = "panic: \(message)\n"
    let level = Scheduler.shared.configuration.traceback
    if level != .none {
        var goroutines = RuntimeSnapshot.goroutines()
        if level == .single { goroutines = goroutines.filter(\.isCurrent) }
        out += "\n" + GoroutineTraceback.render(goroutines)
    }
    writeStderr(out)
    die()
}

/// An error thrown out of a goroutine's body: `panic: <error>` with the goroutine's stack as it was at the
/// `throw` (recorded by the `_swift_willThrow` hook), so the first frame is the line that threw; the
/// other goroutines with GOTRACEBACK=all; exit 2. The stack is the last throw recorded on this thread: a
/// goroutine that parked between the throw and the end of its body (a blocking `defer`) may show the
/// stack where it resumed instead.
@inline(never)
func uncaughtErrorPanic(_ error: any Error) -> Never {
    var throwStack = [UInt](repeating: 0, count: 64)
    let n = throwStack.withUnsafeMutableBufferPointer { gr_last_throw_stack($0.baseAddress!, 64) }
    throwStack.removeLast(64 - n)
    guard n > 0, let g = M.current?.curG else { goroutinePanic("\(error)") }
    // The first recorded frames are our hook and the runtime's swift_willThrow: start at the thrower.
    let frames = Symbolizer.shared.frames(at: throwStack.map { $0 > 0 ? $0 - 1 : 0 })
    let hook = frames.lastIndex { f in f.contains { $0.function.contains("swift_willThrow") } }
    let firstUser = min(hook.map { $0 + 1 } ?? 0, max(n - 1, 0))
    beginDying()
    var out = "panic: \(error)\n"
    let level = Scheduler.shared.configuration.traceback
    if level != .none {
        let me = GoroutineSnapshot(
            id: g.id, status: .running, waitReason: .zero, waitDuration: .zero, stack: Array(throwStack[firstUser...]),
            creatorPC: g.creatorPC, parentID: g.parentID, labels: g.labels?.labels ?? [],
            lockedToThread: g.lockedM != nil, isCurrent: true)
        out += "\n" + GoroutineTraceback.block(me)
        if level == .all {
            let others = RuntimeSnapshot.goroutines(withStacks: true).filter { !$0.isCurrent && $0.id != g.id }
            if !others.isEmpty { out += "\n" + GoroutineTraceback.render(others) }
        }
    }
    writeStderr(out)
    die()
}

private func currentGoroutineOnly() -> [GoroutineSnapshot] {
    RuntimeSnapshot.goroutines(withStacks: true).filter(\.isCurrent)
}

// MARK: stack overflow

func installStackOverflowHandler() {
    gr_install_overflow_handler(reportStackOverflow)
    installTrapHandlers()
}

/// Runs on the alternate signal stack of the thread whose goroutine hit its guard page.
private let reportStackOverflow: @convention(c) (UInt, UInt, UInt, UInt) -> Void = { fault, rip, rbp, rsp in
    guard let m = M.current, let g = m.curG else { return }
    beginDying()
    var out = "runtime: goroutine stack exceeds \(g.stack.size)-byte limit\n"
    out += "runtime: sp=0x\(String(rsp, radix: 16)) stack=[0x\(String(g.stack.low, radix: 16)), 0x\(String(g.stack.high, radix: 16))]\n"
    out += "fatal error: stack overflow\n\n"
    var frames = [UInt](repeating: 0, count: 1 << 16)
    frames[0] = rip + 1  // the faulting PC itself, as a "return address" for symbolization
    let n = frames.withUnsafeMutableBufferPointer {
        gr_walk_frame_pointers(rbp, g.stack.low, g.stack.high, $0.baseAddress! + 1, (1 << 16) - 1)
    }
    let snapshot = GoroutineSnapshot(
        id: g.id, status: .running, waitReason: .zero, waitDuration: .zero, stack: Array(frames.prefix(n + 1)),
        creatorPC: g.creatorPC, parentID: g.parentID, labels: g.labels?.labels ?? [],
        lockedToThread: g.lockedM != nil, isCurrent: true)
    out += GoroutineTraceback.block(snapshot)
    writeStderr(out)
    die()
}

/// Unguarded stacks (no MADV_GUARD and mprotect budget spent) are checked by canary at each switch.
func reportStackOverflowAfterTheFact(_ g: G) -> Never {
    fatalRuntimeError("stack overflow in goroutine \(g.id) (detected after the fact: its \(g.stack.size)-byte stack has no guard page)")
}
