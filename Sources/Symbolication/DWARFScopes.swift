/// Function scopes from `.debug_info`: which function (and which chain of inlined calls) holds an address,
/// with the declaration line of each function and the call site of each inlined call.
///
/// Units are indexed by address range up front (from `.debug_aranges` when the compiler wrote it, else
/// from each unit's root DIE), but a unit's full DIE tree is decoded only when an address inside it is
/// first asked for, and then kept. Inside a unit, top-level function
/// scopes are sorted by address, so a lookup is a binary search plus a short scan of that one function's
/// inlined calls.
final class DWARFScopes {
    /// What the symbolizer needs about one function or inlined call holding an address.
    struct ScopeInfo {
        /// Mangled linkage name when DWARF has one, else the plain name; "" when neither is known.
        var name: String
        var declLine: Int
        /// The file the function is declared in ("" when unknown).
        var declFile: String
        /// For inlined calls: where the call was made (file and line in the caller).
        var callFile: String
        var callLine: Int
        /// Link-time entry address of the scope's first range (the function start for top-level scopes).
        var lowPC: UInt64
        /// Every address range of the scope.
        var ranges: [Range<UInt64>]
    }

    private struct Unit {
        var offset: Int  // of the unit header in .debug_info
        var dieStart: Int
        var end: Int
        var format: DWARFUnitFormat
        var abbrevOffset: Int
        var addrBase: UInt64 = 0
        var strOffsetsBase: UInt64 = 0
        var rnglistsBase: UInt64 = 0
        var baseAddress: UInt64 = 0
        var stmtList: UInt64?
        /// The root DIE (bases, line table, ranges) is read on demand when .debug_aranges covers the unit.
        var rootRead = false
    }

    private struct Scope {
        var ranges: [Range<UInt64>]
        var parent: Int  // index of the enclosing scope in the same unit, -1 for top level
        var subtreeEnd: Int  // one past the last scope nested inside this one
        var nameReference: UInt64?  // abstract_origin or specification
        var name: String
        var declLine: Int
        var declFile: UInt64
        var callFile: UInt64
        var callLine: Int
        var isInlined: Bool

        func contains(_ address: UInt64) -> Bool {
            ranges.contains { $0.contains(address) }
        }
    }

    private struct DecodedUnit {
        var scopes: [Scope] = []
        /// Top-level scopes by start address: (start, end, scope index).
        var functions: [(start: UInt64, end: UInt64, scope: Int)] = []
    }

    private struct Abbreviation {
        var tag: UInt64
        var hasChildren: Bool
        var attributes: [(name: UInt64, form: UInt64, implicitConstant: Int64)]
    }

    private enum Tag {
        static let compileUnit: UInt64 = 0x11
        static let partialUnit: UInt64 = 0x3c
        static let subprogram: UInt64 = 0x2e
        static let inlinedSubroutine: UInt64 = 0x1d
    }

    private enum Attribute {
        static let name: UInt64 = 0x03
        static let stmtList: UInt64 = 0x10
        static let lowPC: UInt64 = 0x11
        static let highPC: UInt64 = 0x12
        static let abstractOrigin: UInt64 = 0x31
        static let declFile: UInt64 = 0x3a
        static let declLine: UInt64 = 0x3b
        static let specification: UInt64 = 0x47
        static let ranges: UInt64 = 0x55
        static let callFile: UInt64 = 0x58
        static let callLine: UInt64 = 0x59
        static let linkageName: UInt64 = 0x6e
        static let strOffsetsBase: UInt64 = 0x72
        static let addrBase: UInt64 = 0x73
        static let rnglistsBase: UInt64 = 0x74
        static let mipsLinkageName: UInt64 = 0x2007
        static let gnuRangesBase: UInt64 = 0x2132
        static let gnuAddrBase: UInt64 = 0x2133
    }

    private let sections: DWARFSections
    private var units: [Unit] = []
    /// Unit address ranges, sorted by start: (start, end, unit index).
    private var unitRanges: [(start: UInt64, end: UInt64, unit: Int)] = []
    private var decodedUnits: [Int: DecodedUnit] = [:]
    private var abbreviationTables: [Int: [UInt64: Abbreviation]] = [:]
    private var namesByReference: [UInt64: ResolvedName] = [:]

    private struct ResolvedName {
        var name: String
        var declLine: Int
        var declFile: String
    }

    init(sections: DWARFSections) {
        self.sections = sections
        guard let info = sections.info else { return }
        var reader = info
        while reader.remaining > 11 {
            let unitOffset = reader.offset
            guard let (length, is64Bit) = try? reader.dwarfUnitLength(), length <= reader.remaining else { break }
            let end = reader.offset + length
            if let unit = try? readUnitHeader(&reader, offset: unitOffset, end: end, is64Bit: is64Bit) {
                units.append(unit)
            }
            reader.offset = end
        }
        // .debug_aranges (GCC writes it; clang and swiftc do not) maps addresses to units without reading
        // their DIEs; only units it does not cover need their root DIE read now.
        let covered = readAddressRangeTable()
        for index in units.indices where !covered.contains(index) {
            readRootIfNeeded(index, addingRanges: true)
        }
        unitRanges.sort { $0.start < $1.start }
    }

    private func readRootIfNeeded(_ index: Int, addingRanges: Bool = false) {
        guard !units[index].rootRead else { return }
        var unit = units[index]
        unit.rootRead = true
        try? readUnitRoot(&unit, unitIndex: index, addingRanges: addingRanges)
        units[index] = unit
    }

    /// Reads .debug_aranges into `unitRanges`; returns the indices of the units it covers.
    private func readAddressRangeTable() -> Set<Int> {
        guard var reader = sections.aranges else { return [] }
        var covered = Set<Int>()
        while reader.remaining > 4 {
            let setStart = reader.offset
            guard let (length, is64Bit) = try? reader.dwarfUnitLength(), length <= reader.remaining else { break }
            let setEnd = reader.offset + length
            defer { reader.offset = setEnd }
            guard let version = try? reader.u16(), version == 2,
                  let infoOffset = try? reader.unsigned(size: is64Bit ? 8 : 4),
                  let addressSize = try? reader.u8(), addressSize == 4 || addressSize == 8,
                  let segmentSize = try? reader.u8(), segmentSize == 0,
                  let unitIndex = unitIndex(atOffset: Int(clamping: infoOffset))
            else { continue }
            // Tuples start at a multiple of twice the address size from the start of the set.
            let tupleSize = 2 * Int(addressSize)
            reader.offset = setStart + (reader.offset - setStart + tupleSize - 1) / tupleSize * tupleSize
            var any = false
            while reader.offset + tupleSize <= setEnd {
                guard let start = try? reader.unsigned(size: Int(addressSize)),
                      let size = try? reader.unsigned(size: Int(addressSize)) else { break }
                if start == 0 && size == 0 { break }
                if start != 0, size > 0, start &+ size > start {
                    unitRanges.append((start, start + size, unitIndex))
                    any = true
                }
            }
            if any { covered.insert(unitIndex) }
        }
        return covered
    }

    /// True when .debug_info has compile units with address ranges.
    var hasUnits: Bool { !unitRanges.isEmpty }

    /// The .debug_line offset of the compile unit holding `address`, nil when no unit claims it.
    func lineTableUnit(containing address: UInt64) -> UInt64? {
        guard let index = unitIndex(containing: address) else { return nil }
        readRootIfNeeded(index)
        return units[index].stmtList
    }

    private func readUnitHeader(_ reader: inout ByteReader, offset: Int, end: Int, is64Bit: Bool)
        throws(MalformedData) -> Unit {
        let version = try reader.u16()
        guard (2...5).contains(version) else { throw MalformedData("unit version \(version)") }
        var addressSize: Int
        var abbrevOffset: UInt64
        if version >= 5 {
            let unitType = try reader.u8()
            guard unitType == 1 || unitType == 3 else { throw MalformedData("not a compile unit") }
            addressSize = Int(try reader.u8())
            abbrevOffset = try reader.unsigned(size: is64Bit ? 8 : 4)
        } else {
            abbrevOffset = try reader.unsigned(size: is64Bit ? 8 : 4)
            addressSize = Int(try reader.u8())
        }
        guard addressSize == 4 || addressSize == 8 else { throw MalformedData("address size \(addressSize)") }
        let format = DWARFUnitFormat(version: version, is64Bit: is64Bit, addressSize: addressSize,
                                     unitOffset: UInt64(offset))
        return Unit(offset: offset, dieStart: reader.offset, end: end, format: format,
                    abbrevOffset: Int(clamping: abbrevOffset))
    }

    /// Reads the unit's root DIE for its bases, line table and address ranges.
    private func readUnitRoot(_ unit: inout Unit, unitIndex: Int, addingRanges: Bool) throws(MalformedData) {
        guard let info = sections.info else { return }
        var reader = try info.slice(from: 0, length: unit.end)
        reader.offset = unit.dieStart
        let abbreviations = try abbreviationTable(at: unit.abbrevOffset)
        let code = try reader.uleb128()
        guard let abbreviation = abbreviations[code],
              abbreviation.tag == Tag.compileUnit || abbreviation.tag == Tag.partialUnit else { return }
        var lowPC: DWARFValue?
        var highPC: DWARFValue?
        var ranges: DWARFValue?
        for spec in abbreviation.attributes {
            let value = try reader.dwarfValue(form: spec.form, format: unit.format, implicitConstant: spec.implicitConstant)
            switch spec.name {
            case Attribute.lowPC: lowPC = value
            case Attribute.highPC: highPC = value
            case Attribute.ranges: ranges = value
            case Attribute.stmtList: unit.stmtList = value.unsignedValue
            case Attribute.addrBase, Attribute.gnuAddrBase: unit.addrBase = value.unsignedValue ?? 0
            case Attribute.strOffsetsBase: unit.strOffsetsBase = value.unsignedValue ?? 0
            case Attribute.rnglistsBase, Attribute.gnuRangesBase: unit.rnglistsBase = value.unsignedValue ?? 0
            default: break
            }
        }
        if let lowPC, let low = sections.address(lowPC, addrBase: unit.addrBase, format: unit.format) {
            unit.baseAddress = low
        }
        guard addingRanges else { return }
        for range in addressRanges(lowPC: lowPC, highPC: highPC, ranges: ranges, unit: unit) {
            unitRanges.append((range.lowerBound, range.upperBound, unitIndex))
        }
    }

    private func abbreviationTable(at offset: Int) throws(MalformedData) -> [UInt64: Abbreviation] {
        if let cached = abbreviationTables[offset] { return cached }
        guard let section = sections.abbrev else { throw MalformedData("no .debug_abbrev") }
        var reader = section
        try reader.seek(to: offset)
        var table: [UInt64: Abbreviation] = [:]
        while true {
            let code = try reader.uleb128()
            if code == 0 { break }
            let tag = try reader.uleb128()
            let hasChildren = try reader.u8() != 0
            var attributes: [(UInt64, UInt64, Int64)] = []
            while true {
                let name = try reader.uleb128()
                let form = try reader.uleb128()
                if name == 0 && form == 0 { break }
                let implicitConstant = form == DWARFForm.implicitConst ? try reader.sleb128() : 0
                attributes.append((name, form, implicitConstant))
            }
            table[code] = Abbreviation(tag: tag, hasChildren: hasChildren, attributes: attributes)
        }
        abbreviationTables[offset] = table
        return table
    }

    // MARK: Ranges

    private func addressRanges(lowPC: DWARFValue?, highPC: DWARFValue?, ranges: DWARFValue?, unit: Unit)
        -> [Range<UInt64>] {
        if let ranges { return rangeList(ranges, unit: unit) }
        guard let lowPC, let highPC, let low = sections.address(lowPC, addrBase: unit.addrBase, format: unit.format)
        else { return [] }
        let high: UInt64
        switch highPC {
        case .unsigned(let length): high = low &+ length  // DWARF 4+: a constant high_pc is a length
        case .signed(let length): high = low &+ UInt64(bitPattern: length)
        default:
            guard let absolute = sections.address(highPC, addrBase: unit.addrBase, format: unit.format) else { return [] }
            high = absolute
        }
        return low != 0 && low < high ? [low..<high] : []
    }

    private func rangeList(_ value: DWARFValue, unit: Unit) -> [Range<UInt64>] {
        var result: [Range<UInt64>] = []
        if unit.format.version >= 5 {
            guard var lists = sections.rnglists else { return [] }
            var offset: UInt64
            switch value {
            case .unsigned(let direct): offset = direct
            case .rangeListIndex(let index):
                let position = unit.rnglistsBase &+ index &* UInt64(unit.format.offsetSize)
                guard position < UInt64(lists.count), (try? lists.seek(to: Int(position))) != nil,
                      let relative = try? lists.unsigned(size: unit.format.offsetSize) else { return [] }
                offset = unit.rnglistsBase &+ relative
            default: return []
            }
            guard offset < UInt64(lists.count), (try? lists.seek(to: Int(offset))) != nil else { return [] }
            var base = unit.baseAddress
            let size = unit.format.addressSize
            func indexed(_ index: UInt64) -> UInt64? {
                sections.address(.addressIndex(index), addrBase: unit.addrBase, format: unit.format)
            }
            func add(_ low: UInt64?, _ high: UInt64?) {
                if let low, let high, low != 0, low < high { result.append(low..<high) }
            }
            do {
                loop: for _ in 0..<100_000 {
                    switch try lists.u8() {
                    case 0: break loop  // end_of_list
                    case 1: base = indexed(try lists.uleb128()) ?? base  // base_addressx
                    case 2: add(indexed(try lists.uleb128()), indexed(try lists.uleb128()))  // startx_endx
                    case 3:  // startx_length
                        let start = indexed(try lists.uleb128())
                        let length = try lists.uleb128()
                        add(start, start.map { $0 &+ length })
                    case 4:  // offset_pair
                        let low = try lists.uleb128()
                        let high = try lists.uleb128()
                        add(base &+ low, base &+ high)
                    case 5: base = try lists.unsigned(size: size)  // base_address
                    case 6: add(try lists.unsigned(size: size), try lists.unsigned(size: size))  // start_end
                    case 7:  // start_length
                        let start = try lists.unsigned(size: size)
                        add(start, start &+ (try lists.uleb128()))
                    default: break loop
                    }
                }
            } catch {}
        } else {
            guard var lists = sections.ranges, let offset = value.unsignedValue, offset < UInt64(lists.count),
                  (try? lists.seek(to: Int(offset))) != nil else { return [] }
            let size = unit.format.addressSize
            let baseSelector: UInt64 = size == 8 ? UInt64.max : UInt64(UInt32.max)
            var base = unit.baseAddress
            for _ in 0..<100_000 {
                guard let low = try? lists.unsigned(size: size), let high = try? lists.unsigned(size: size) else { break }
                if low == 0 && high == 0 { break }
                if low == baseSelector { base = high; continue }
                let start = base &+ low
                let end = base &+ high
                if start != 0, start < end { result.append(start..<end) }
            }
        }
        return result
    }

    // MARK: Lookup

    /// The scopes holding link-time address `address`, outermost (the physical function) first, or [] when
    /// DWARF does not describe it.
    func scopes(at address: UInt64, lineTable: DWARFLineTable?) -> [ScopeInfo] {
        guard let unitIndex = unitIndex(containing: address) else { return [] }
        readRootIfNeeded(unitIndex)
        let decoded: DecodedUnit
        if let cached = decodedUnits[unitIndex] {
            decoded = cached
        } else {
            decoded = (try? decode(unit: units[unitIndex])) ?? DecodedUnit()
            decodedUnits[unitIndex] = decoded
        }
        // The top-level function: last one starting at or below the address that covers it.
        var low = 0
        var high = decoded.functions.count
        while low < high {
            let mid = (low + high) / 2
            if decoded.functions[mid].start <= address { low = mid + 1 } else { high = mid }
        }
        var top: Int?
        var candidate = low - 1
        while candidate >= 0, candidate >= low - 8 {
            if address < decoded.functions[candidate].end { top = decoded.functions[candidate].scope; break }
            candidate -= 1
        }
        guard let top else { return [] }
        // The deepest inlined call covering the address, then its parents up to the function.
        var deepest = top
        let topScope = decoded.scopes[top]
        if top + 1 < topScope.subtreeEnd {
            for index in (top + 1)..<topScope.subtreeEnd
                where decoded.scopes[index].isInlined && decoded.scopes[index].contains(address) {
                deepest = index
            }
        }
        var chain: [Int] = []
        var current = deepest
        while current >= top {
            chain.append(current)
            if current == top { break }
            current = decoded.scopes[current].parent
            if current < 0 { break }
        }
        let unit = units[unitIndex]
        return chain.reversed().map { index in
            let scope = decoded.scopes[index]
            var name = scope.name
            var declLine = scope.declLine
            var declFile = scope.declFile != 0 && unit.stmtList != nil
                ? lineTable?.filePath(unit: unit.stmtList!, index: scope.declFile) ?? "" : ""
            if let reference = scope.nameReference {
                let resolved = resolveName(reference: reference, depth: 0, lineTable: lineTable)
                if name.isEmpty { name = resolved.name }
                if declLine == 0 { declLine = resolved.declLine }
                if declFile.isEmpty { declFile = resolved.declFile }
            }
            let callFile = scope.isInlined && unit.stmtList != nil
                ? lineTable?.filePath(unit: unit.stmtList!, index: scope.callFile) ?? "" : ""
            return ScopeInfo(name: name, declLine: declLine, declFile: declFile, callFile: callFile, callLine: scope.callLine,
                             lowPC: scope.ranges.first?.lowerBound ?? 0, ranges: scope.ranges)
        }
    }

    private func unitIndex(containing address: UInt64) -> Int? {
        var low = 0
        var high = unitRanges.count
        while low < high {
            let mid = (low + high) / 2
            if unitRanges[mid].start <= address { low = mid + 1 } else { high = mid }
        }
        var candidate = low - 1
        while candidate >= 0, candidate >= low - 16 {
            if address < unitRanges[candidate].end { return unitRanges[candidate].unit }
            candidate -= 1
        }
        return nil
    }

    private struct CollectedAttributes {
        var name: String = ""
        var linkageName: String = ""
        var lowPC: DWARFValue?
        var highPC: DWARFValue?
        var ranges: DWARFValue?
        var reference: UInt64?
        var declLine = 0
        var declFile: UInt64 = 0
        var callFile: UInt64 = 0
        var callLine = 0
    }

    private func collect(_ reader: inout ByteReader, _ abbreviation: Abbreviation, unit: Unit, keep: Bool)
        throws(MalformedData) -> CollectedAttributes {
        var collected = CollectedAttributes()
        for spec in abbreviation.attributes {
            let value = try reader.dwarfValue(form: spec.form, format: unit.format, implicitConstant: spec.implicitConstant)
            guard keep else { continue }
            switch spec.name {
            case Attribute.name:
                collected.name = sections.string(value, strOffsetsBase: unit.strOffsetsBase, format: unit.format) ?? ""
            case Attribute.linkageName, Attribute.mipsLinkageName:
                collected.linkageName = sections.string(value, strOffsetsBase: unit.strOffsetsBase, format: unit.format) ?? ""
            case Attribute.lowPC: collected.lowPC = value
            case Attribute.highPC: collected.highPC = value
            case Attribute.ranges: collected.ranges = value
            case Attribute.abstractOrigin, Attribute.specification:
                if case .reference(let target) = value { collected.reference = target }
            case Attribute.declLine: collected.declLine = Int(clamping: value.unsignedValue ?? 0)
            case Attribute.declFile: collected.declFile = value.unsignedValue ?? 0
            case Attribute.callFile: collected.callFile = value.unsignedValue ?? 0
            case Attribute.callLine: collected.callLine = Int(clamping: value.unsignedValue ?? 0)
            default: break
            }
        }
        return collected
    }

    /// Where a Swift function is declared, for a function DWARF describes only by a declaration without a
    /// file (the copy of a generic function specialized into, and inlined in, another module). Found by
    /// its linkage name, or the longest declared linkage name it starts with (a specialization's mangled
    /// name is the generic function's plus the specialization's suffix). The index of every subprogram
    /// declaration is built on first use, once.
    func declaration(ofLinkageName name: String, lineTable: DWARFLineTable?) -> (file: String, line: Int)? {
        if declarations == nil { declarations = buildDeclarationIndex() }
        guard let declarations, let lineTable else { return nil }
        var candidate = Substring(name)
        while candidate.count > 4 {
            if let found = declarations[candidate] {
                let path = lineTable.filePath(unit: found.stmtList, index: found.file)
                return path.isEmpty ? nil : (path, found.line)
            }
            candidate = candidate.dropLast()
        }
        return nil
    }

    private var declarations: [Substring: (stmtList: UInt64, file: UInt64, line: Int)]?

    private func buildDeclarationIndex() -> [Substring: (stmtList: UInt64, file: UInt64, line: Int)] {
        var index: [Substring: (stmtList: UInt64, file: UInt64, line: Int)] = [:]
        guard let info = sections.info else { return index }
        for unitIndex in units.indices {
            readRootIfNeeded(unitIndex)
            let unit = units[unitIndex]
            guard let stmtList = unit.stmtList, var reader = try? info.slice(from: 0, length: unit.end),
                  let abbreviations = try? abbreviationTable(at: unit.abbrevOffset) else { continue }
            reader.offset = unit.dieStart
            while reader.offset < unit.end {
                guard let code = try? reader.uleb128() else { break }
                if code == 0 { continue }
                guard let abbreviation = abbreviations[code],
                      let attributes = try? collect(&reader, abbreviation, unit: unit,
                                                    keep: abbreviation.tag == Tag.subprogram) else { break }
                if abbreviation.tag == Tag.subprogram, !attributes.linkageName.isEmpty, attributes.declFile != 0,
                   attributes.declLine > 0, index[Substring(attributes.linkageName)] == nil {
                    index[Substring(attributes.linkageName)] = (stmtList, attributes.declFile, attributes.declLine)
                }
            }
        }
        return index
    }

    private func decode(unit: Unit) throws(MalformedData) -> DecodedUnit {
        guard let info = sections.info else { return DecodedUnit() }
        var reader = try info.slice(from: 0, length: unit.end)
        reader.offset = unit.dieStart
        let abbreviations = try abbreviationTable(at: unit.abbrevOffset)
        var decoded = DecodedUnit()
        // Open DIEs with children: the scope index each one is (or -1 when it is not a scope).
        var stack: [Int] = []
        var openScopes: [Int] = []  // scope indices on the stack, to fix up subtree ends when they close
        while reader.offset < unit.end {
            let code = try reader.uleb128()
            if code == 0 {
                // End of a sibling list: close the innermost open DIE.
                guard let closed = stack.popLast() else { continue }
                if closed >= 0 {
                    decoded.scopes[closed].subtreeEnd = decoded.scopes.count
                    openScopes.removeLast()
                }
                continue
            }
            guard let abbreviation = abbreviations[code] else { throw MalformedData("unknown abbreviation \(code)") }
            let isScope = abbreviation.tag == Tag.subprogram || abbreviation.tag == Tag.inlinedSubroutine
            let attributes = try collect(&reader, abbreviation, unit: unit, keep: isScope)
            var scopeIndex = -1
            if isScope {
                let ranges = addressRanges(lowPC: attributes.lowPC, highPC: attributes.highPC,
                                           ranges: attributes.ranges, unit: unit)
                // Declarations without code still matter as name targets, but are not scopes.
                if !ranges.isEmpty {
                    scopeIndex = decoded.scopes.count
                    // A subprogram is a function of its own even when nested in another's DIE (Swift
                    // nests closures' concrete subprograms inside their enclosing function's).
                    let parent = abbreviation.tag == Tag.subprogram ? -1 : openScopes.last ?? -1
                    decoded.scopes.append(Scope(
                        ranges: ranges, parent: parent, subtreeEnd: scopeIndex + 1,
                        nameReference: attributes.reference,
                        name: attributes.linkageName.isEmpty ? attributes.name : attributes.linkageName,
                        declLine: attributes.declLine, declFile: attributes.declFile, callFile: attributes.callFile,
                        callLine: attributes.callLine,
                        isInlined: abbreviation.tag == Tag.inlinedSubroutine))
                    if parent < 0 {
                        for range in ranges { decoded.functions.append((range.lowerBound, range.upperBound, scopeIndex)) }
                    }
                }
            }
            if abbreviation.hasChildren {
                stack.append(scopeIndex)
                if scopeIndex >= 0 { openScopes.append(scopeIndex) }
            }
        }
        for open in openScopes { decoded.scopes[open].subtreeEnd = decoded.scopes.count }
        decoded.functions.sort { $0.start < $1.start }
        return decoded
    }

    /// Name, declaration line and file of the DIE at .debug_info offset `reference`, following
    /// abstract_origin/specification links (a few levels at most, to stay safe on cyclic input).
    private func resolveName(reference: UInt64, depth: Int, lineTable: DWARFLineTable?) -> ResolvedName {
        if let cached = namesByReference[reference] { return cached }
        let unknown = ResolvedName(name: "", declLine: 0, declFile: "")
        guard depth < 4, let info = sections.info, reference < UInt64(info.count),
              let unitIndex = unitIndex(containingOffset: Int(reference)),
              case let unit = readRootAndGet(unitIndex),
              let abbreviations = try? abbreviationTable(at: unit.abbrevOffset)
        else { return unknown }
        var reader = info
        reader.offset = Int(reference)
        guard let code = try? reader.uleb128(), let abbreviation = abbreviations[code],
              let attributes = try? collect(&reader, abbreviation, unit: unit, keep: true)
        else { return unknown }
        var resolved = ResolvedName(
            name: attributes.linkageName.isEmpty ? attributes.name : attributes.linkageName,
            declLine: attributes.declLine,
            declFile: attributes.declFile != 0 && unit.stmtList != nil
                ? lineTable?.filePath(unit: unit.stmtList!, index: attributes.declFile) ?? "" : "")
        if resolved.name.isEmpty || resolved.declLine == 0 || resolved.declFile.isEmpty || attributes.linkageName.isEmpty,
           let next = attributes.reference {
            let further = resolveName(reference: next, depth: depth + 1, lineTable: lineTable)
            if attributes.linkageName.isEmpty && !further.name.isEmpty { resolved.name = further.name }
            if resolved.declLine == 0 { resolved.declLine = further.declLine }
            if resolved.declFile.isEmpty { resolved.declFile = further.declFile }
        }
        namesByReference[reference] = resolved
        return resolved
    }

    private func readRootAndGet(_ index: Int) -> Unit {
        readRootIfNeeded(index)
        return units[index]
    }

    private func unitIndex(containingOffset offset: Int) -> Int? {
        var low = 0
        var high = units.count
        while low < high {
            let mid = (low + high) / 2
            if units[mid].offset <= offset { low = mid + 1 } else { high = mid }
        }
        guard low > 0, offset < units[low - 1].end else { return nil }
        return low - 1
    }

    private func unitIndex(atOffset offset: Int) -> Int? {
        unitIndex(containingOffset: offset).flatMap { units[$0].offset == offset ? $0 : nil }
    }
}

extension DWARFValue {
    var unsignedValue: UInt64? {
        switch self {
        case .unsigned(let v), .address(let v): return v
        case .signed(let v): return UInt64(bitPattern: v)
        default: return nil
        }
    }
}
