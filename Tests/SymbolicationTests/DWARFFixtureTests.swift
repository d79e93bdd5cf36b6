import Foundation
import XCTest
@testable import Symbolication

/// Inlined frames and line tables on real optimized binaries: small programs compiled here with the
/// toolchain (Swift with DWARF 4 and 5, C with clang's DWARF 5), read back by our ELF/DWARF readers.
final class DWARFFixtureTests: XCTestCase {
    private static let swiftSource = """
        @inline(__always) func inner(_ x: Int) -> Int {
            var total = x
            for i in 0..<x { total = total &* 31 &+ i }
            return total
        }
        @inline(never) func outer(_ n: Int) -> Int {
            let a = inner(n)
            return a &+ inner(n &+ 1)
        }
        print(outer(Int(CommandLine.arguments.count)))
        """
    private static let cSource = """
        #include <stdio.h>
        #include <stdlib.h>
        static inline __attribute__((always_inline)) int inner(int x) {
            int total = x;
            for (int i = 0; i < x; i++) total = total * 31 + i;
            return total;
        }
        __attribute__((noinline)) int outer(int n) {
            int a = inner(n);
            return a + inner(n + 1);
        }
        int main(int argc, char **argv) { printf("%d\\n", outer(argc + atoi(argc > 1 ? argv[1] : "3"))); return 0; }
        """

    func testSwiftInlinedFramesDWARF4() throws {
        try checkInlinedFrames(language: "swift", compilerArguments: ["-O", "-g"],
                               outer: "fixture.outer(_:)", inner: "fixture.inner(_:)")
    }

    func testSwiftInlinedFramesDWARF5() throws {
        try checkInlinedFrames(language: "swift", compilerArguments: ["-O", "-g", "-dwarf-version=5"],
                               outer: "fixture.outer(_:)", inner: "fixture.inner(_:)")
    }

    func testCInlinedFramesDWARF5() throws {
        try checkInlinedFrames(language: "c", compilerArguments: ["-O2", "-g", "-gdwarf-5"], outer: "outer", inner: "inner")
    }

    func testCInlinedFramesDWARF4() throws {
        try checkInlinedFrames(language: "c", compilerArguments: ["-O2", "-g", "-gdwarf-4"], outer: "outer", inner: "inner")
    }

    /// GCC writes .debug_aranges, which the reader uses to find units without reading their DIEs.
    func testGCCInlinedFramesWithAddressRangeTable() throws {
        try checkInlinedFrames(language: "c", compilerArguments: ["-O2", "-g"], outer: "outer", inner: "inner",
                               compiler: "gcc", expectAddressRanges: true)
    }

    func testCompressedDebugSections() throws {
        try checkInlinedFrames(language: "c", compilerArguments: ["-O2", "-g", "-gdwarf-5", "-gz=zlib"],
                               outer: "outer", inner: "inner", expectCompressed: true)
    }

    /// Lines of `outer`'s body (calls to inner) and of `inner`'s body in both fixtures.
    private let outerCallLines: Set<Int> = [7, 8, 9, 10]
    private let innerBodyLines: ClosedRange<Int> = 2...6

    private func checkInlinedFrames(language: String, compilerArguments: [String], outer: String, inner: String,
                                    compiler: String? = nil, expectCompressed: Bool = false,
                                    expectAddressRanges: Bool = false) throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("symbolication-fixture-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = directory.appendingPathComponent(language == "swift" ? "fixture.swift" : "fixture.c")
        let binary = directory.appendingPathComponent("fixture")
        try (language == "swift" ? DWARFFixtureTests.swiftSource : DWARFFixtureTests.cSource)
            .write(to: source, atomically: true, encoding: .utf8)
        let compiler = compiler ?? (language == "swift" ? "swiftc" : "clang")
        let status = try run("/usr/bin/env", [compiler] + compilerArguments + [source.path, "-o", binary.path])
        guard status == 0 else { throw XCTSkip("\(compiler) failed to build the fixture (status \(status))") }

        let file = try XCTUnwrap(ELFFile.open(path: binary.path))
        let debugInfo = try XCTUnwrap(file.section(named: ".debug_info"))
        XCTAssertEqual(debugInfo.flags & ELFFile.sectionFlagCompressed != 0, expectCompressed)
        XCTAssertEqual(file.section(named: ".debug_aranges") != nil, expectAddressRanges)
        let symbols = ELFSymbolTable(file: file)
        let outerSymbol = try XCTUnwrap(symbols.symbols.first {
            SwiftNameFormatter.readableName(forSymbol: symbols.symbol(containing: $0.address)?.name ?? "") == outer
        }, "no symbol for \(outer)")
        let image = ImageSymbolizer(file: file)

        var sawInlined = false
        var address = outerSymbol.address
        while address < outerSymbol.address + max(outerSymbol.size, 1) {
            let frames = image.frames(at: address, bias: 0x1000)
            let physical = try XCTUnwrap(frames.last)
            XCTAssertEqual(physical.function, outer)
            XCTAssertFalse(physical.isInlined)
            XCTAssertEqual(physical.entry, UInt(outerSymbol.address) + 0x1000)
            XCTAssertEqual(physical.startLine, 8 - (language == "swift" ? 2 : 0))
            // Code the compiler synthesized is attributed to a real line of its function, or said to be
            // unknown ("" and 0), never "<compiler-generated>".
            XCTAssertTrue(physical.file.hasSuffix(source.lastPathComponent)
                          || (physical.file == "" && physical.line == 0), "\(frames)")
            XCTAssertTrue(frames.dropLast().allSatisfy(\.isInlined))
            // Optimized Swift also inlines standard-library code into `inner`, so the chain can be deeper;
            // the frame just above the physical one is the call `outer` made.
            if frames.count >= 2, frames[frames.count - 2].function == inner {
                sawInlined = true
                let inlined = frames[frames.count - 2]
                XCTAssertEqual(inlined.startLine, language == "swift" ? 1 : 3)
                XCTAssertTrue(inlined.file.hasSuffix(source.lastPathComponent)
                              || (inlined.file == "" && inlined.line == 0), inlined.file)
                if frames.count == 2 {
                    XCTAssertTrue(innerBodyLines.contains(inlined.line) || inlined.line == 0,
                                  "inner line \(inlined.line) at 0x\(String(address, radix: 16))")
                } else {
                    XCTAssertTrue(innerBodyLines.contains(inlined.line), "call line in inner: \(inlined.line)")
                }
                // The physical frame's line is the call site of the inlined call.
                XCTAssertTrue(outerCallLines.contains(physical.line), "call line \(physical.line)")
            }
            address += 1
        }
        XCTAssertTrue(sawInlined, "no address of \(outer) reported an inlined \(inner)")
    }

    private func run(_ tool: String, _ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}
