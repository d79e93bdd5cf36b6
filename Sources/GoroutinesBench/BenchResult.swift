#if canImport(Glibc)
import Glibc
#endif

/// One benchmark result, printed as one JSON line.
struct BenchResult {
    var name: String
    var ops: Int
    var elapsedNanos: Int64
    var extra: [String: Double] = [:]

    var json: String {
        var fields = [
            "\"name\":\"\(name)\"", "\"impl\":\"swift\"", "\"ops\":\(ops)",
            "\"wall_ms\":\(Double(elapsedNanos) / 1e6)", "\"ns_per_op\":\(Double(elapsedNanos) / Double(max(ops, 1)))",
            "\"peak_rss_kib\":\(peakRSSKiB())",
        ]
        for (k, v) in extra.sorted(by: { $0.key < $1.key }) { fields.append("\"\(k)\":\(v)") }
        return "{" + fields.joined(separator: ",") + "}"
    }
}

/// VmHWM from /proc/self/status.
func peakRSSKiB() -> Int {
    guard let f = fopen("/proc/self/status", "r") else { return 0 }
    defer { fclose(f) }
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, 256, f) != nil {
        let s = String(cString: line)
        if s.hasPrefix("VmHWM:") {
            return Int(s.dropFirst(6).filter { $0.isNumber }) ?? 0
        }
    }
    return 0
}
