// libFuzzer driver for the debug server's parsers (see Sources/DebugServer/FuzzEntryPoints.swift).
//
// Built by scripts/fuzz.sh with `-sanitize=fuzzer -Xswiftc -DFUZZING`: libFuzzer supplies `main` and
// FUZZ_TARGET picks the target. In an ordinary build it is a replayer instead:
// `DebugServerFuzz <target> <file or directory>...` runs saved inputs (a crash input, the corpus).
import DebugServer
import Foundation

#if FUZZING
private nonisolated(unsafe) let selectedTarget: @Sendable (UnsafeRawBufferPointer) -> Void = {
    let name = ProcessInfo.processInfo.environment["FUZZ_TARGET"] ?? ""
    guard let target = DebugServerFuzzing.targets[name] else {
        fatalError("set FUZZ_TARGET to one of: \(DebugServerFuzzing.targets.keys.sorted().joined(separator: ", "))")
    }
    return target
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    selectedTarget(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
#else
@main
struct ReplayInputs {
    static func main() throws {
        let arguments = CommandLine.arguments.dropFirst()
        guard let name = arguments.first, let target = DebugServerFuzzing.targets[name], arguments.count > 1 else {
            print("usage: DebugServerFuzz <\(DebugServerFuzzing.targets.keys.sorted().joined(separator: "|"))> <file or directory>...")
            exit(2)
        }
        var count = 0
        for path in arguments.dropFirst() {
            var isDirectory: ObjCBool = false
            FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
            let files = isDirectory.boolValue
                ? try FileManager.default.contentsOfDirectory(atPath: path).sorted().map { path + "/" + $0 }
                : [path]
            for file in files {
                let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
                bytes.withUnsafeBytes { target($0) }
                count += 1
            }
        }
        print("\(name): \(count) inputs replayed")
    }
}
#endif
