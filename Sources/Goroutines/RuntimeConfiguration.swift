import CStackSwitch
#if canImport(Glibc)
import Glibc
#endif

/// Settings read once at start-up from the environment, with Go's names where Go has them.
struct RuntimeConfiguration: Sendable {
    static let defaultStackSize = 256 * 1024

    /// GOMAXPROCS, or the usable CPUs (affinity, cgroup quota rounded up) as Go 1.25+ computes it.
    var gomaxprocs: Int
    /// GOROUTINES_STACK_SIZE (bytes, K/M suffixes accepted).
    var stackSize: Int
    /// GODEBUG=schedtrace=N (ms), 0 = off.
    var schedtraceMillis: Int
    /// GODEBUG=scheddetail=1.
    var scheddetail: Bool
    /// GOTRACEBACK: none, single (default), all, system, crash.
    var traceback: TracebackLevel
    /// GOTRACEBACK=crash: after the report, abort (SIGABRT, a core dump) instead of exiting with status 2.
    var tracebackCrash = false
    /// GOTRACEBACK=system or crash: Go then also prints its runtime's frames; a trap report keeps the
    /// standard library's failure path above the user's frame.
    var tracebackSystem = false

    enum TracebackLevel: Sendable { case none, single, all }

    static func fromEnvironment() -> RuntimeConfiguration {
        let env = { (name: String) -> String? in getenv(name).map { String(cString: $0) } }
        var procs = Int(gr_usable_cpus())
        if let value = env("GOMAXPROCS"), let n = Int(value), n > 0 { procs = n }
        var stack = defaultStackSize
        if let value = env("GOROUTINES_STACK_SIZE"), let n = parseSize(value), n >= 16 * 1024 { stack = n }
        var schedtrace = 0, detail = false
        for item in (env("GODEBUG") ?? "").split(separator: ",") {
            let kv = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { continue }
            switch kv[0] {
            case "schedtrace": schedtrace = max(0, Int(kv[1]) ?? 0)
            case "scheddetail": detail = (Int(kv[1]) ?? 0) > 0
            default: break
            }
        }
        var level = TracebackLevel.single
        switch env("GOTRACEBACK") ?? "" {
        case "none", "0": level = .none
        case "all", "1", "system", "2", "crash": level = .all
        default: level = .single
        }
        return RuntimeConfiguration(gomaxprocs: procs, stackSize: stack, schedtraceMillis: schedtrace,
                                    scheddetail: detail, traceback: level, tracebackCrash: env("GOTRACEBACK") == "crash",
                                    tracebackSystem: ["system", "2", "crash"].contains(env("GOTRACEBACK") ?? ""))
    }

    /// "262144", "256K", "256KiB", "1M": bytes.
    static func parseSize(_ text: String) -> Int? {
        let t = text.filter { $0 != " " && $0 != "\t" }.uppercased()
        let digits = t.prefix { $0.isNumber }
        guard let n = Int(digits) else { return nil }
        switch t.dropFirst(digits.count) {
        case "", "B": return n
        case "K", "KB", "KIB": return n * 1024
        case "M", "MB", "MIB": return n * 1024 * 1024
        default: return nil
        }
    }
}
