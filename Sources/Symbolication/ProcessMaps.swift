#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The executable regions of this process, read from `/proc/self/maps`.
enum ProcessMaps {
    struct Region {
        var start: UInt
        var limit: UInt
        var fileOffset: UInt
        var path: String
        /// The file was replaced or removed after it was mapped ("(deleted)" in the maps line): whatever
        /// is at `path` now is not what runs, so it must not be read for symbols.
        var isDeleted = false
    }

    /// Executable (`x`) regions with a path or a kernel name (`[vdso]`), in address order, with a trailing
    /// " (deleted)" stripped from paths as Go does; [] when the file cannot be read.
    static func executableRegions() -> [Region] {
        guard let text = readWholeFile("/proc/self/maps") else { return [] }
        var regions: [Region] = []
        for line in text.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
            if let region = parse(line: line) { regions.append(region) }
        }
        return regions
    }

    /// Parses `start-limit perms offset dev inode [path]`; nil for malformed, non-executable or anonymous lines.
    static func parse(line: ArraySlice<UInt8>) -> Region? {
        let fields = line.split(separator: UInt8(ascii: " "), maxSplits: 5, omittingEmptySubsequences: true)
        guard fields.count >= 5 else { return nil }
        let range = fields[0].split(separator: UInt8(ascii: "-"))
        guard range.count == 2, let start = hex(range[0]), let limit = hex(range[1]), start < limit,
              let offset = hex(fields[2]) else { return nil }
        let permissions = fields[1]
        guard permissions.count >= 3, permissions[permissions.startIndex + 2] == UInt8(ascii: "x") else { return nil }
        var path = ""
        if fields.count == 6 {
            // The path is the rest of the line after column padding; it may itself contain spaces.
            let rest = fields[5].drop { $0 == UInt8(ascii: " ") }
            path = String(decoding: rest, as: UTF8.self)
        }
        // Like Go's profiles: anonymous executable memory (JIT code and the like) is not a mapping.
        guard !path.isEmpty else { return nil }
        var isDeleted = false
        if path.hasSuffix(" (deleted)") {
            path.removeLast(" (deleted)".count)
            isDeleted = true
        }
        return Region(start: start, limit: limit, fileOffset: offset, path: path, isDeleted: isDeleted)
    }

    private static func hex(_ digits: ArraySlice<UInt8>) -> UInt? {
        guard !digits.isEmpty, digits.count <= 16 else { return nil }
        var value: UInt = 0
        for digit in digits {
            let nibble: UInt8
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = digit - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = digit - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt(nibble)
        }
        return value
    }

    /// Reads a file whose size `stat` does not know (procfs) in one go.
    static func readWholeFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if count == 0 { break }
            result.append(contentsOf: chunk[0..<count])
        }
        return result
    }

    /// The resolved path of the main executable, "" if unknown.
    static func mainExecutablePath() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else { return "" }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
