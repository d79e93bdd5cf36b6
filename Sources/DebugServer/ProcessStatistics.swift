// What client_golang's process collector reports, read from /proc the same way: CPU time and start
// time from /proc/self/stat (clock ticks; start time relative to the boot time in /proc/stat), virtual
// and resident size from the same line, open descriptors by listing /proc/self/fd, and the limits from
// getrlimit.
import Foundation
import Glibc

struct ProcessStatistics: Sendable {
    var cpuSeconds: Double
    var residentBytes: Double
    var virtualBytes: Double
    var startTimeSeconds: Double
    var openFileDescriptors: Int
    var maxFileDescriptors: Double
    var maxVirtualBytes: Double

    /// Nil when /proc is not readable (then the process_* metrics are left out, as client_golang does).
    static func current() -> ProcessStatistics? {
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        // Fields after the parenthesised command name, numbered from 3 (state) as proc(5) does.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        func field(_ number: Int) -> Double { Double(fields[number - 3]) ?? 0 }
        guard fields.count > 22 else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))
        let openFDs = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
        return ProcessStatistics(
            cpuSeconds: (field(14) + field(15)) / ticks,
            residentBytes: field(24) * pageSize,
            virtualBytes: field(23),
            startTimeSeconds: bootTimeSeconds() + field(22) / ticks,
            openFileDescriptors: max(0, openFDs - 1),  // the listing's own descriptor
            maxFileDescriptors: softLimit(Int32(RLIMIT_NOFILE.rawValue)),
            maxVirtualBytes: softLimit(Int32(RLIMIT_AS.rawValue)))
    }

    private static func softLimit(_ resource: Int32) -> Double {
        var limit = rlimit()
        guard getrlimit(resource, &limit) == 0 else { return 0 }
        return Double(limit.rlim_cur)  // RLIM_INFINITY reads as 2^64-1, as Go reports it
    }

    private static func bootTimeSeconds() -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return 0 }
        for line in stat.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst(6).trimmingCharacters(in: .whitespaces)) ?? 0
        }
        return 0
    }
}
