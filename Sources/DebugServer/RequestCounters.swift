// Debug-server requests by route and status, for `goroutines_debug_server_requests_total`. The route
// label is one of the server's own paths (anything else counts as "other"), so a scanner probing random
// URLs cannot grow the series without bound.
import Synchronization

final class RequestCounters: Sendable {
    private struct Key: Hashable { var route: String; var code: Int }
    private let counts = Mutex<[Key: UInt64]>([:])

    func record(route: String, status: Int) {
        counts.withLock { $0[Key(route: route, code: status), default: 0] += 1 }
    }

    /// (route, code, count), sorted by route then code.
    func snapshot() -> [(route: String, code: Int, count: UInt64)] {
        counts.withLock { $0.map { ($0.key.route, $0.key.code, $0.value) } }
            .sorted { $0.route != $1.route ? $0.route < $1.route : $0.code < $1.code }
    }
}

/// The route label for a request path: the path itself when the server serves it, else "other".
func metricsRouteLabel(for path: String) -> String {
    if path == "/metrics" || path == "/debug/flamegraph" || path == "/debug/schedtrace" || path == "/debug/pprof/" {
        return path
    }
    if path.hasPrefix(PprofRouter.prefix) && knownPprofNames.contains(String(path.dropFirst(PprofRouter.prefix.count))) {
        return path
    }
    return "other"
}

private let knownPprofNames: Set<String> = [
    "allocs", "block", "cmdline", "goroutine", "goroutineleak", "heap", "mutex", "profile", "symbol",
    "threadcreate", "trace", "delta_heap", "delta_block", "delta_mutex",
]
