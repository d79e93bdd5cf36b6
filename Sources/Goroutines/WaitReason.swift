/// Why a goroutine is waiting: Go 1.27's wait-reason strings, in Go's order, so goroutine dumps,
/// scheddetail lines and profiles read exactly as a Go service's do.
public enum WaitReason: UInt8, Sendable, CaseIterable {
    case zero = 0
    case gcAssistMarking, ioWait, chanReceiveNilChan, chanSendNilChan, dumpingHeap, garbageCollection
    case garbageCollectionScan, panicWait, select, selectNoCases, gcAssistWait, gcSweepWait, gcScavengeWait
    case chanReceive, chanSend, finalizerWait, forceGCIdle, gomaxprocsUpdaterIdle, semacquire, sleep
    case syncCondWait, syncMutexLock, syncRWMutexRLock, syncRWMutexLock, syncWaitGroupWait, traceReaderBlocked
    case waitForGCCycle, gcWorkerIdle, gcWorkerActive, preempted, debugCall, gcMarkTermination
    case stoppingTheWorld, flushingProcCaches, traceGoroutineStatus, traceProcStatus, pageTraceFlush
    case coroutine, gcWeakToStrongWait, synctestRun, synctestWait, chanReceiveDurable, chanSendDurable
    case selectDurable, syncWaitGroupWaitDurable, cleanupWait

    /// The text Go prints for this reason.
    public var description: String { Self.strings[Int(rawValue)] }

    private static let strings: [String] = [
        "", "GC assist marking", "IO wait", "chan receive (nil chan)", "chan send (nil chan)", "dumping heap",
        "garbage collection", "garbage collection scan", "panicwait", "select", "select (no cases)",
        "GC assist wait", "GC sweep wait", "GC scavenge wait", "chan receive", "chan send", "finalizer wait",
        "force gc (idle)", "GOMAXPROCS updater (idle)", "semacquire", "sleep", "sync.Cond.Wait",
        "sync.Mutex.Lock", "sync.RWMutex.RLock", "sync.RWMutex.Lock", "sync.WaitGroup.Wait",
        "trace reader (blocked)", "wait for GC cycle", "GC worker (idle)", "GC worker (active)", "preempted",
        "debug call", "GC mark termination", "stopping the world", "flushing proc caches",
        "trace goroutine status", "trace proc status", "page trace flush", "coroutine", "GC weak to strong wait",
        "synctest.Run", "synctest.Wait", "chan receive (durable)", "chan send (durable)", "select (durable)",
        "sync.WaitGroup.Wait (durable)", "cleanup wait",
    ]
}

/// A goroutine's scheduling state, numbered as Go's (scheddetail prints the number).
public enum GoroutineStatus: UInt32, Sendable {
    case idle = 0, runnable = 1, running = 2, syscall = 3, waiting = 4, dead = 6

    /// The word Go prints in a traceback header for a goroutine that is not waiting.
    public var description: String {
        switch self {
        case .idle: "idle"
        case .runnable: "runnable"
        case .running: "running"
        case .syscall: "syscall"
        case .waiting: "waiting"
        case .dead: "dead"
        }
    }
}
