import Goroutines
#if canImport(Glibc)
import Glibc
#endif

// Swift traps, bad memory accesses and uncaught throws as Go-style panics (issue 16). The trapping
// functions are optimized so the compiler emits its `Swift runtime failure: …` trap frames, as in a
// release build; the values come from the command line so nothing is folded away.

let trapInput = Int(getenv("TRAP_INPUT").map { String(cString: $0) } ?? "5") ?? 5

/// Not a standard type, so the array code is specialized (and its check inlined) here rather than taken
/// prespecialized from the standard library.
struct Cell { var value: Int }

@_optimize(speed) @inline(never) func trapIndexOutOfRange(_ i: Int) -> Int {
    let values = [Cell(value: 1), Cell(value: 2), Cell(value: 3)]
    return values[i].value
}

@_optimize(speed) @inline(never) func trapForceUnwrap(_ i: Int) -> Int {
    let value: Int? = i > 100 ? i : nil
    return value!
}

@_optimize(speed) @inline(never) func trapOverflow(_ i: Int) -> Int {
    Int.max - 2 + i
}

/// `fatalError` traps in the standard library (`Swift.fatalError` → `_assertionFailure`), above this frame.
@inline(never) func trapFatalError(_ i: Int) -> Int {
    if i > 0 { fatalError("bad input \(i)") }
    return i
}

@inline(never) func faultNilPointer(_ i: Int) -> Int {
    UnsafePointer<Int>(bitPattern: i + 3)!.pointee
}

@inline(never) func faultWildAddress(_ i: Int) -> Int {
    UnsafePointer<Int>(bitPattern: 0xdead_0000 + i * 8)!.pointee
}

struct ThrownFromWorker: Error, CustomStringConvertible {
    var description: String { "worker failed: disk full" }
}

@inline(never) func throwingWorker(_ i: Int) throws -> Int {
    if i > 0 { throw ThrownFromWorker() }
    return i
}

nonisolated(unsafe) var trapSink = 0

/// Runs `body` in a second goroutine (the main goroutine waits on a wait group, so GOTRACEBACK=all has
/// another goroutine to show).
func inGoroutine(_ body: @escaping @Sendable () -> Void) {
    let wg = WaitGroup()
    wg.add(1)
    go {
        body()
        wg.done()
    }
    wg.wait()
}

let trapScenarios: [String: @Sendable () throws -> Void] = [
    "trap-index": { trapSink = trapIndexOutOfRange(trapInput) },
    "trap-index-goroutine": { inGoroutine { trapSink = trapIndexOutOfRange(trapInput) } },
    "trap-unwrap-goroutine": { inGoroutine { trapSink = trapForceUnwrap(trapInput) } },
    "trap-overflow": { trapSink = trapOverflow(trapInput) },
    "trap-fatal-error-goroutine": { inGoroutine { trapSink = trapFatalError(trapInput) } },
    "trap-nil-pointer-goroutine": { inGoroutine { trapSink = faultNilPointer(trapInput) } },
    "trap-wild-address": { trapSink = faultWildAddress(trapInput) },
    "throw-goroutine": {
        let wg = WaitGroup()
        wg.add(1)
        go {
            trapSink = try throwingWorker(trapInput)
            wg.done()
        }
        wg.wait()
    },
    "throw-main": { trapSink = try throwingWorker(trapInput) },
    // The report cannot finish: another thread holds the lock of an open stream, which the dying
    // process flushes (fflush of every stream).
    "trap-report-blocked": {
        let stream = fdopen(dup(1), "w")!
        var thread = pthread_t()
        pthread_create(&thread, nil, { stream in
            flockfile(stream!.assumingMemoryBound(to: FILE.self))
            while true { sleep(60) }
        }, UnsafeMutableRawPointer(stream))
        while ftrylockfile(stream) == 0 {
            funlockfile(stream)
            usleep(1000)
        }
        trapSink = faultWildAddress(trapInput)
    },
    // A plain thread (not a goroutine) faults while Go.main owns the process.
    "trap-thread": {
        var thread = pthread_t()
        pthread_create(&thread, nil, { _ in
            trapSink = faultNilPointer(trapInput)
            return nil
        }, nil)
        Go.sleep(for: .seconds(30))
    },
]
