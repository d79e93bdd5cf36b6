// Profile-encoding benchmark, beside the Go peer in Tests/GoPeers/profiling (same workload, same shape):
// a CPU-shaped profile of 10,000 samples over 100 distinct 20-frame stacks drawn from 400 call sites,
// built from return addresses through ProfileBuilder, encoded, and gzipped at BestSpeed.
// Prints one JSON line per measurement. Run with `swift run -c release profiling-bench [iterations]`.
import Foundation
import Profiling
import Symbolication

let pcCount = 400, stackCount = 100, stackDepth = 20, sampleCount = 10_000
let textBase: UInt = 0x400000

/// Resolves the benchmark's made-up call sites from a dictionary, as a warm symbol cache would.
struct BenchResolver: FrameResolver {
    let table: [UInt: [SymbolicatedFrame]]
    let image = ImageMapping(start: textBase, limit: textBase + 0x100000, fileOffset: 0, path: "/srv/bench",
                             buildID: "0011223344556677")

    init() {
        var table: [UInt: [SymbolicatedFrame]] = [:]
        for i in 0..<pcCount {
            let pc = textBase + UInt(i) * 0x40 + 0x10
            let name = "BenchModule.Type\(i % 37).method\(i)(arg:)"
            table[pc] = [SymbolicatedFrame(function: name, systemName: name, file: "/src/bench/File\(i / 10).swift",
                                           line: i % 500 + 1, startLine: i % 500, entry: pc - 0x10)]
        }
        self.table = table
    }

    func frames(at pcs: [UInt]) -> [[SymbolicatedFrame]] { pcs.map { table[$0] ?? [] } }
    func mappings() -> [ImageMapping] { [image] }
    func mappingIndex(containing pc: UInt) -> Int? { image.start <= pc && pc < image.limit ? 0 : nil }
}

let stacks: [[UInt]] = (0..<stackCount).map { s in
    (0..<stackDepth).map { d in textBase + UInt((s * 7 + d * 13) % pcCount) * 0x40 + 0x10 + 1 }
}
let resolver = BenchResolver()

func buildProfile() throws -> Profile {
    let cpu = ValueType(type: "cpu", unit: "nanoseconds")
    var builder = try ProfileBuilder(sampleTypes: [ValueType(type: "samples", unit: "count"), cpu], periodType: cpu,
                                     period: 10_000_000, resolver: resolver)
    for i in 0..<sampleCount {
        try builder.addSample(stack: stacks[i % stackCount], values: [1, 10_000_000])
    }
    return builder.build()
}

func measure(_ name: String, iterations: Int, _ body: () throws -> Int) rethrows {
    _ = try body()  // warm up
    var times: [Double] = []
    var size = 0
    for _ in 0..<iterations {
        let start = DispatchTime.now().uptimeNanoseconds
        size = try body()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start))
    }
    times.sort()
    let fields: [String: Any] = ["peer": "swift", "benchmark": name, "iterations": iterations,
                                 "median_ns": times[times.count / 2], "min_ns": times[0], "bytes": size,
                                 "samples": sampleCount, "stacks": stackCount]
    let json = try! JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
    print(String(decoding: json, as: UTF8.self))
}

let iterations = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 200
if CommandLine.arguments.count > 2 {
    let path = CommandLine.arguments[2]
    guard FileManager.default.createFile(atPath: path, contents: nil) else { fatalError("cannot create \(path)") }
    try buildProfile().write(.gzippedProto, to: FileHandle(forWritingAtPath: path)!)
}
try measure("encode_proto", iterations: iterations) { try buildProfile().encodedProto().count }
try measure("encode_proto_gzip", iterations: iterations) { try buildProfile().gzippedProto().count }
let built = try buildProfile()
try measure("build_only", iterations: iterations) { try buildProfile().samples.count }
measure("encode_only", iterations: iterations) { built.encodedProto().count }
let encoded = built.encodedProto()
try measure("gzip_only", iterations: iterations) { try Gzip.compress(encoded).count }

// Count profiles (goroutine shape) from many records: grouping, proto and debug=1 text.
for goroutines in [10_000, 100_000] {
    for diverse in [false, true] {
        let records = (0..<goroutines).map { i -> CountProfileRecord in
            let stack = stacks[diverse ? i % stackCount : 0]
            return CountProfileRecord(stack: diverse ? [stack[0] &+ UInt(i % 10) * 0x40] + stack.dropFirst() : stack,
                                      labels: diverse && i % 3 == 0 ? ["worker": "w\(i % 7)"] : [:])
        }
        let label = "count_\(goroutines)_\(diverse ? "diverse" : "identical")"
        let rounds = max(5, iterations / 20)
        try measure("\(label)_proto_gzip", iterations: rounds) {
            try CountProfile(name: "goroutine", records: records, resolver: resolver).render(.gzippedProto).count
        }
        try measure("\(label)_text", iterations: rounds) {
            try CountProfile(name: "goroutine", records: records, resolver: resolver).render(.legacyText).count
        }
    }
}
