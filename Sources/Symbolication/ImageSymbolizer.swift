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
    private var readableNames: [String: (name: String, kind: FrameKind)] = [:]

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
    ///
    /// Compiler thunks are left out of the chain when real code was inlined into them (a `partial apply`
    /// forwarder holding a closure's body is reported as the closure); the innermost remaining frame then
    /// stands as the physical one. A PC that is nothing but thunk keeps its frame, marked `.thunk`, so stack
    /// filters can drop the whole PC.
    ///
    /// Code the compiler made up has line 0 in "<compiler-generated>"; such a location is attributed to the
    /// nearest real line of the same function's own code before it, else to the function's declaration. An
    /// inlined leaf with no line of its own at all (a wrapper the optimizer left around a call) is a thunk.
    func frames(at address: UInt64, bias: UInt) -> [SymbolicatedFrame] {
        loadIfNeeded()
        let symbol = symbols.symbol(containing: address)
        let location = lineLocation(of: address)
        let chain = scopes?.scopes(at: address, lineTable: lineTable) ?? []

        guard let outermost = chain.first else {
            guard let symbol else { return [] }
            let described = describe(symbol.name)
            var file = location?.file ?? ""
            var line = location?.line ?? 0
            if !Self.isRealLocation(file, line), let lineTable,
               let found = lineTable.nearestRealRow(before: address &+ 1, unit: nil, accept: { rowAddress, _ in rowAddress >= symbol.address }) {
                (file, line) = found
            }
            return [SymbolicatedFrame(function: described.name, systemName: symbol.name, file: file, line: line,
                                      entry: UInt(truncatingIfNeeded: symbol.address) &+ bias, kind: described.kind)]
        }
        // The physical function: for Swift, DWARF's subprogram whose ranges hold the address (right where
        // identical functions were folded and several symbols share the address); for C, the linker symbol
        // (DWARF names glibc's functions by internal aliases such as `__GI_qsort`).
        let physicalName = SwiftNameFormatter.isSwiftMangled(outermost.name) || symbol == nil ? outermost.name : symbol!.name
        let entryAddress = symbol.map { $0.address <= outermost.lowPC || outermost.lowPC == 0 ? $0.address : outermost.lowPC }
            ?? outermost.lowPC
        let entry = UInt(truncatingIfNeeded: entryAddress) &+ bias
        var frames: [SymbolicatedFrame] = []
        frames.reserveCapacity(chain.count)
        for depth in stride(from: chain.count - 1, through: 0, by: -1) {
            var scope = chain[depth]
            if !Self.isRealLocation(scope.declFile, 1), SwiftNameFormatter.isSwiftMangled(scope.name),
               let declared = scopes?.declaration(ofLinkageName: scope.name, lineTable: lineTable) {
                (scope.declFile, scope.declLine) = (declared.file, scope.declLine > 0 ? scope.declLine : declared.line)
            }
            let systemName = depth == 0 ? physicalName : scope.name
            var described = systemName.isEmpty ? (name: "?", kind: FrameKind.code) : describe(systemName)
            var file: String
            var line: Int
            let innermost = depth == chain.count - 1
            if innermost {
                file = location?.file ?? ""
                line = location?.line ?? 0
            } else {
                file = chain[depth + 1].callFile
                line = chain[depth + 1].callLine
            }
            if !Self.isRealLocation(file, line) {
                if let found = nearestOwnLine(of: scope, named: systemName, before: address,
                                              callee: innermost ? nil : chain[depth + 1]) {
                    (file, line) = found
                } else if innermost && depth > 0 && !FrameClassifier.isTrapReason(systemName) {
                    // (The compiler's `Swift runtime failure: <reason>` frame has no line either, but it
                    // is what names a trap: it stays, as a runtime frame that stacks hide.)
                    described.kind = .thunk
                } else if Self.isRealLocation(scope.declFile, scope.declLine) {
                    (file, line) = (scope.declFile, scope.declLine)
                }
            }
            frames.append(SymbolicatedFrame(
                function: described.name, systemName: systemName.isEmpty ? "?" : systemName,
                file: file, line: line, startLine: scope.declLine, entry: entry, isInlined: depth != 0,
                kind: described.kind))
        }
        // Inlined wrappers at the leaf end whose call into a thunk has no real line either are thunks too.
        for index in frames.indices.dropLast() {
            guard frames[index].kind == .thunk || (index > 0 && frames[index - 1].kind == .thunk
                                                   && !Self.isRealLocation(frames[index].file, frames[index].line)) else { break }
            frames[index].kind = .thunk
        }
        if frames.count > 1, frames.contains(where: { $0.kind == .thunk }), frames.contains(where: { $0.kind != .thunk }) {
            frames.removeAll { $0.kind == .thunk }
            frames[frames.count - 1].isInlined = false
        }
        // What is still unknown is said to be unknown ("?:0" in a traceback), never "<compiler-generated>".
        for index in frames.indices where !Self.isRealLocation(frames[index].file, frames[index].line) {
            frames[index].file = ""
            frames[index].line = 0
        }
        return frames
    }

    /// A file and line a reader can open: not "<compiler-generated>" (which line tables may join to the
    /// compilation directory), not line 0.
    static func isRealLocation(_ file: String, _ line: Int) -> Bool {
        line > 0 && !file.isEmpty && !file.contains("<compiler-generated>") && !file.hasPrefix("<")
    }

    /// The last real line of `scope`'s own code before `address` (before the inlined call `callee` when
    /// there is one): a row inside the scope's ranges, outside the callee's, in the scope's own file (its
    /// declaration file, or a Swift file for a Swift function whose declaration file DWARF does not give).
    private func nearestOwnLine(of scope: DWARFScopes.ScopeInfo, named name: String, before address: UInt64,
                                callee: DWARFScopes.ScopeInfo?) -> (String, Int)? {
        guard let lineTable else { return nil }
        var limit = address &+ 1
        if let callee {
            guard let start = callee.ranges.first(where: { $0.contains(address) })?.lowerBound else { return nil }
            limit = start
        }
        let ownFile = Self.isRealLocation(scope.declFile, 1) ? scope.declFile : nil
        let swift = SwiftNameFormatter.isSwiftMangled(name)
        let unit = scopes?.hasUnits == true ? scopes?.lineTableUnit(containing: address) : nil
        return lineTable.nearestRealRow(before: limit, unit: unit) { rowAddress, path in
            guard scope.ranges.contains(where: { $0.contains(rowAddress) }),
                  !(callee?.ranges.contains { $0.contains(rowAddress) } ?? false) else { return false }
            if let ownFile { return path == ownFile }
            return !swift || path.hasSuffix(".swift")
        }
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

    private func describe(_ symbol: String) -> (name: String, kind: FrameKind) {
        if let cached = readableNames[symbol] { return cached }
        let described = SwiftNameFormatter.describe(symbol: symbol)
        readableNames[symbol] = described
        return described
    }
}
