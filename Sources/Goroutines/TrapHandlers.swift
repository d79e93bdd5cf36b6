import CSampling
import CStackSwitch
import Symbolication
#if canImport(Glibc)
import Glibc
#endif

// Swift traps and bad memory accesses as Go-style panics.
//
// A Swift runtime check that fails (index out of range, force-unwrapping nil, arithmetic overflow,
// `fatalError`) executes `ud2` (SIGILL) or `brk`/`int3` (SIGTRAP); a bad pointer raises SIGSEGV or SIGBUS.
// Without us, Swift's crash handler (or the kernel) ends the process with its own backtrace and status
// 132/139. With the runtime installed, a fault on one of its threads (or anywhere, when `Go.main` owns
// the process) prints what Go prints for a panic, then exits with status 2:
//
//     panic: Index out of range
//     [signal SIGILL: illegal instruction code=0x2 addr=0x5581c1a2f3c1 pc=0x5581c1a2f3c1]
//
//     goroutine 7 [running]:
//     MyApp.handle(request:)()
//     	/src/MyApp/Handler.swift:42 +0x91
//     created by MyApp.serve() in goroutine 1
//     	/src/MyApp/Server.swift:17 +0x5d
//
// The reason is the name of the inline frame the compiler puts at every trap it emits in optimized code,
// `Swift runtime failure: <reason>`; a trap inside the standard library's `_assertionFailure` (debug
// builds, `fatalError`, `precondition`) has no such frame: Swift has printed its `Fatal error: <message>`
// line just before and keeps it for crash reporters, so the reason is that message. SIGSEGV below 0x1000 reads as Go's
// `runtime error: invalid memory address or nil pointer dereference`; other SIGSEGV/SIGBUS as Go's
// `unexpected fault address 0x…` / `fatal error: fault`. GOTRACEBACK as in Go: `none` (message only),
// `single` (default: the trapping goroutine), `all` (every goroutine), `system` (every goroutine, and
// the standard library's failure path above the user's frame), `crash` (as `system`, then SIGABRT for a
// core dump). The trapping stack starts at the user's faulting frame, as Go hides `runtime.panicIndex`
// and company: leading frames in libswiftCore (`_assertionFailure`, the accessor that trapped) are left
// out (`TrapFailurePath`). A fault on a thread that runs no goroutine prints `thread <tid> [running]:`
// with that thread's frames instead of a goroutine.
//
// Not ours: a fault on a thread the runtime did not create while the process is not owned by `Go.main`
// goes to the handler installed before ours (Swift's backtracer, a sanitizer, the default action).
//
// Signal safety, the trade-off: the process is dying, so after capturing the faulting stack with the
// signal-safe frame-pointer walker (from the signal's saved registers, on the alternate signal stack)
// the report is written with the ordinary symbolizer, which allocates and takes locks. A fault inside
// malloc or the symbolizer could therefore hang the report: a 10-second watchdog then prints the signal
// line without allocating and exits with status 2 (TrapWatchdog.c). Other threads keep running while the report prints,
// exactly as Go's other Ms do until `exit(2)`.

func installTrapHandlers() {
    gr_install_trap_handler(reportTrap)
    gr_install_throw_hook()
}

private let reportTrap: @convention(c) (Int32, Int32, UInt, UInt, UInt, UInt) -> Void = { sig, code, addr, rip, rbp, rsp in
    let m = M.current
    guard m != nil || Scheduler.shared.ownsProcess.load(ordering: .relaxed) else { return }   // not ours: chain
    gr_trap_watchdog_arm(sig, code, addr, rip)   // before anything that can block
    beginDying()
    TrapReport(sig: sig, code: code, addr: addr, rip: rip, rbp: rbp, rsp: rsp, g: m?.curG).printAndExit()
}

private struct TrapReport {
    let sig: Int32, code: Int32, addr: UInt, rip: UInt, rbp: UInt, rsp: UInt
    let g: G?

    /// Return addresses of the faulting code, leaf first; the first entry makes the faulting instruction
    /// itself symbolize (tracebacks look up `pc - 1`).
    func faultingStack() -> [UInt] {
        var lo: UInt = 0, hi: UInt = 0
        if let g {
            (lo, hi) = (g.stack.low, g.stack.high)
        } else {
            gr_thread_stack_bounds(&lo, &hi)
        }
        let first = sig == SIGTRAP ? rip : rip + 1   // SIGTRAP reports the address after int3
        var frames = [UInt](repeating: 0, count: 512)
        frames[0] = first
        let n = frames.withUnsafeMutableBufferPointer {
            lo < hi && rbp >= lo && rbp < hi ? gr_walk_frame_pointers(rbp, lo, hi, $0.baseAddress! + 1, 511) : 0
        }
        return Array(frames.prefix(n + 1))
    }

    func printAndExit() -> Never {
        let trapStack = faultingStack()
        var out = headline(stack: trapStack)
        let stack = TrapFailurePath.userStack(trapStack)
        out += "[signal \(signalName) code=0x\(String(UInt32(bitPattern: code), radix: 16)) addr=0x\(String(addr, radix: 16)) pc=0x\(String(rip, radix: 16))]\n"
        let level = Scheduler.shared.configuration.traceback
        if level != .none {
            if let g {
                let me = GoroutineSnapshot(
                    id: g.id, status: .running, waitReason: .zero, waitDuration: .zero, stack: stack,
                    creatorPC: g.creatorPC, parentID: g.parentID, labels: g.labels?.labels ?? [],
                    lockedToThread: g.lockedM != nil, isCurrent: true)
                out += "\n" + GoroutineTraceback.block(me)
            } else {
                out += "\nthread \(gr_gettid()) [running]:\n"
                GoroutineTraceback.appendFrames(stack, to: &out)
            }
            if level == .all {
                let others = RuntimeSnapshot.goroutines(withStacks: true).filter { !$0.isCurrent && $0.id != g?.id }
                if !others.isEmpty { out += "\n" + GoroutineTraceback.render(others) }
            }
        }
        writeStderr(out)
        die()
    }

    var signalName: String {
        switch sig {
        case SIGILL: "SIGILL: illegal instruction"
        case SIGTRAP: "SIGTRAP: trace/breakpoint trap"
        case SIGSEGV: "SIGSEGV: segmentation violation"
        case SIGBUS: "SIGBUS: bus error"
        case SIGFPE: "SIGFPE: floating-point exception"
        default: "signal \(sig)"
        }
    }

    /// Go's first line(s): `panic: <reason>\n`, or for a wild address `unexpected fault address …` and
    /// `fatal error: fault`.
    func headline(stack: [UInt]) -> String {
        switch sig {
        case SIGSEGV where addr < 0x1000:
            return "panic: runtime error: invalid memory address or nil pointer dereference\n"
        case SIGSEGV, SIGBUS:
            return "unexpected fault address 0x\(String(addr, radix: 16))\nfatal error: fault\n"
        case SIGFPE:
            return "panic: runtime error: integer divide by zero\n"
        default:
            return "panic: \(trapReason(stack.first.map { $0 - 1 } ?? rip))\n"
        }
    }
}

/// The message of the standard library's last `Fatal error: <message>` (it printed it just before trapping),
/// as the Swift runtime keeps it for crash reporters.
func fatalErrorMessage() -> String? {
    guard let raw = gr_swift_fatal_error_message() else { return nil }
    let text = String(cString: raw)
    let marker = "Fatal error: "
    guard let line = text.split(separator: "\n").last(where: { $0.contains(marker) }),
          let range = line.firstRange(of: marker) else { return nil }
    let message = line[range.upperBound...]
    return message.isEmpty ? nil : String(message)
}

/// The compiler's name for the check that failed at `pc` (`Index out of range`, `Unexpectedly found nil
/// while unwrapping an Optional value`, `arithmetic overflow`…), from the artificial inline frame
/// `Swift runtime failure: <reason>`; `fatal error` for the standard library's own trap after it printed
/// its message; else the trapping function.
func trapReason(_ pc: UInt) -> String {
    let frames = Symbolizer.shared.frames(at: pc)
    let marker = "Swift runtime failure: "
    for frame in frames {
        if let range = frame.function.firstRange(of: marker) {
            return String(frame.function[range.upperBound...])
        }
    }
    if frames.contains(where: { $0.function.contains("_assertionFailure") || $0.function.contains("fatalError") }) {
        return fatalErrorMessage() ?? "fatal error"
    }
    return "trap in " + (frames.first?.function ?? "?")
}
