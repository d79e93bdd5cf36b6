import Foundation
import XCTest
@testable import Symbolication

/// The symbolizer opens every library mapped into the process, so odd files must cost their symbols,
/// never the process. These tests feed it truncated and corrupted copies of a real binary with DWARF.
final class MalformedELFTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("symbolication-malformed-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    func testNonELFInputIsRejected() throws {
        XCTAssertNil(ELFFile.open(path: directory.path), "a directory")
        XCTAssertNil(ELFFile.open(path: directory.appendingPathComponent("missing").path))
        for (name, bytes) in [("empty", [UInt8]()), ("short", [0x7f, 0x45, 0x4c, 0x46, 2, 1]),
                              ("text", Array("#!/bin/sh\necho hello, this is not an ELF file at all........\n".utf8)),
                              ("elf32", [0x7f, 0x45, 0x4c, 0x46, 1, 1, 1] + [UInt8](repeating: 0, count: 60))] {
            let url = directory.appendingPathComponent(name)
            try Data(bytes).write(to: url)
            XCTAssertNil(ELFFile.open(path: url.path), name)
        }
    }

    func testCorruptedCopiesNeverCrash() throws {
        for (dwarfVersion, compressed) in [(4, false), (5, false), (5, true)] {
            let original = try buildFixture(dwarfVersion: dwarfVersion, compressed: compressed)
            let bytes = try [UInt8](Data(contentsOf: original))
            let pristine = try XCTUnwrap(ELFFile.open(path: original.path))
            let text = try XCTUnwrap(pristine.section(named: ".text"))
            let probes = stride(from: text.address, to: text.address + text.size, by: 7).map { $0 }
            XCTAssertTrue(ImageSymbolizer(file: pristine).frames(at: probes[probes.count / 2], bias: 0).contains { !$0.function.isEmpty })

            // Regions worth hitting: the ELF header, the section headers, and each DWARF section.
            var regions: [Range<Int>] = [0..<64]
            let sectionHeaders = Int(bytes[40]) | Int(bytes[41]) << 8 | Int(bytes[42]) << 16 | Int(bytes[43]) << 24
            regions.append(sectionHeaders..<min(bytes.count, sectionHeaders + pristine.sections.count * 64))
            for section in pristine.sections where section.name.hasPrefix(".debug_") || section.name.hasSuffix("symtab") {
                let start = Int(section.offset)
                if section.size > 0, start < bytes.count { regions.append(start..<min(bytes.count, start + Int(section.size))) }
            }

            var random = SplitMix64(seed: UInt64(dwarfVersion) * 0x9e37_79b9 + (compressed ? 1 : 0))
            for iteration in 0..<400 {
                var mutated = bytes
                switch iteration % 4 {
                case 0:
                    mutated.removeSubrange(Int(random.next() % UInt64(bytes.count))...)
                default:
                    let region = regions[Int(random.next() % UInt64(regions.count))]
                    guard !region.isEmpty else { continue }
                    for _ in 0..<(1 + random.next() % 24) {
                        let index = region.lowerBound + Int(random.next() % UInt64(region.count))
                        mutated[index] = iteration % 4 == 3 ? 0xff : UInt8(truncatingIfNeeded: random.next())
                    }
                }
                let url = directory.appendingPathComponent("mutant-\(dwarfVersion)-\(compressed)-\(iteration)")
                try Data(mutated).write(to: url)
                if let file = ELFFile.open(path: url.path) {
                    _ = file.buildID
                    let image = ImageSymbolizer(file: file)
                    for probe in probes where probe % 5 == UInt64(iteration % 5) {
                        _ = image.frames(at: probe, bias: 0)
                    }
                }
                try? FileManager.default.removeItem(at: url)
            }
        }
    }

    private func buildFixture(dwarfVersion: Int, compressed: Bool) throws -> URL {
        let source = directory.appendingPathComponent("fixture\(dwarfVersion).c")
        try """
            #include <stdio.h>
            static inline __attribute__((always_inline)) int inner(int x) { int t = x; for (int i = 0; i < x; i++) t = t * 31 + i; return t; }
            __attribute__((noinline)) int outer(int n) { return inner(n) + inner(n + 1); }
            int main(int argc, char **argv) { (void)argv; printf("%d\\n", outer(argc)); return 0; }
            """.write(to: source, atomically: true, encoding: .utf8)
        let binary = directory.appendingPathComponent("fixture\(dwarfVersion)\(compressed ? "z" : "")")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["clang", "-O2", "-g", "-gdwarf-\(dwarfVersion)", compressed ? "-gz=zlib" : "-gz=none",
                             source.path, "-o", binary.path]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw XCTSkip("clang could not build the fixture") }
        return binary
    }
}

/// A tiny deterministic generator, so a failing mutation can be reproduced.
private struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
