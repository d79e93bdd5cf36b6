import CStackSwitch
#if canImport(Glibc)
import Glibc
#endif

@inline(__always) func gr_nanotimeSwift() -> Int64 { gr_nanotime() }

/// The system monitor thread, as Go's: takes Ps away from goroutines stuck in blocking calls and from
/// goroutines that run 10 ms without yielding, wakes an M when a timer is overdue and nobody is looking,
/// keeps the coarse clock, and prints schedtrace lines.
/// It polls every 20 µs while things happen and backs off to 10 ms when idle.
enum Sysmon {
    static let retakeAfterNanos: Int64 = 20_000

    static func start() {
        _ = Scheduler.shared.registerSystemM()
        ThreadStarter.start(name: "sysmon") { run() }
    }

    private static func run() -> Never {
        let sched = Scheduler.shared
        let traceEvery = Int64(sched.configuration.schedtraceMillis) * 1_000_000
        let detailed = sched.configuration.scheddetail
        var lastTrace: Int64 = 0
        var delayMicros: UInt32 = 20
        var quietRounds = 0
        while true {
            let now = gr_nanotime()
            sched.coarseNow.store(now, ordering: .relaxed)
            if traceEvery > 0 && (lastTrace == 0 || now - lastTrace >= traceEvery) {
                lastTrace = now
                writeStderr(SchedTrace.line(detailed: detailed, now: now))
            }
            // A P still in a blocking call keeps sysmon polling fast until it is retaken.
            var acted = sched.retakeBlockedPs(now: now, after: retakeAfterNanos) > 0 || sched.anyPInBlockingCall
            // A goroutine that ran 10 ms without yielding loses its P (it keeps its thread).
            if sched.displaceHogs(now: now) { acted = true }
            if sched.sysmonPollNetwork(now: now) { acted = true }
            if sched.earliestTimer() < now - 1_000_000 && sched.npidle.load(ordering: .relaxed) > 0 {
                sched.wakep()
                acted = true
            }
            quietRounds = acted ? 0 : quietRounds + 1
            if quietRounds == 0 { delayMicros = 20 } else if quietRounds > 50 { delayMicros = min(delayMicros * 2, 10_000) }
            usleep(delayMicros)
        }
    }
}
