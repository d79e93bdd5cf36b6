/// The `GODEBUG=schedtrace`/`scheddetail` formatter, for the debug server's `/debug/schedtrace` stream:
/// the same lines sysmon prints to stderr, with the same time origin.
package enum SchedTraceFormatter {
    package static func line(detailed: Bool) -> String { SchedTrace.line(detailed: detailed) }
}
