/// The function symbols of one ELF image, sorted by address, for "which function holds this address".
///
/// Built from `.symtab` when the file has one (it includes local and static functions), else from
/// `.dynsym` (stripped libraries such as Debian's libc keep only their exported functions there).
/// Names stay as offsets into the string table until looked up, so loading a large table is one pass
/// over fixed-size records.
struct ELFSymbolTable {
    struct Symbol {
        var address: UInt64
        var size: UInt64
        var nameOffset: UInt32
        /// Preference when several symbols share an address: global > weak > local; functions over labels.
        var rank: UInt8
    }

    private(set) var symbols: [Symbol] = []
    private let strings: ByteReader?

    static var empty: ELFSymbolTable { ELFSymbolTable(symbols: [], strings: nil) }

    private init(symbols: [Symbol], strings: ByteReader?) {
        self.symbols = symbols
        self.strings = strings
    }

    /// The richer of `file`'s two tables: `.symtab` normally, `.dynsym` when the file was stripped (or
    /// stripped only partly, leaving `.symtab` with fewer functions than the dynamic table).
    init(file: ELFFile) {
        var best = ELFSymbolTable(symbols: [], strings: nil)
        for type in [ELFFile.sectionTypeSymtab, ELFFile.sectionTypeDynsym] {
            guard let section = file.sections.first(where: { $0.type == type }),
                  let table = file.data(of: section),
                  Int(section.link) < file.sections.count,
                  let names = file.data(of: file.sections[Int(section.link)])
            else { continue }
            let parsed = ELFSymbolTable.functions(in: table, names: names, sections: file.sections)
            if parsed.count > best.symbols.count { best = ELFSymbolTable(symbols: parsed, strings: names) }
        }
        self = best
    }

    private static func functions(in table: ByteReader, names: ByteReader, sections: [ELFFile.Section]) -> [Symbol] {
        let entrySize = 24
        let count = table.count / entrySize
        var result: [Symbol] = []
        result.reserveCapacity(count / 2)
        var reader = table
        for _ in 0..<count {
            guard let nameOffset = try? reader.u32(), let info = try? reader.u8(), (try? reader.u8()) != nil,
                  let sectionIndex = try? reader.u16(), let value = try? reader.u64(), let size = try? reader.u64()
            else { break }
            let type = info & 0xf
            let binding = info >> 4
            guard value != 0, sectionIndex != 0, sectionIndex < 0xff00, nameOffset != 0 else { continue }
            let isFunction = type == 2 || type == 10  // STT_FUNC, STT_GNU_IFUNC
            if !isFunction {
                // Untyped labels count only when they sit in executable code (hand-written assembly).
                guard type == 0, Int(sectionIndex) < sections.count,
                      sections[Int(sectionIndex)].flags & 0x4 != 0 else { continue }
            }
            let bindingRank: UInt8 = binding == 1 ? 2 : (binding == 2 ? 1 : 0)
            // Among aliases (`malloc` / `__libc_malloc`), the public spelling has no leading underscore.
            let isPublicSpelling = Int(nameOffset) < names.count
                && names.base.load(fromByteOffset: Int(nameOffset), as: UInt8.self) != UInt8(ascii: "_")
            result.append(Symbol(address: value, size: size, nameOffset: nameOffset,
                                 rank: bindingRank * 4 + (isFunction ? 2 : 0) + (isPublicSpelling ? 1 : 0)))
        }
        result.sort {
            if $0.address != $1.address { return $0.address < $1.address }
            if $0.rank != $1.rank { return $0.rank > $1.rank }
            return $0.nameOffset < $1.nameOffset  // deterministic among equals
        }
        // Keep one symbol per address: the first after sorting is the preferred one.
        var unique: [Symbol] = []
        unique.reserveCapacity(result.count)
        for symbol in result where unique.last?.address != symbol.address {
            unique.append(symbol)
        }
        return unique
    }

    /// The symbol holding link-time address `address`: the nearest one at or below it, if its size covers
    /// the address (a symbol without size covers everything up to the next symbol).
    func symbol(containing address: UInt64) -> (name: String, address: UInt64)? {
        var low = 0
        var high = symbols.count
        while low < high {
            let mid = (low + high) / 2
            if symbols[mid].address <= address { low = mid + 1 } else { high = mid }
        }
        guard low > 0 else { return nil }
        let candidate = symbols[low - 1]
        if candidate.size > 0, address - candidate.address >= candidate.size { return nil }
        guard let strings else { return nil }
        let name = strings.stringAt(Int(candidate.nameOffset))
        return name.isEmpty ? nil : (name, candidate.address)
    }
}
