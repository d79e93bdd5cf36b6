/// File and line for addresses, from an image's `.debug_line` (DWARF 2–5).
///
/// Line programs are decoded one unit at a time, when an address of that compile unit is first asked
/// for (the DWARF scopes reader knows the unit, via `DW_AT_stmt_list`); large images with debug info
/// therefore cost only the units a profile touches. Only when an address has no known unit are all units
/// decoded, once, into a global index. Decoded rows are kept as sorted address sequences, so a lookup is
/// two binary searches. Rows keep a file index into `files` instead of a path, to stay compact.
final class DWARFLineTable {
    struct Row {
        var address: UInt64
        var file: UInt32
        var line: UInt32
    }

    /// A run of rows with increasing addresses; `end` is the first address past it.
    struct Sequence {
        var start: UInt64
        var end: UInt64
        var rows: Range<Int>
    }

    private let sections: DWARFSections
    private(set) var rows: [Row] = []
    /// Sequences of each decoded unit (by the unit's offset in .debug_line), sorted by start address.
    private var unitSequences: [UInt64: [Sequence]] = [:]
    /// Scratch list the decoder appends to before sequences are filed under their unit.
    private var sequences: [Sequence] = []
    /// All sequences of all units, sorted; built only when an address has no known unit.
    private var globalSequences: [Sequence]?
    /// File paths, indexed by `Row.file`.
    private(set) var files: [String] = []
    /// Maps a unit's `.debug_line` offset (a CU's DW_AT_stmt_list) to the position of its file 0 / file 1 in
    /// `files`, so that DW_AT_decl_file / DW_AT_call_file indices can be turned into paths.
    private var unitFileBase: [UInt64: (base: Int, count: Int, firstIndex: Int)] = [:]

    init(sections: DWARFSections) {
        self.sections = sections
    }

    /// Decodes the unit at `offset` of .debug_line unless done already. A unit that fails to decode loses
    /// its rows; the others are still good.
    private func decodeUnitIfNeeded(at offset: UInt64) {
        guard unitSequences[offset] == nil else { return }
        unitSequences[offset] = []
        guard let section = sections.line, offset < UInt64(section.count) else { return }
        var reader = section
        reader.offset = Int(offset)
        guard let (length, is64Bit) = try? reader.dwarfUnitLength(), length <= reader.remaining else { return }
        let firstSequence = sequences.count
        try? decodeUnit(section: section, unitStart: Int(offset), headerStart: reader.offset,
                        unitEnd: reader.offset + length, is64Bit: is64Bit, sections: sections)
        unitSequences[offset] = sequences[firstSequence...].sorted { $0.start < $1.start }
        sequences.removeSubrange(firstSequence...)
    }

    /// Decodes every unit and indexes all their sequences (for addresses no compile unit claims).
    private func buildGlobalIndex() -> [Sequence] {
        if let globalSequences { return globalSequences }
        var all: [Sequence] = []
        if let section = sections.line {
            var reader = section
            while reader.remaining > 4 {
                let unitStart = UInt64(reader.offset)
                guard let (length, _) = try? reader.dwarfUnitLength(), length <= reader.remaining else { break }
                reader.offset += length
                decodeUnitIfNeeded(at: unitStart)
                all += unitSequences[unitStart] ?? []
            }
        }
        all.sort { $0.start < $1.start }
        globalSequences = all
        return all
    }

    private func decodeUnit(section: ByteReader, unitStart: Int, headerStart: Int, unitEnd: Int,
                                     is64Bit: Bool, sections: DWARFSections) throws(MalformedData) {
        var reader = try section.slice(from: 0, length: unitEnd)
        reader.offset = headerStart
        let version = try reader.u16()
        guard (2...5).contains(version) else { throw MalformedData("line table version \(version)") }
        var addressSize = 8
        if version >= 5 {
            addressSize = Int(try reader.u8())
            _ = try reader.u8()  // segment selector size
        }
        let headerLength = try reader.unsigned(size: is64Bit ? 8 : 4)
        guard headerLength <= UInt64(unitEnd - reader.offset) else { throw MalformedData("line header past unit end") }
        let programStart = reader.offset + Int(headerLength)
        let minimumInstructionLength = UInt64(try reader.u8())
        if version >= 4 { _ = try reader.u8() }  // maximum operations per instruction (VLIW only)
        _ = try reader.u8()  // default_is_stmt: every row counts for symbolization
        let lineBase = Int64(try reader.i8())
        let lineRange = UInt64(try reader.u8())
        let opcodeBase = try reader.u8()
        guard lineRange != 0 else { throw MalformedData("line_range of zero") }
        var standardOpcodeLengths: [UInt8] = []
        if opcodeBase > 1 {
            for _ in 1..<opcodeBase { standardOpcodeLengths.append(try reader.u8()) }
        }
        let format = DWARFUnitFormat(version: version, is64Bit: is64Bit, addressSize: addressSize, unitOffset: 0)

        // Directories and files; DWARF 5 numbers files from 0, earlier versions from 1.
        var directories: [String] = []
        var unitFiles: [String] = []
        if version >= 5 {
            directories = try readEntryTable(&reader, format: format, sections: sections).map(\.path)
            let entries = try readEntryTable(&reader, format: format, sections: sections)
            unitFiles = entries.map { DWARFLineTable.join(directories, $0.directory, $0.path) }
        } else {
            while true {
                let directory = try reader.cString()
                if directory.isEmpty { break }
                directories.append(directory)
            }
            // Directory 0 is the compilation directory, which only the CU knows; index 1 is the first listed.
            directories.insert("", at: 0)
            while true {
                let name = try reader.cString()
                if name.isEmpty { break }
                let directory = Int(clamping: try reader.uleb128())
                _ = try reader.uleb128()  // modification time
                _ = try reader.uleb128()  // length
                unitFiles.append(DWARFLineTable.join(directories, directory, name))
            }
        }
        let firstFileIndex = version >= 5 ? 0 : 1
        let fileBase = files.count
        files.append(contentsOf: unitFiles)
        unitFileBase[UInt64(unitStart)] = (fileBase, unitFiles.count, firstFileIndex)

        func globalFile(_ index: UInt64) -> UInt32 {
            let local = Int(clamping: index) - firstFileIndex
            guard local >= 0, local < unitFiles.count else { return UInt32.max }
            return UInt32(fileBase + local)
        }

        reader.offset = programStart
        var address: UInt64 = 0
        var file: UInt64 = 1
        var line: Int64 = 1
        var sequenceStart = rows.count

        func emitRow() {
            rows.append(Row(address: address, file: globalFile(file), line: UInt32(clamping: line)))
        }
        func resetRegisters() {
            address = 0
            file = 1
            line = 1
        }

        while reader.offset < unitEnd {
            let opcode = try reader.u8()
            if opcode >= opcodeBase {
                let adjusted = UInt64(opcode - opcodeBase)
                address &+= (adjusted / lineRange) &* minimumInstructionLength
                line &+= lineBase &+ Int64(adjusted % lineRange)
                emitRow()
                continue
            }
            switch opcode {
            case 0:
                let length = Int(clamping: try reader.uleb128())
                guard length > 0, length <= reader.remaining else { throw MalformedData("extended opcode length") }
                let next = reader.offset + length
                let subOpcode = try reader.u8()
                switch subOpcode {
                case 1:  // end_sequence
                    let end = address
                    let sequenceRows = sequenceStart..<rows.count
                    // Sequences at address 0 (or a tombstone) belong to code the linker discarded.
                    if let first = sequenceRows.first, rows[first].address != 0, rows[first].address < end,
                       end != UInt64.max {
                        sequences.append(Sequence(start: rows[first].address, end: end, rows: sequenceRows))
                    } else {
                        rows.removeSubrange(sequenceRows)
                    }
                    sequenceStart = rows.count
                    resetRegisters()
                case 2:  // set_address
                    address = try reader.unsigned(size: min(length - 1, 8))
                case 3:  // define_file (DWARF <= 4)
                    let name = try reader.cString()
                    let directory = Int(clamping: try reader.uleb128())
                    files.append(DWARFLineTable.join(directories, directory, name))
                    unitFiles.append(files[files.count - 1])
                default:
                    break  // set_discriminator and vendor extensions carry nothing we use
                }
                reader.offset = next
            case 1: emitRow()  // copy
            case 2: address &+= (try reader.uleb128()) &* minimumInstructionLength
            case 3: line &+= try reader.sleb128()
            case 4: file = try reader.uleb128()
            case 5: _ = try reader.uleb128()  // column
            case 6, 7, 10, 11: break  // negate_stmt, basic_block, prologue_end, epilogue_begin
            case 8: address &+= ((255 - UInt64(opcodeBase)) / lineRange) &* minimumInstructionLength
            case 9: address &+= UInt64(try reader.u16())
            default:
                // Unknown standard opcode: skip its ULEB operands, as the header tells us how many.
                let operandCount = Int(opcode) - 1 < standardOpcodeLengths.count ? standardOpcodeLengths[Int(opcode) - 1] : 0
                for _ in 0..<operandCount { _ = try reader.uleb128() }
            }
        }
        // Rows after the last end_sequence have no end address; drop them.
        rows.removeSubrange(sequenceStart..<rows.count)
    }

    private struct FileEntry {
        var path: String
        var directory: Int
    }

    private func readEntryTable(_ reader: inout ByteReader, format: DWARFUnitFormat, sections: DWARFSections)
        throws(MalformedData) -> [FileEntry] {
        let formatCount = Int(try reader.u8())
        var contentForms: [(content: UInt64, form: UInt64)] = []
        for _ in 0..<formatCount { contentForms.append((try reader.uleb128(), try reader.uleb128())) }
        let count = try reader.uleb128()
        guard count < 1 << 24 else { throw MalformedData("line table entry count") }
        var entries: [FileEntry] = []
        entries.reserveCapacity(Int(count))
        for _ in 0..<count {
            var entry = FileEntry(path: "", directory: 0)
            for (content, form) in contentForms {
                let value = try reader.dwarfValue(form: form, format: format)
                switch content {
                case 1:  // DW_LNCT_path
                    entry.path = sections.string(value, strOffsetsBase: 0, format: format) ?? ""
                case 2:  // DW_LNCT_directory_index
                    if case .unsigned(let index) = value { entry.directory = Int(clamping: index) }
                default:
                    break
                }
            }
            entries.append(entry)
        }
        return entries
    }

    private static func join(_ directories: [String], _ index: Int, _ name: String) -> String {
        // "<compiler-generated>" and the like are markers, not paths under the compilation directory.
        if name.hasPrefix("/") || name.hasPrefix("<") || index < 0 || index >= directories.count { return name }
        let directory = directories[index]
        if directory.isEmpty { return name }
        return directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// File path and line of link-time address `address`, nil when no sequence covers it. `unit` is the
    /// .debug_line offset of the compile unit holding the address, when the caller knows it.
    func location(of address: UInt64, unit: UInt64?) -> (file: String, line: Int)? {
        if let unit {
            // The unit's own program describes all of its addresses; no need to look anywhere else.
            decodeUnitIfNeeded(at: unit)
            return location(of: address, in: unitSequences[unit] ?? [])
        }
        return location(of: address, in: buildGlobalIndex())
    }

    private func location(of address: UInt64, in sequences: [Sequence]) -> (file: String, line: Int)? {
        var low = 0
        var high = sequences.count
        while low < high {
            let mid = (low + high) / 2
            if sequences[mid].start <= address { low = mid + 1 } else { high = mid }
        }
        // Sequences can nest in odd files; look back a little for one that really covers the address.
        var candidate = low - 1
        while candidate >= 0, candidate >= low - 4 {
            let sequence = sequences[candidate]
            if address < sequence.end { return row(in: sequence, at: address) }
            candidate -= 1
        }
        return nil
    }

    private func row(in sequence: Sequence, at address: UInt64) -> (file: String, line: Int)? {
        var low = sequence.rows.lowerBound
        var high = sequence.rows.upperBound
        while low < high {
            let mid = (low + high) / 2
            if rows[mid].address <= address { low = mid + 1 } else { high = mid }
        }
        guard low > sequence.rows.lowerBound else { return nil }
        let found = rows[low - 1]
        return (filePath(found.file), Int(found.line))
    }

    /// The nearest row before `address` (in the same sequence, at most `limit` rows back) that has a real
    /// file and line and that `accept` takes, given the row's address and file.
    func nearestRealRow(before address: UInt64, unit: UInt64?, limit: Int = 256,
                        accept: (UInt64, String) -> Bool) -> (file: String, line: Int)? {
        let candidates: [Sequence]
        if let unit {
            decodeUnitIfNeeded(at: unit)
            candidates = unitSequences[unit] ?? []
        } else {
            candidates = buildGlobalIndex()
        }
        guard let sequence = candidates.first(where: { $0.start <= address && address < $0.end }) else { return nil }
        var low = sequence.rows.lowerBound
        var high = sequence.rows.upperBound
        while low < high {
            let mid = (low + high) / 2
            if rows[mid].address < address { low = mid + 1 } else { high = mid }
        }
        var index = low - 1
        while index >= sequence.rows.lowerBound, index >= low - limit {
            let row = rows[index]
            if isReal(row) {
                let path = filePath(row.file)
                if accept(row.address, path) { return (path, Int(row.line)) }
            }
            index -= 1
        }
        return nil
    }

    private func isReal(_ row: Row) -> Bool {
        row.line != 0 && ImageSymbolizer.isRealLocation(filePath(row.file), Int(row.line))
    }

    func filePath(_ index: UInt32) -> String {
        Int(index) < files.count ? files[Int(index)] : ""
    }

    /// The path of file `index` (as in DW_AT_decl_file / DW_AT_call_file) of the unit at `stmtList`.
    func filePath(unit stmtList: UInt64, index: UInt64) -> String {
        decodeUnitIfNeeded(at: stmtList)
        guard let unit = unitFileBase[stmtList] else { return "" }
        let local = Int(clamping: index) - unit.firstIndex
        guard local >= 0, local < unit.count else { return "" }
        return files[unit.base + local]
    }
}
