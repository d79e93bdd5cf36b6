import CSampling
import Foundation
import XCTest
@testable import Symbolication

// Functions with known names, files and lines. Each returns the PC of its call to the probe and the line
// that call is on. `@inline(never)` keeps them real frames even in optimized builds.
final class ProbeWorker {
    let name: String
    var initProbe: (pc: UInt, line: Int) = (0, 0)

    @inline(never)
    init(name: String) {
        self.name = name
        initProbe = (UInt(gr_probe_return_address()), #line)
    }

    static let runDeclarationLine = #line + 2
    @inline(never)
    func run(job: Int) -> (pc: UInt, line: Int) {
        let probe = (UInt(gr_probe_return_address()), #line)
        return (probe.0 &+ UInt(job & 0), probe.1)
    }
}

@inline(never)
func probeClosureOwner() -> (pc: UInt, line: Int) {
    let closure = { () -> (UInt, Int) in (UInt(gr_probe_return_address()), #line) }
    let probe = closure()
    return (probe.0, probe.1)
}

final class SymbolizerTests: XCTestCase {
    /// The PC a caller would look up for a return address: the call instruction itself.
    private func callSite(_ returnAddress: UInt) -> UInt { returnAddress - 1 }

    func testMethodResolvesToReadableNameFileAndLine() throws {
        let probe = ProbeWorker(name: "a").run(job: 1)
        let frames = Symbolizer.shared.frames(at: callSite(probe.pc))
        let frame = try XCTUnwrap(frames.last)
        XCTAssertEqual(frame.function, "SymbolicationTests.ProbeWorker.run(job:)")
        XCTAssertTrue(frame.systemName.hasPrefix("$s"), "raw symbol should be the mangled name: \(frame.systemName)")
        XCTAssertEqual(frame.file, #filePath)
        XCTAssertEqual(frame.line, probe.line)
        XCTAssertEqual(frame.startLine, ProbeWorker.runDeclarationLine)
        XCTAssertFalse(frame.isInlined)
        XCTAssertGreaterThan(frame.entry, 0)
        XCTAssertLessThanOrEqual(frame.entry, probe.pc)
        XCTAssertLessThan(probe.pc - frame.entry, 4096, "entry should be the start of run(job:)")
    }

    func testInitializerName() throws {
        let worker = ProbeWorker(name: "b")
        let frame = try XCTUnwrap(Symbolizer.shared.frames(at: callSite(worker.initProbe.pc)).last)
        XCTAssertEqual(frame.function, "SymbolicationTests.ProbeWorker.init(name:)")
        XCTAssertEqual(frame.line, worker.initProbe.line)
        XCTAssertEqual(frame.file, #filePath)
    }

    func testClosureName() throws {
        let probe = probeClosureOwner()
        let frame = try XCTUnwrap(Symbolizer.shared.frames(at: callSite(probe.pc)).last)
        XCTAssertEqual(frame.function, "SymbolicationTests.probeClosureOwner().closure1")
        XCTAssertEqual(frame.line, probe.line)
    }

    func testLibcFunctionResolves() throws {
        // Not malloc: the heap sampler interposes it, so the process's malloc is ours, not libc's.
        let address = try XCTUnwrap(dlsym(UnsafeMutableRawPointer(bitPattern: 0), "qsort"))
        let pc = UInt(bitPattern: address)
        let frames = Symbolizer.shared.frames(at: pc + 4)
        XCTAssertEqual(frames.count, 1)
        XCTAssertEqual(frames[0].function, "qsort")
        XCTAssertEqual(frames[0].systemName, "qsort")
        XCTAssertEqual(frames[0].entry, pc)
        let mappingIndex = try XCTUnwrap(Symbolizer.shared.mappingIndex(containing: pc))
        XCTAssertTrue(Symbolizer.shared.mappings()[mappingIndex].path.contains("libc.so"))
    }

    /// With Debian's libc6-dbg installed, libc's compressed DWARF in /usr/lib/debug/.build-id gives lines.
    func testLibcLinesFromSeparateDebugFile() throws {
        let address = try XCTUnwrap(dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc"))
        let pc = UInt(bitPattern: address)
        let libc = Symbolizer.shared.mappings()[try XCTUnwrap(Symbolizer.shared.mappingIndex(containing: pc))]
        let debugFile = "/usr/lib/debug/.build-id/\(libc.buildID.prefix(2))/\(libc.buildID.dropFirst(2)).debug"
        guard FileManager.default.fileExists(atPath: debugFile) else { throw XCTSkip("no debug file for libc") }
        let frames = Symbolizer.shared.frames(at: pc + 16)
        XCTAssertEqual(frames.last?.function, "malloc")
        XCTAssertTrue(frames.last?.file.hasSuffix("malloc.c") ?? false, "\(frames)")
        XCTAssertGreaterThan(frames.last?.line ?? 0, 0)
        XCTAssertGreaterThan(frames.last?.startLine ?? 0, 0)
    }

    func testMainExecutableComesFirstWithTheBuildIDReadelfReports() throws {
        let mappings = Symbolizer.shared.mappings()
        let main = try XCTUnwrap(mappings.first)
        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        XCTAssertEqual(main.path, executable)
        let output = try run("/usr/bin/readelf", ["-n", executable])
        let reported = try XCTUnwrap(output.split(separator: "\n").first { $0.contains("Build ID:") })
        let expected = String(reported.split(separator: " ").last!)
        XCTAssertEqual(main.buildID, expected)
    }

    func testMappingsIncludeLibswiftCoreWithBuildID() throws {
        let mappings = Symbolizer.shared.mappings()
        let core = try XCTUnwrap(mappings.first { $0.path.hasSuffix("/libswiftCore.so") })
        XCTAssertEqual(core.buildID.count, 40, "GNU build ids are 20 bytes: \(core.buildID)")
        XCTAssertTrue(core.buildID.allSatisfy(\.isHexDigit))
        XCTAssertLessThan(core.start, core.limit)
        for mapping in mappings {
            XCTAssertEqual(Symbolizer.shared.mappingIndex(containing: mapping.start), mappings.firstIndex(of: mapping))
        }
    }

    func testSwiftRuntimeFunctionInLibswiftCoreResolves() throws {
        let address = try XCTUnwrap(dlsym(UnsafeMutableRawPointer(bitPattern: 0), "swift_retain"))
        let frame = try XCTUnwrap(Symbolizer.shared.frames(at: UInt(bitPattern: address) + 1).last)
        XCTAssertEqual(frame.function, "swift_retain")
    }

    func testUnknownPCGivesQuestionMark() {
        for pc: UInt in [0, 1, 0x10, UInt.max - 4] {
            let frames = Symbolizer.shared.frames(at: pc)
            XCTAssertEqual(frames, [SymbolicatedFrame(function: "?", systemName: "?")], "pc 0x\(String(pc, radix: 16))")
            XCTAssertNil(Symbolizer.shared.mappingIndex(containing: pc))
        }
        // Heap memory is mapped but not executable.
        let heap = UnsafeMutablePointer<UInt8>.allocate(capacity: 64)
        defer { heap.deallocate() }
        XCTAssertEqual(Symbolizer.shared.frames(at: UInt(bitPattern: heap)).first?.function, "?")
    }

    func testVDSOFunctionsResolve() throws {
        let mappings = Symbolizer.shared.mappings()
        guard let vdso = mappings.first(where: { $0.path == "[vdso]" }) else {
            throw XCTSkip("no vDSO in this process: \(mappings.map(\.path))")
        }
        let names = Set(stride(from: vdso.start, to: vdso.limit, by: 16).map {
            Symbolizer.shared.frames(at: $0)[0].function
        })
        XCTAssertTrue(names.contains { $0.contains("clock_gettime") }, "vDSO names: \(names.sorted())")
        XCTAssertFalse(vdso.buildID.isEmpty)
    }

    func testBatchMatchesSingleLookups() {
        let probe = ProbeWorker(name: "c").run(job: 2)
        let pcs: [UInt] = [callSite(probe.pc), 0, callSite(probe.pc), 0x10]
        let fresh = Symbolizer()
        let batch = fresh.frames(at: pcs)
        XCTAssertEqual(batch.count, pcs.count)
        for (pc, frames) in zip(pcs, batch) {
            XCTAssertEqual(frames, Symbolizer.shared.frames(at: pc))
        }
    }

    func testManyThreadsGetIdenticalAnswers() throws {
        // A spread of PCs over the test binary and libswiftCore, symbolized cold by many threads at once.
        let mappings = Symbolizer.shared.mappings()
        var spread: [UInt] = []
        for mapping in mappings.prefix(3) + mappings.filter({ $0.path.hasSuffix("libswiftCore.so") }) {
            spread += stride(from: mapping.start, to: mapping.limit, by: max(16, Int(mapping.limit - mapping.start) / 300))
        }
        let pcs = spread
        let expected = Symbolizer().frames(at: pcs)
        let shared = Symbolizer()
        let results = Mutex<[[[SymbolicatedFrame]]]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            // Each worker walks the PCs in a different order, mixing single and batch calls.
            let order = worker % 2 == 0 ? Array(pcs.indices) : Array(pcs.indices.reversed())
            var answers = [[SymbolicatedFrame]](repeating: [], count: pcs.count)
            for index in order { answers[index] = shared.frames(at: pcs[index]) }
            if worker % 3 == 0 { answers = shared.frames(at: pcs) }
            results.withLock { $0.append(answers) }
        }
        let all = results.withLock { $0 }
        XCTAssertEqual(all.count, 8)
        for answers in all { XCTAssertEqual(answers, expected) }
        XCTAssertTrue(expected.contains { $0.last!.function != "?" })
    }

    private func run(_ tool: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}

import Synchronization

/// Libraries loaded after the first lookup are found once `refresh()` is called.
final class SymbolizerRefreshTests: XCTestCase {
    func testRefreshFindsLibraryLoadedLater() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("symbolication-dlopen-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = directory.appendingPathComponent("late.c")
        let library = directory.appendingPathComponent("liblate.so")
        try "int gr_late_function(int x) { return x * 3 + 1; }\n".write(to: source, atomically: true, encoding: .utf8)
        let compile = Process()
        compile.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        compile.arguments = ["clang", "-shared", "-fPIC", "-g", "-Wl,--build-id", source.path, "-o", library.path]
        try compile.run()
        compile.waitUntilExit()
        guard compile.terminationStatus == 0 else { throw XCTSkip("clang could not build the library") }

        let symbolizer = Symbolizer()
        let before = symbolizer.mappings()
        let handle = try XCTUnwrap(dlopen(library.path, RTLD_NOW | RTLD_LOCAL))
        defer { dlclose(handle) }
        let function = UInt(bitPattern: try XCTUnwrap(dlsym(handle, "gr_late_function")))

        // Cached mappings predate the dlopen: the PC is unknown until refresh().
        XCTAssertEqual(symbolizer.mappings(), before)
        XCTAssertEqual(symbolizer.frames(at: function + 1).last?.function, "?")
        symbolizer.refresh()
        let frame = try XCTUnwrap(symbolizer.frames(at: function + 1).last)
        XCTAssertEqual(frame.function, "gr_late_function")
        XCTAssertEqual(frame.entry, function)
        XCTAssertEqual(frame.file, source.path)
        XCTAssertEqual(frame.line, 1)
        let mapping = symbolizer.mappings()[try XCTUnwrap(symbolizer.mappingIndex(containing: function))]
        XCTAssertEqual(mapping.path, library.resolvingSymlinksInPath().path)
        XCTAssertEqual(mapping.buildID.count, 40)
    }

    func testDeletedFilesAreNotReadButKeepTheirPath() throws {
        let region = try XCTUnwrap(ProcessMaps.parse(line: Array(
            "7f00000000-7f00001000 r-xp 00001000 fe:00 4242    /usr/lib/libgone.so (deleted)".utf8)[...]))
        XCTAssertEqual(region.path, "/usr/lib/libgone.so")
        XCTAssertTrue(region.isDeleted)
        XCTAssertEqual(region.start, 0x7f00000000)
        XCTAssertEqual(region.limit, 0x7f00001000)
        XCTAssertEqual(region.fileOffset, 0x1000)
        XCTAssertNil(ProcessMaps.parse(line: Array("7f00000000-7f00001000 rw-p 00000000 00:00 0".utf8)[...]))
        XCTAssertNil(ProcessMaps.parse(line: Array("garbage".utf8)[...]))
        XCTAssertNil(ProcessMaps.parse(line: Array("7f00000000-7f00001000 r-xp 00000000 00:00 0 ".utf8)[...]),
                     "anonymous executable memory is not a mapping, as in Go's profiles")
        XCTAssertEqual(ProcessMaps.parse(line: Array("7ffd0000-7ffd2000 r-xp 00000000 00:00 0      [vdso]".utf8)[...])?.path,
                       "[vdso]")
    }
}
