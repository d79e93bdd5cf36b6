import Foundation
@testable import Profiling
import Symbolication

/// Real Go 1.27 output captured from a demo service (see /work/shared/reference/go-captures).
enum GoCaptures {
    static let directory = "/work/shared/reference/go-captures/go1.27/"

    static func available(_ name: String) -> Bool { FileManager.default.fileExists(atPath: directory + name) }

    /// The body of a captured HTTP response (headers stripped).
    static func body(_ name: String) throws -> String {
        let text = try String(contentsOfFile: directory + name, encoding: .utf8)
        guard let split = text.range(of: "\r\n\r\n") else { return text }
        return String(text[split.upperBound...])
    }

    /// PC of runtime.goexit in the captured binary: the last return address of every goroutine stack.
    static let goexitReturnAddress: UInt = 0x4930a1
}

/// A legacy text record parsed back: its leading numbers, its `@` list, labels, and the frames its `#`
/// lines name.
struct TextRecord {
    var numbers: [Int64]
    var stack: [UInt]
    var labels: [String: String]
}

enum LegacyTextParser {
    /// Parses records of a count or contention text, and collects a resolver that answers with exactly
    /// the frames the `#` lines show. PCs without a `#` line (hidden runtime frames) get runtime names,
    /// and Go's goexit PC gets `runtime.goexit`.
    static func parse(_ text: String) -> (records: [TextRecord], resolver: FakeResolver) {
        var records: [TextRecord] = []
        var resolver = FakeResolver()
        var framesByPC: [UInt: [SymbolicatedFrame]] = [:]
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# labels: ") {
                records[records.count - 1].labels = parseLabels(String(line.dropFirst("# labels: ".count)))
            } else if line.hasPrefix("#\t") {
                let cells = line.split(separator: "\t", omittingEmptySubsequences: true)
                guard cells.count == 4, let pc = UInt(cells[1].dropFirst(2), radix: 16) else { continue }
                let function = cells[2].split(separator: "+").dropLast().joined(separator: "+")
                let offset = UInt(cells[2].split(separator: "+").last!.dropFirst(2), radix: 16)!
                let fileLine = cells[3].split(separator: ":")
                let frame = SymbolicatedFrame(function: function, systemName: function, file: String(fileLine[0]),
                                              line: Int(fileLine[1])!, entry: pc - offset)
                // Go prints inlined frames with PCs of their own, so one frame per PC; records repeat PCs.
                if framesByPC[pc] == nil { framesByPC[pc] = [frame] }
            } else if let at = line.range(of: " @") {
                let numbers = line[..<at.lowerBound].split(separator: " ").map { Int64($0)! }
                let stack = line[at.upperBound...].split(separator: " ").map { UInt($0.dropFirst(2), radix: 16)! }
                records.append(TextRecord(numbers: numbers, stack: stack, labels: [:]))
            }
        }
        for record in records {
            for returnAddress in record.stack where returnAddress != 0 {
                let pc = returnAddress - 1
                if let frames = framesByPC[pc] {
                    resolver.table[pc] = frames
                } else if resolver.table[pc] == nil {
                    let name = returnAddress == GoCaptures.goexitReturnAddress ? "runtime.goexit" : "runtime.hidden\(pc)"
                    resolver.table[pc] = [SymbolicatedFrame(function: name, systemName: name, file: "proc.go", line: 1, entry: pc)]
                }
            }
        }
        return (records, resolver)
    }

    /// `{"k":"v", "k2":"v2"}` without escapes, as in the captures.
    static func parseLabels(_ text: String) -> [String: String] {
        var labels: [String: String] = [:]
        let parts = text.dropFirst().dropLast().components(separatedBy: ", ")
        for part in parts {
            let quoted = part.split(separator: "\"", omittingEmptySubsequences: true).filter { $0 != ":" }
            labels[String(quoted[0])] = String(quoted[1])
        }
        return labels
    }
}

/// The protobuf text format that `protoc --decode` prints, read into a tree.
struct ProtoText {
    var scalars: [(String, String)] = []
    var messages: [(String, ProtoText)] = []

    static func parse(_ text: String) -> ProtoText {
        var lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }[...]
        return parseMessage(&lines)
    }

    private static func parseMessage(_ lines: inout ArraySlice<String>) -> ProtoText {
        var node = ProtoText()
        while let line = lines.popFirst() {
            if line == "}" { return node }
            if line.hasSuffix(" {") {
                node.messages.append((String(line.dropLast(2)), parseMessage(&lines)))
            } else if let colon = line.firstIndex(of: ":") {
                var value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                if value.hasPrefix("\"") { value = String(value.dropFirst().dropLast()) }
                node.scalars.append((String(line[..<colon]), value))
            }
        }
        return node
    }

    func all(_ name: String) -> [String] { scalars.filter { $0.0 == name }.map(\.1) }
    func int(_ name: String) -> Int64 { all(name).first.flatMap { Int64($0) } ?? 0 }
    func uint(_ name: String) -> UInt64 { all(name).first.flatMap { UInt64($0) } ?? 0 }
    func children(_ name: String) -> [ProtoText] { messages.filter { $0.0 == name }.map(\.1) }

    /// Resolves a decoded Go profile into our model.
    func profile() -> Profile {
        let strings = all("string_table")
        func s(_ index: Int64) -> String { strings[Int(index)] }
        func valueType(_ node: ProtoText) -> ValueType { ValueType(type: s(node.int("type")), unit: s(node.int("unit"))) }
        var profile = Profile()
        profile.sampleTypes = children("sample_type").map(valueType)
        profile.periodType = children("period_type").first.map(valueType)
        profile.period = int("period")
        profile.timeNanos = int("time_nanos")
        profile.durationNanos = int("duration_nanos")
        profile.defaultSampleType = all("default_sample_type").first.map { s(Int64($0)!) } ?? ""
        profile.samples = children("sample").map { sample in
            Sample(locationIDs: sample.all("location_id").map { UInt64($0)! }, values: sample.all("value").map { Int64($0)! },
                   labels: sample.children("label").map { label in
                       label.int("str") != 0 ? .string(s(label.int("key")), s(label.int("str")))
                           : .number(s(label.int("key")), label.int("num"), unit: s(label.int("num_unit")))
                   })
        }
        profile.mappings = children("mapping").map { m in
            Mapping(id: m.uint("id"), start: m.uint("memory_start"), limit: m.uint("memory_limit"),
                    fileOffset: m.uint("file_offset"), filename: s(m.int("filename")), buildID: s(m.int("build_id")),
                    hasFunctions: m.all("has_functions").first == "true", hasFilenames: m.all("has_filenames").first == "true",
                    hasLineNumbers: m.all("has_line_numbers").first == "true",
                    hasInlineFrames: m.all("has_inline_frames").first == "true")
        }
        profile.locations = children("location").map { l in
            Location(id: l.uint("id"), mappingID: l.uint("mapping_id"), address: l.uint("address"),
                     lines: l.children("line").map { Line(functionID: $0.uint("function_id"), line: $0.int("line")) })
        }
        profile.functions = children("function").map { f in
            Function(id: f.uint("id"), name: s(f.int("name")), systemName: s(f.int("system_name")),
                     filename: s(f.int("filename")), startLine: f.int("start_line"))
        }
        return profile
    }
}

extension FakeResolver {
    /// A resolver that answers with exactly what a decoded Go profile says about each address.
    init(replaying profile: Profile) {
        let functions = Dictionary(uniqueKeysWithValues: profile.functions.map { ($0.id, $0) })
        var table: [UInt: [SymbolicatedFrame]] = [:]
        for location in profile.locations {
            table[UInt(location.address)] = location.lines.enumerated().map { index, line in
                let function = functions[line.functionID]!
                return SymbolicatedFrame(function: function.name, systemName: function.systemName, file: function.filename,
                                         line: Int(line.line), startLine: Int(function.startLine), entry: 0,
                                         isInlined: index < location.lines.count - 1)
            }
        }
        self.init(table: table, images: profile.mappings.map {
            ImageMapping(start: UInt($0.start), limit: UInt($0.limit), fileOffset: UInt($0.fileOffset), path: $0.filename,
                         buildID: $0.buildID)
        })
    }
}
