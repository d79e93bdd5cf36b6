/// The `GODEBUG=schedtrace`/`scheddetail` formatter, for the debug server's `/debug/schedtrace` stream:
/// the same lines sysmon prints to stderr, with the same time origin. When stderr tracing is off, the
/// origin is the runtime's start, as in Go (`SCHED 3600000ms` an hour in), not the first request.
package enum SchedTraceFormatter {
    package static func line(detailed: Bool) -> String {
        if SchedTrace.firstTrace == 0 { SchedTrace.firstTrace = Scheduler.shared.startTime }
        return SchedTrace.line(detailed: detailed)
    }
}
