import Foundation
@testable import Profiling
import Symbolication

/// A resolver with a fixed table of PCs -> frames and a fixed list of mappings.
struct FakeResolver: FrameResolver {
    var table: [UInt: [SymbolicatedFrame]]
    var images: [ImageMapping]

    init(table: [UInt: [SymbolicatedFrame]] = [:], images: [ImageMapping] = []) {
        self.table = table
        self.images = images
    }

    func frames(at pcs: [UInt]) -> [[SymbolicatedFrame]] {
        pcs.map { table[$0] ?? [SymbolicatedFrame(function: "?", systemName: "?")] }
    }

    func mappings() -> [ImageMapping] { images }

    func mappingIndex(containing pc: UInt) -> Int? {
        images.firstIndex { $0.start <= pc && pc < $0.limit }
    }

    /// Adds a physical frame (plus optional inlined callees, innermost first) at call-site `pc`.
    mutating func add(pc: UInt, _ name: String, file: String = "/src/app/main.swift", line: Int = 10,
                      startLine: Int = 1, entry: UInt? = nil, inlined: [(String, Int)] = []) {
        let entryAddress = entry ?? (pc & ~0xff)
        var frames = inlined.map { callee in
            SymbolicatedFrame(function: callee.0, systemName: "$s" + callee.0, file: file, line: callee.1,
                              startLine: max(1, callee.1 - 3), entry: 0, isInlined: true)
        }
        frames.append(SymbolicatedFrame(function: name, systemName: "$s" + name, file: file, line: line,
                                        startLine: startLine, entry: entryAddress))
        table[pc] = frames
    }
}

/// The executable mapping of this test binary, so profiles carry a real file name and build id, and
/// addresses that lie inside a real mapping.
enum TestBinary {
    static let mapping: ImageMapping = {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        let maps = (try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8)) ?? ""
        for line in maps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, fields[1].contains("x"), String(fields[5]) == executable else { continue }
            let range = fields[0].split(separator: "-")
            return ImageMapping(start: UInt(range[0], radix: 16)!, limit: UInt(range[1], radix: 16)!,
                                fileOffset: UInt(fields[2], radix: 16)!, path: executable, buildID: buildID(of: executable))
        }
        fatalError("no executable mapping for \(executable) in /proc/self/maps")
    }()

    /// GNU build id from `readelf -n`, "" if the tool or the note is missing.
    static func buildID(of path: String) -> String {
        guard let output = try? runProcess("/usr/bin/readelf", ["-n", path]).stdout else { return "" }
        for line in output.split(separator: "\n") where line.contains("Build ID:") {
            return line.split(separator: ":").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        }
        return ""
    }
}

struct ProcessResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs a program to completion and captures its output.
func runProcess(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = environment }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Drain stderr on another thread so a chatty child cannot block on a full pipe.
    let stderrBox = DataBox()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async {
        stderrBox.data = err.fileHandleForReading.readDataToEndOfFile()
        group.leave()
    }
    let stdoutData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()
    return ProcessResult(status: process.terminationStatus, stdout: String(decoding: stdoutData, as: UTF8.self),
                         stderr: String(decoding: stderrBox.data, as: UTF8.self))
}

private final class DataBox: @unchecked Sendable {
    var data = Data()  // written by one thread, read after group.wait()
}

/// Path of a tool on PATH, nil when absent.
func which(_ tool: String) -> String? {
    for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
        let path = "\(directory)/\(tool)"
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return nil
}
