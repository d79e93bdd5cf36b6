#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Symbolization of addresses inside one ELF image (executable, shared library or the vDSO), in link-time
/// addresses. Each data structure is built the first time it is needed and kept:
/// - the symbol table (`.symtab`, else `.dynsym`) for names and entry addresses;
/// - the DWARF line table for file and line;
/// - the DWARF scopes for inlined calls and declaration lines.
/// When the image itself has no symbol table or no DWARF, a separate debug file found by build id under
/// `/usr/lib/debug/.build-id/` is used instead (Debian's `-dbgsym` packages install there).
/// Not thread-safe: the `Symbolizer` serializes access.
final class ImageSymbolizer {
    let file: ELFFile
    private var loaded = false
    private var symbols = ELFSymbolTable.empty
    private var lineTable: DWARFLineTable?
    private var scopes: DWARFScopes?
    private var readableNames: [String: String] = [:]

    init(file: ELFFile) {
        self.file = file
    }

    var buildID: String { file.buildID }

    private func loadIfNeeded() {
        guard !loaded else { return }
        loaded = true
        symbols = ELFSymbolTable(file: file)
        var dwarf = DWARFSections(file: file)
        let hasSymtab = file.sections.contains { $0.type == ELFFile.sectionTypeSymtab }
        if !dwarf.hasLineInfo || !hasSymtab, let debugFile = separateDebugFile() {
            if !hasSymtab {
                let debugSymbols = ELFSymbolTable(file: debugFile)
                if debugSymbols.symbols.count > symbols.symbols.count { symbols = debugSymbols }
            }
            if !dwarf.hasLineInfo {
                let debugDwarf = DWARFSections(file: debugFile)
                if debugDwarf.hasLineInfo { dwarf = debugDwarf }
            }
            // Symbols and DWARF sections point into the debug file's memory: keep it mapped.
            debugFileKeptAlive = debugFile
        }
        if dwarf.hasLineInfo { lineTable = DWARFLineTable(sections: dwarf) }
        if dwarf.hasInfo { scopes = DWARFScopes(sections: dwarf) }
    }

    /// Holds the mapping of a separate debug file whose sections the DWARF readers point into.
    private var debugFileKeptAlive: ELFFile?

    private func separateDebugFile() -> ELFFile? {
        let id = file.buildID
        guard id.count > 2 else { return nil }
        let path = "/usr/lib/debug/.build-id/\(id.prefix(2))/\(id.dropFirst(2)).debug"
        guard access(path, R_OK) == 0, let debugFile = ELFFile.open(path: path), debugFile.buildID == id else { return nil }
        return debugFile
    }

    /// Frames for link-time address `address`, innermost first; `bias` turns link-time into runtime
    /// addresses (for `entry`). Empty when the image knows nothing about the address.
    func frames(at address: UInt64, bias: UInt) -> [SymbolicatedFrame] {
        loadIfNeeded()
        let symbol = symbols.symbol(containing: address)
        let location = lineLocation(of: address)
        let chain = scopes?.scopes(at: address, lineTable: lineTable) ?? []

        guard let outermost = chain.first else {
            guard let symbol else { return [] }
            return [SymbolicatedFrame(function: readableName(symbol.name), systemName: symbol.name,
                                      file: location?.file ?? "", line: location?.line ?? 0,
                                      entry: UInt(truncatingIfNeeded: symbol.address) &+ bias)]
        }
        // The physical function: the linker symbol when there is one (it matches `entry`), else DWARF's name.
        let physicalName = symbol?.name ?? outermost.name
        let entry = UInt(truncatingIfNeeded: symbol?.address ?? outermost.lowPC) &+ bias
        var frames: [SymbolicatedFrame] = []
        frames.reserveCapacity(chain.count)
        for depth in stride(from: chain.count - 1, through: 0, by: -1) {
            let scope = chain[depth]
            let systemName = depth == 0 ? physicalName : scope.name
            let file: String
            let line: Int
            if depth == chain.count - 1 {
                file = location?.file ?? ""
                line = location?.line ?? 0
            } else {
                file = chain[depth + 1].callFile
                line = chain[depth + 1].callLine
            }
            frames.append(SymbolicatedFrame(
                function: systemName.isEmpty ? "?" : readableName(systemName),
                systemName: systemName.isEmpty ? "?" : systemName,
                file: file, line: line, startLine: scope.declLine, entry: entry, isInlined: depth != 0))
        }
        return frames
    }

    /// The line table row for `address`. With compile units to go by, only the unit holding the address is
    /// decoded, and an address no unit claims (padding, PLT stubs) has no line; only images with line
    /// programs but no .debug_info fall back to indexing every line program.
    private func lineLocation(of address: UInt64) -> (file: String, line: Int)? {
        guard let lineTable else { return nil }
        if let scopes, scopes.hasUnits {
            guard let unit = scopes.lineTableUnit(containing: address) else { return nil }
            return lineTable.location(of: address, unit: unit)
        }
        return lineTable.location(of: address, unit: nil)
    }

    private func readableName(_ symbol: String) -> String {
        if let cached = readableNames[symbol] { return cached }
        let name = SwiftNameFormatter.readableName(forSymbol: symbol)
        readableNames[symbol] = name
        return name
    }
}
