import CStackSwitch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Starts a goroutine running `body`. Callable from goroutines and from any other thread (the runtime
/// starts itself on first use). An error thrown out of `body` is a panic: Go's `panic: …` report and
/// exit status 2.
@inline(never)
public func go(_ body: @escaping @Sendable () throws -> Void) {
    _ = Scheduler.shared.spawn(body, creatorPC: gr_caller_return_address())
}

/// The runtime's controls, named after Go's where Go users will look for them.
public enum Go {
    /// Runs `body` as the main goroutine (goroutine 1) with this thread as the first M, and ends the process
    /// when it returns, as Go's `main` does (other goroutines do not keep the process alive). With the
    /// runtime owning the process, "all goroutines are asleep" is detected and reported as in Go.
    public static func main(_ body: @escaping @Sendable () throws -> Void) -> Never {
        let sched = Scheduler.shared
        sched.ownsProcess.store(true, ordering: .relaxed)
        sched.ensureStarted(adoptingMainThread: true)
        guard let m = sched.mainThreadM else {
            fatalRuntimeError("Go.main must be called before any goroutine is started, from the main thread")
        }
        m.creationStack = captureCallerStack()
        let g = sched.spawn(body, creatorPC: 0)
        MainGoroutine.id.store(g.id, ordering: .relaxed)
        sched.schedulerLoop(m)
    }

    /// Runs `body` as a goroutine and blocks the calling thread (not a goroutine) until it finishes, for
    /// programs that keep their own main thread. Called from a goroutine it simply runs `body`.
    public static func runBlocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) throws -> T {
        if M.current?.curG != nil { return try body() }
        let box = ResultBox<T>()
        let note = UnsafeMutablePointer<gr_note>.allocate(capacity: 1)
        note.initialize(to: gr_note())
        defer { note.deallocate() }
        let sched = Scheduler.shared
        sched.ensureStarted()
        let g = sched.getG()
        g.completion = note
        let pc = gr_caller_return_address()
        sched.externalWaiters.wrappingAdd(1, ordering: .relaxed)
        defer { sched.externalWaiters.wrappingSubtract(1, ordering: .relaxed) }
        startPrepared(g, creatorPC: pc) {
            do { box.store(.success(try body())) } catch { box.store(.failure(error)) }
        }
        _ = gr_note_sleep(note, -1)
        return try box.take().get()
    }

    private static func startPrepared(_ g: G, creatorPC: UInt, _ body: @escaping @Sendable () -> Void) {
        Scheduler.shared.launch(g, body: body, creatorPC: creatorPC)
    }

    /// Go's runtime.Gosched: lets other goroutines run; this one is queued again.
    public static func yield() { Scheduler.shared.yieldCurrent() }

    /// Pauses the current goroutine (or the calling thread, outside goroutines) for `duration`.
    public static func sleep(for duration: Duration) {
        let ns = max(0, duration.nanoseconds)
        guard let m = M.current, let g = m.curG else {
            var request = timespec(tv_sec: Int(ns / 1_000_000_000), tv_nsec: Int(ns % 1_000_000_000))
            var remaining = timespec()
            while nanosleep(&request, &remaining) == -1 && errno == EINTR { request = remaining }
            return
        }
        if ns == 0 {
            yield()
            return
        }
        let timer = g.sleepTimer ?? RuntimeTimer(action: .wake(g))
        g.sleepTimer = timer
        timer.action = .wake(g)
        timer.period = 0
        timer.when = runtimeDeadline(after: duration)
        Scheduler.shared.park(.sleep, commit: timer)
    }

    /// Go's runtime.GOMAXPROCS: the number of Ps (goroutines running at once).
    public static var maxProcs: Int {
        Scheduler.shared.ensureStarted()
        return Scheduler.shared.procs
    }

    /// Sets GOMAXPROCS (clamped to 1…1024) and returns the previous value.
    @discardableResult
    public static func setMaxProcs(_ n: Int) -> Int {
        Scheduler.shared.ensureStarted()
        return Scheduler.shared.resizeProcs(to: n)
    }

    /// Go's runtime.LockOSThread: the current goroutine runs only on this thread, and the thread runs
    /// nothing else, until `unlockOSThread`.
    public static func lockOSThread() { Scheduler.shared.lockOSThread() }
    /// Undoes `lockOSThread()`: the goroutine may run on any thread again (Go's `runtime.UnlockOSThread`).
    public static func unlockOSThread() { Scheduler.shared.unlockOSThread() }

    /// Marks `body` as a call that may block its thread (file I/O, a C library, a sleep in the kernel).
    /// If it blocks longer than ~20 µs, sysmon gives this goroutine's P to another thread so other
    /// goroutines keep running; afterwards the goroutine gets a P back (or waits for one).
    @inline(never)
    public static func blockingCall<T>(_ body: () throws -> T) rethrows -> T {
        guard let m = M.current, let g = m.curG else { return try body() }
        Scheduler.shared.enterBlockingCall(m, g, fp: gr_current_frame_address())
        defer { Scheduler.shared.exitBlockingCall(g) }
        return try body()
    }

    /// The current goroutine's id, nil on a thread that is not running a goroutine.
    public static var goroutineID: Int64? { M.current?.curG?.id }

    /// Go's runtime.NumGoroutine: goroutines that exist now (running, runnable or waiting).
    public static var numGoroutine: Int { RuntimeSnapshot.goroutineCount }

    @available(*, deprecated, renamed: "numGoroutine")
    public static var goroutineCount: Int { numGoroutine }

    /// Go's runtime.Stack: the calling goroutine's traceback in the `goroutine?debug=2` format, and with
    /// `all`, every other goroutine's after it (a blank line between blocks). Called outside a goroutine,
    /// `all: false` gives "" and `all: true` the goroutines alone.
    @inline(never)
    public static func stack(all: Bool = false) -> String {
        // Start at the caller, as Go's runtime.Stack does: this function's own frame is not shown.
        let callerStack = Array(captureCallerStack(maxDepth: 1024).dropFirst())
        var goroutines: [GoroutineSnapshot]
        if all {
            goroutines = RuntimeSnapshot.goroutines()
        } else if let g = M.current?.curG {
            goroutines = [RuntimeSnapshot.describe(g, status: .running, isCurrent: true)]
        } else {
            return ""
        }
        if let me = goroutines.firstIndex(where: \.isCurrent) { goroutines[me].stack = callerStack }
        return GoroutineTraceback.render(goroutines)
    }

    /// Go's panic: prints `panic: <message>` and the goroutine traceback, exits with status 2.
    public static func panic(_ message: String) -> Never { goroutinePanic(message) }
}

/// The main goroutine of `Go.main`: when it returns, the process exits with status 0.
enum MainGoroutine {
    static let id = Atomic<Int64>(-1)

    static func finished() -> Never {
        fflush(nil)
        exit(0)
    }
}

private final class ResultBox<T>: @unchecked Sendable {
    private var result: Result<T, any Error>?
    func store(_ r: Result<T, any Error>) { result = r }
    /// Empty when the goroutine called `Go.goexit`.
    func take() -> Result<T, any Error> { result ?? .failure(GoroutineExitError()) }
}

extension Duration {
    /// Saturating at Int64's range: a user's `.seconds(Int64.max)` means "never", not a trap.
    var nanoseconds: Int64 {
        let c = components
        let (whole, overflow) = c.seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return c.seconds < 0 ? Int64.min : Int64.max }
        let (sum, overflowSum) = whole.addingReportingOverflow(c.attoseconds / 1_000_000_000)
        return overflowSum ? (whole < 0 ? Int64.min : Int64.max) : sum
    }
}
