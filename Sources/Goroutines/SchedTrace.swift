/// Go 1.27's `GODEBUG=schedtrace=N[,scheddetail=1]` output, printed by sysmon to stderr.
/// Fields without meaning here (no GC) print what an idle Go runtime prints: `gcwaiting=false`,
/// `stopwait=0`, `sysmonwait=false`, `mallocing=0`, `throwing=0`, `locks=0`, `dying=0`, `needspinning=0`.
enum SchedTrace {
    /// Milliseconds since the first trace line.
    nonisolated(unsafe) static var firstTrace: Int64 = 0

    static func line(detailed: Bool, now: Int64 = gr_nanotimeSwift()) -> String {
        if firstTrace == 0 { firstTrace = now }
        let s = RuntimeSnapshot.summary()
        var out = "SCHED \((now - firstTrace) / 1_000_000)ms: gomaxprocs=\(s.gomaxprocs) idleprocs=\(s.idleProcs)"
        out += " threads=\(s.threads) spinningthreads=\(s.spinningThreads) needspinning=0"
        out += " idlethreads=\(s.idleThreads) runqueue=\(s.globalRunQueue)"
        if !detailed {
            out += " [ " + s.localRunQueues.map(String.init).joined(separator: " ") + " ]"
            out += " schedticks=[ " + s.schedticks.map(String.init).joined(separator: " ") + " ]\n"
            return out
        }
        out += " gcwaiting=false nmidlelocked=\(s.lockedIdleThreads) stopwait=0 sysmonwait=false\n"
        for p in RuntimeSnapshot.processors() {
            out += "  P\(p.id): status=\(p.status) schedtick=\(p.schedtick) syscalltick=\(p.syscalltick)"
            out += " m=\(p.threadID.map(String.init) ?? "nil") runqsize=\(p.runQueueLength)"
            out += " gfreecnt=\(p.freeGoroutines) timerslen=\(p.timers)\n"
        }
        for m in RuntimeSnapshot.threads() {
            out += "  M\(m.id): p=\(m.processorID.map(String.init) ?? "nil") curg=\(m.currentGoroutineID.map(String.init) ?? "nil")"
            out += " mallocing=0 throwing=0 preemptoff= locks=0 dying=0 spinning=\(m.spinning) blocked=\(m.blocked)"
            out += " lockedg=\(m.lockedGoroutineID.map(String.init) ?? "nil")\n"
        }
        let threads = RuntimeSnapshot.threads()
        for g in RuntimeSnapshot.goroutines(withStacks: false) {
            let reason = g.status == .waiting ? g.waitReason.description : ""
            let runningOn = threads.first { $0.currentGoroutineID == g.id }?.id
            let lockedTo = threads.first { $0.lockedGoroutineID == g.id }?.id
            out += "  G\(g.id): status=\(g.status.rawValue)(\(reason)) m=\(runningOn.map(String.init) ?? "nil")"
            out += " lockedm=\(lockedTo.map(String.init) ?? "nil")\n"
        }
        return out
    }
}
