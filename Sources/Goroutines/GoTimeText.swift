#if canImport(Glibc)
import Glibc
#endif
import CStackSwitch

/// Go's text forms of times and durations, for descriptions that Go users compare with Go's output.
enum GoTimeText {
    /// Go's Duration.String: "0s", "750ns", "1.5µs", "20ms", "4.999999s", "1m30s", "2h0m0s".
    static func duration(nanoseconds d: Int64) -> String {
        if d == 0 { return "0s" }
        let sign = d < 0 ? "-" : ""
        let u = d.magnitude
        if u < 1_000_000_000 {
            if u < 1_000 { return sign + String(u) + "ns" }
            if u < 1_000_000 { return sign + fixedPoint(u, decimals: 3) + "µs" }
            return sign + fixedPoint(u, decimals: 6) + "ms"
        }
        let seconds = fixedPoint(u % 60_000_000_000, decimals: 9) + "s"
        let minutes = u / 60_000_000_000
        if minutes == 0 { return sign + seconds }
        if minutes < 60 { return sign + String(minutes) + "m" + seconds }
        return sign + String(minutes / 60) + "h" + String(minutes % 60) + "m" + seconds
    }

    /// `value / 10^decimals` with trailing fractional zeros (and a bare point) dropped.
    private static func fixedPoint(_ value: UInt64, decimals: Int) -> String {
        var scale: UInt64 = 1
        for _ in 0..<decimals { scale *= 10 }
        var fraction = String(value % scale)
        fraction = String(repeating: "0", count: decimals - fraction.count) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return String(value / scale) + (fraction.isEmpty ? "" : "." + fraction)
    }

    /// Go's Time.String for the wall-clock moment of a monotonic reading, in UTC:
    /// "2026-12-06 03:30:00.123456789 +0000 UTC" (Go's own adds the monotonic "m=+…" reading, which has no
    /// meaning outside a Go process).
    static func wallClock(monotonicNanos: Int64) -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let wall = Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec) + (monotonicNanos - gr_nanotime())
        var seconds = time_t(wall / 1_000_000_000)
        var nanos = wall % 1_000_000_000
        if nanos < 0 { nanos += 1_000_000_000; seconds -= 1 }
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0" + String(v) : String(v) }
        var text = String(parts.tm_year + 1900) + "-" + two(parts.tm_mon + 1) + "-" + two(parts.tm_mday) + " "
            + two(parts.tm_hour) + ":" + two(parts.tm_min) + ":" + two(parts.tm_sec)
        if nanos != 0 {
            var fraction = String(nanos)
            fraction = String(repeating: "0", count: 9 - fraction.count) + fraction
            while fraction.hasSuffix("0") { fraction.removeLast() }
            text += "." + fraction
        }
        return text + " +0000 UTC"
    }
}
