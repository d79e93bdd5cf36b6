/// The DWARF sections of one ELF file, and how to read attribute values whose form points into them.
/// Shared by the line-table and the inline-scope readers. Supports DWARF 2 to 5, 32- and 64-bit formats.
struct DWARFSections {
    var info: ByteReader?
    var abbrev: ByteReader?
    var line: ByteReader?
    var str: ByteReader?
    var lineStr: ByteReader?
    var strOffsets: ByteReader?
    var addr: ByteReader?
    var ranges: ByteReader?
    var rnglists: ByteReader?
    var aranges: ByteReader?

    init(file: ELFFile) {
        info = file.sectionData(named: ".debug_info")
        abbrev = file.sectionData(named: ".debug_abbrev")
        line = file.sectionData(named: ".debug_line")
        str = file.sectionData(named: ".debug_str")
        lineStr = file.sectionData(named: ".debug_line_str")
        strOffsets = file.sectionData(named: ".debug_str_offsets")
        addr = file.sectionData(named: ".debug_addr")
        ranges = file.sectionData(named: ".debug_ranges")
        rnglists = file.sectionData(named: ".debug_rnglists")
        aranges = file.sectionData(named: ".debug_aranges")
    }

    var hasLineInfo: Bool { line != nil }
    var hasInfo: Bool { info != nil && abbrev != nil }
}

/// Attribute form codes (DWARF 5 §7.5.6) we read or must skip.
enum DWARFForm {
    static let addr: UInt64 = 0x01
    static let block2: UInt64 = 0x03
    static let block4: UInt64 = 0x04
    static let data2: UInt64 = 0x05
    static let data4: UInt64 = 0x06
    static let data8: UInt64 = 0x07
    static let string: UInt64 = 0x08
    static let block: UInt64 = 0x09
    static let block1: UInt64 = 0x0a
    static let data1: UInt64 = 0x0b
    static let flag: UInt64 = 0x0c
    static let sdata: UInt64 = 0x0d
    static let strp: UInt64 = 0x0e
    static let udata: UInt64 = 0x0f
    static let refAddr: UInt64 = 0x10
    static let ref1: UInt64 = 0x11
    static let ref2: UInt64 = 0x12
    static let ref4: UInt64 = 0x13
    static let ref8: UInt64 = 0x14
    static let refUdata: UInt64 = 0x15
    static let indirect: UInt64 = 0x16
    static let secOffset: UInt64 = 0x17
    static let exprloc: UInt64 = 0x18
    static let flagPresent: UInt64 = 0x19
    static let strx: UInt64 = 0x1a
    static let refSup4: UInt64 = 0x1c
    static let strpSup: UInt64 = 0x1d
    static let data16: UInt64 = 0x1e
    static let lineStrp: UInt64 = 0x1f
    static let refSig8: UInt64 = 0x20
    static let implicitConst: UInt64 = 0x21
    static let loclistx: UInt64 = 0x22
    static let rnglistx: UInt64 = 0x23
    static let refSup8: UInt64 = 0x24
    static let strx1: UInt64 = 0x25
    static let strx2: UInt64 = 0x26
    static let strx3: UInt64 = 0x27
    static let strx4: UInt64 = 0x28
    static let addrx: UInt64 = 0x1b
    static let addrx1: UInt64 = 0x29
    static let addrx2: UInt64 = 0x2a
    static let addrx3: UInt64 = 0x2b
    static let addrx4: UInt64 = 0x2c
    static let gnuAddrIndex: UInt64 = 0x1f01
    static let gnuStrIndex: UInt64 = 0x1f02
    static let gnuRefAlt: UInt64 = 0x1f20
    static let gnuStrpAlt: UInt64 = 0x1f21
}

/// A decoded attribute value: what the readers need, without keeping the form around.
enum DWARFValue {
    case unsigned(UInt64)
    case signed(Int64)
    case address(UInt64)
    /// An index into .debug_addr (resolved later with the unit's address base).
    case addressIndex(UInt64)
    case string(String)
    /// An offset into .debug_str / .debug_line_str, resolved lazily because most strings are never needed.
    case stringOffset(section: StringSection, offset: UInt64)
    /// An index into .debug_str_offsets (resolved with the unit's string-offsets base).
    case stringIndex(UInt64)
    /// A reference to another DIE, as an offset into .debug_info.
    case reference(UInt64)
    case rangeListIndex(UInt64)
    case flag(Bool)
    case none

    enum StringSection { case str, lineStr }
}

/// Sizes that change how forms are read, per unit.
struct DWARFUnitFormat {
    var version: UInt16
    var is64Bit: Bool
    var addressSize: Int
    /// Offset of the unit header in .debug_info, for unit-relative references (ref1…refUdata).
    var unitOffset: UInt64
    var offsetSize: Int { is64Bit ? 8 : 4 }
}

extension ByteReader {
    /// Reads one attribute value of `form`. `implicitConstant` is the value stored in the abbreviation.
    mutating func dwarfValue(form: UInt64, format: DWARFUnitFormat, implicitConstant: Int64 = 0)
        throws(MalformedData) -> DWARFValue {
        switch form {
        case DWARFForm.addr: return .address(try unsigned(size: format.addressSize))
        case DWARFForm.data1: return .unsigned(UInt64(try u8()))
        case DWARFForm.data2: return .unsigned(UInt64(try u16()))
        case DWARFForm.data4: return .unsigned(UInt64(try u32()))
        case DWARFForm.data8: return .unsigned(try u64())
        case DWARFForm.data16: try skip(16); return .none
        case DWARFForm.sdata: return .signed(try sleb128())
        case DWARFForm.udata: return .unsigned(try uleb128())
        case DWARFForm.string: return .string(try cString())
        case DWARFForm.strp: return .stringOffset(section: .str, offset: try unsigned(size: format.offsetSize))
        case DWARFForm.lineStrp:
            return .stringOffset(section: .lineStr, offset: try unsigned(size: format.offsetSize))
        case DWARFForm.strpSup, DWARFForm.gnuStrpAlt: try skip(format.offsetSize); return .none
        case DWARFForm.strx, DWARFForm.gnuStrIndex: return .stringIndex(try uleb128())
        case DWARFForm.strx1: return .stringIndex(UInt64(try u8()))
        case DWARFForm.strx2: return .stringIndex(UInt64(try u16()))
        case DWARFForm.strx3: return .stringIndex(try unsigned(size: 3))
        case DWARFForm.strx4: return .stringIndex(UInt64(try u32()))
        case DWARFForm.addrx, DWARFForm.gnuAddrIndex: return .addressIndex(try uleb128())
        case DWARFForm.addrx1: return .addressIndex(UInt64(try u8()))
        case DWARFForm.addrx2: return .addressIndex(UInt64(try u16()))
        case DWARFForm.addrx3: return .addressIndex(try unsigned(size: 3))
        case DWARFForm.addrx4: return .addressIndex(UInt64(try u32()))
        case DWARFForm.ref1: return .reference(format.unitOffset &+ UInt64(try u8()))
        case DWARFForm.ref2: return .reference(format.unitOffset &+ UInt64(try u16()))
        case DWARFForm.ref4: return .reference(format.unitOffset &+ UInt64(try u32()))
        case DWARFForm.ref8: return .reference(format.unitOffset &+ (try u64()))
        case DWARFForm.refUdata: return .reference(format.unitOffset &+ (try uleb128()))
        case DWARFForm.refAddr:
            // DWARF 2 wrote ref_addr with the address size; later versions use the offset size.
            return .reference(try unsigned(size: format.version <= 2 ? format.addressSize : format.offsetSize))
        case DWARFForm.refSig8: try skip(8); return .none
        case DWARFForm.refSup4: try skip(4); return .none
        case DWARFForm.refSup8: try skip(8); return .none
        case DWARFForm.gnuRefAlt: try skip(format.offsetSize); return .none
        case DWARFForm.secOffset: return .unsigned(try unsigned(size: format.offsetSize))
        case DWARFForm.exprloc, DWARFForm.block: try skip(Int(clamping: try uleb128())); return .none
        case DWARFForm.block1: try skip(Int(try u8())); return .none
        case DWARFForm.block2: try skip(Int(try u16())); return .none
        case DWARFForm.block4: try skip(Int(try u32())); return .none
        case DWARFForm.flag: return .flag(try u8() != 0)
        case DWARFForm.flagPresent: return .flag(true)
        case DWARFForm.implicitConst: return .signed(implicitConstant)
        case DWARFForm.loclistx: _ = try uleb128(); return .none
        case DWARFForm.rnglistx: return .rangeListIndex(try uleb128())
        case DWARFForm.indirect:
            let actual = try uleb128()
            guard actual != DWARFForm.indirect else { throw MalformedData("nested DW_FORM_indirect") }
            return try dwarfValue(form: actual, format: format, implicitConstant: implicitConstant)
        default:
            throw MalformedData("unknown DWARF form 0x\(String(form, radix: 16))")
        }
    }

    /// Reads a unit length, returning the length and whether the unit uses the 64-bit format.
    mutating func dwarfUnitLength() throws(MalformedData) -> (length: Int, is64Bit: Bool) {
        let short = try u32()
        if short == 0xffff_ffff {
            let long = try u64()
            guard long <= UInt64(Int.max) else { throw MalformedData("unit length too large") }
            return (Int(long), true)
        }
        guard short < 0xffff_fff0 else { throw MalformedData("reserved unit length") }
        return (Int(short), false)
    }
}

extension DWARFSections {
    func string(_ value: DWARFValue, strOffsetsBase: UInt64, format: DWARFUnitFormat) -> String? {
        switch value {
        case .string(let s): return s
        case .stringOffset(let section, let offset):
            let source = section == .str ? str : lineStr
            guard let source, offset < UInt64(source.count) else { return nil }
            return source.stringAt(Int(offset))
        case .stringIndex(let index):
            guard var offsets = strOffsets, let str else { return nil }
            let position = strOffsetsBase &+ index &* UInt64(format.offsetSize)
            guard position < UInt64(offsets.count), (try? offsets.seek(to: Int(position))) != nil,
                  let offset = try? offsets.unsigned(size: format.offsetSize), offset < UInt64(str.count)
            else { return nil }
            return str.stringAt(Int(offset))
        default:
            return nil
        }
    }

    func address(_ value: DWARFValue, addrBase: UInt64, format: DWARFUnitFormat) -> UInt64? {
        switch value {
        case .address(let a): return a
        case .addressIndex(let index):
            guard var table = addr else { return nil }
            let position = addrBase &+ index &* UInt64(format.addressSize)
            guard position < UInt64(table.count), (try? table.seek(to: Int(position))) != nil else { return nil }
            return try? table.unsigned(size: format.addressSize)
        default:
            return nil
        }
    }
}
