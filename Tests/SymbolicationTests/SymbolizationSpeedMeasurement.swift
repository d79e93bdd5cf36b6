import Foundation
@_spi(Internal) import Runtime
import XCTest
@testable import Symbolication

/// Prints how long symbolization takes; it asserts nothing about time (speed is measured, not tested).
/// Runs only with SYMBOLICATION_MEASURE=1 so ordinary test runs stay fast:
///   SYMBOLICATION_MEASURE=1 swift test --filter SymbolizationSpeedMeasurement
final class SymbolizationSpeedMeasurement: XCTestCase {
    func testMeasureUniquePCs() throws {
        guard ProcessInfo.processInfo.environment["SYMBOLICATION_MEASURE"] == "1" else {
            throw XCTSkip("set SYMBOLICATION_MEASURE=1 to print symbolization timings")
        }
        // 5,000 distinct PCs spread over the test binary (with DWARF), libswiftCore, libFoundation and libc,
        // like a heap profile of a large service.
        let mappings = Symbolizer.shared.mappings()
        let interesting = mappings.filter {
            $0 == mappings[0] || $0.path.hasSuffix("libswiftCore.so") || $0.path.hasSuffix("libFoundation.so")
                || $0.path.hasSuffix("libFoundationEssentials.so") || $0.path.contains("libc.so")
        }
        let total = interesting.reduce(0) { $0 + Int($1.limit - $1.start) }
        var pcs: [UInt] = []
        for mapping in interesting {
            let share = max(1, 5000 * Int(mapping.limit - mapping.start) / total)
            let step = max(1, Int(mapping.limit - mapping.start) / share)
            pcs += stride(from: mapping.start + 3, to: mapping.limit, by: step).prefix(share)
        }
        pcs = Array(Set(pcs)).sorted()

        func time(_ body: () -> Void) -> Double {
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        }
        // A fatal dump's worth: 50 PCs, cold, in a fresh symbolizer.
        let fiftyPCs = Array(stride(from: 0, to: pcs.count, by: max(1, pcs.count / 50)).map { pcs[$0] }.prefix(50))
        let coldFifty = time { _ = Symbolizer().frames(at: fiftyPCs) }
        let symbolizer = Symbolizer()
        var named = 0
        let cold = time { named = symbolizer.frames(at: pcs).filter { $0.last!.function != "?" }.count }
        let warm = time { _ = symbolizer.frames(at: pcs) }
        let warmSingles = time { for pc in pcs { _ = symbolizer.frames(at: pc) } }
        let fresh = Symbolizer()
        _ = fresh.mappings()
        let coldAfterMaps = time { _ = fresh.frames(at: pcs) }
        // A goroutine dump: 100,000 stacks over ~50 unique PCs, each frame looked up.
        let hot = Array(pcs.prefix(50))
        let dumpPCs = (0..<100_000).map { hot[$0 % hot.count] }
        let dump = time { _ = symbolizer.frames(at: dumpPCs) }
        var breakdown = ""
        for path in Set(interesting.map(\.path)) {
            var file: ELFFile?
            let open = time { file = ELFFile.open(path: path) }
            guard let file else { continue }
            var symbols = 0
            let table = time { symbols = ELFSymbolTable(file: file).symbols.count }
            let sections = DWARFSections(file: file)
            var lineRows = 0
            let lines = time {
                guard sections.hasLineInfo else { return }
                let table = DWARFLineTable(sections: sections)
                _ = table.location(of: 0, unit: nil)  // decodes every unit
                lineRows = table.rows.count
            }
            let scopes = time { if sections.hasInfo { _ = DWARFScopes(sections: sections) } }
            // Everything an image loads on its first lookup, including a separate debug file if installed.
            let image = ImageSymbolizer(file: file)
            let textStart = file.section(named: ".text")?.address ?? 0
            let firstLookup = time { _ = image.frames(at: textStart + 64, bias: 0) }
            breakdown += "  \((path as NSString).lastPathComponent): first lookup (all tables) "
                + "\(String(format: "%.2f", firstLookup)) ms\n"
            breakdown += "  \((path as NSString).lastPathComponent): open \(String(format: "%.2f", open)) ms, "
                + "\(symbols) symbols \(String(format: "%.2f", table)) ms, \(lineRows) line rows (all units) "
                + "\(String(format: "%.2f", lines)) ms, unit index \(String(format: "%.2f", scopes)) ms\n"
        }
        let names = Set(symbolizer.frames(at: pcs).flatMap { $0.map(\.systemName) })
        var demangled: [String] = []
        let demangle = time { demangled = names.compactMap { SwiftNameFormatter.demangleSwift($0) } }
        let shorten = time { for name in demangled { _ = SwiftNameFormatter.simplify(name) } }
        breakdown += "  \(names.count) distinct symbols: swift_demangle \(String(format: "%.2f", demangle)) ms, "
            + "shortening \(String(format: "%.2f", shorten)) ms\n"
        // The same PCs through the toolchain's Runtime module, for comparison (option (a) in the design).
        // Takes seconds, hence its own switch.
        if ProcessInfo.processInfo.environment["SYMBOLICATION_MEASURE_RUNTIME"] == "1" {
        let images = ImageMap.capture()
        #if arch(x86_64)
        let architecture = "x86_64"
        #else
        let architecture = "arm64"
        #endif
        let backtrace = Backtrace(architecture: architecture, frames: pcs.map { RichFrame<UInt>.programCounter($0) },
                                  images: images)
        var runtimeNamed = 0
        let runtimeFull = time {
            runtimeNamed = backtrace.symbolicated(with: images, options: .default)?.frames
                .filter { $0.symbol != nil && !$0.inlined }.count ?? 0
        }
        let runtimeFullAgain = time { _ = backtrace.symbolicated(with: images, options: .default) }
        let runtimeNamesOnly = time { _ = backtrace.symbolicated(with: images, options: [.useSymbolCache]) }
        breakdown += "  Runtime module: .default (inline + lines) \(String(format: "%.1f", runtimeFull)) ms "
            + "(\(runtimeNamed) named), again \(String(format: "%.1f", runtimeFullAgain)) ms, "
            + "names only \(String(format: "%.1f", runtimeNamesOnly)) ms\n"
        }
        print("""
            symbolization: \(pcs.count) unique PCs (\(named) named) over \(interesting.count) mappings
              cold batch (fresh symbolizer, opens images, parses symbols/DWARF): \(String(format: "%.1f", cold)) ms
              cold, 50 PCs spread the same way: \(String(format: "%.1f", coldFifty)) ms
              cold batch after mappings() already loaded: \(String(format: "%.1f", coldAfterMaps)) ms
              warm batch: \(String(format: "%.2f", warm)) ms
              warm one-by-one: \(String(format: "%.2f", warmSingles)) ms
              100,000 lookups of 50 unique PCs (batch): \(String(format: "%.2f", dump)) ms
            """)
        print(breakdown)
    }
}
