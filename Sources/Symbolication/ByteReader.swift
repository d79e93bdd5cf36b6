#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A bounds-checked little-endian cursor over bytes of an ELF file or a DWARF section.
///
/// Every read checks its bounds and throws `MalformedData` instead of trapping: the symbolizer reads whatever
/// libraries happen to be mapped into the process, and a truncated or odd file must cost us its symbols,
/// never the host process. Little-endian only, because that is what x86_64 and aarch64 Linux use.
struct ByteReader {
    /// Start of the whole region; offsets are relative to it.
    let base: UnsafeRawPointer
    let count: Int
    var offset: Int

    init(base: UnsafeRawPointer, count: Int, offset: Int = 0) {
        self.base = base
        self.count = count
        self.offset = offset
    }

    var isAtEnd: Bool { offset >= count }
    var remaining: Int { count - offset }

    /// A reader over `[start, start + length)` of this region, with its own offsets starting at zero.
    func slice(from start: Int, length: Int) throws(MalformedData) -> ByteReader {
        guard start >= 0, length >= 0, start <= count, length <= count - start else {
            throw MalformedData("slice \(start)+\(length) outside region of \(count) bytes")
        }
        return ByteReader(base: base + start, count: length)
    }

    mutating func skip(_ n: Int) throws(MalformedData) {
        guard n >= 0, n <= remaining else { throw MalformedData("skip of \(n) bytes past the end") }
        offset += n
    }

    mutating func seek(to newOffset: Int) throws(MalformedData) {
        guard newOffset >= 0, newOffset <= count else { throw MalformedData("seek to \(newOffset) outside region") }
        offset = newOffset
    }

    // Concrete (non-generic) reads: debug builds do not specialize generics, and these run for every byte
    // of a DWARF section.
    mutating func u8() throws(MalformedData) -> UInt8 {
        guard offset < count else { throw MalformedData("read past the end") }
        let value = base.load(fromByteOffset: offset, as: UInt8.self)
        offset += 1
        return value
    }

    mutating func u16() throws(MalformedData) -> UInt16 {
        guard count - offset >= 2 else { throw MalformedData("read past the end") }
        let value = base.loadUnaligned(fromByteOffset: offset, as: UInt16.self)
        offset += 2
        return UInt16(littleEndian: value)
    }

    mutating func u32() throws(MalformedData) -> UInt32 {
        guard count - offset >= 4 else { throw MalformedData("read past the end") }
        let value = base.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
        offset += 4
        return UInt32(littleEndian: value)
    }

    mutating func u64() throws(MalformedData) -> UInt64 {
        guard count - offset >= 8 else { throw MalformedData("read past the end") }
        let value = base.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
        offset += 8
        return UInt64(littleEndian: value)
    }

    mutating func i8() throws(MalformedData) -> Int8 { Int8(bitPattern: try u8()) }

    /// An unsigned integer of 1, 2, 4 or 8 bytes.
    mutating func unsigned(size: Int) throws(MalformedData) -> UInt64 {
        switch size {
        case 1: return UInt64(try u8())
        case 2: return UInt64(try u16())
        case 3:
            let low = UInt64(try u16())
            return low | UInt64(try u8()) << 16
        case 4: return UInt64(try u32())
        case 8: return try u64()
        default: throw MalformedData("unsupported integer size \(size)")
        }
    }

    mutating func uleb128() throws(MalformedData) -> UInt64 {
        // Fast path: most values (abbreviation codes, forms, small operands) fit in one byte.
        if offset < count {
            let first = base.load(fromByteOffset: offset, as: UInt8.self)
            if first & 0x80 == 0 {
                offset += 1
                return UInt64(first)
            }
        }
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try u8()
            if shift < 64 { result |= UInt64(byte & 0x7f) << shift }
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    mutating func sleb128() throws(MalformedData) -> Int64 {
        var result: Int64 = 0
        var shift: Int64 = 0
        var byte: UInt8
        repeat {
            byte = try u8()
            if shift < 64 { result |= Int64(byte & 0x7f) << shift }
            shift += 7
        } while byte & 0x80 != 0
        if shift < 64, byte & 0x40 != 0 { result |= -(Int64(1) << shift) }
        return result
    }

    /// Offset of the NUL-terminated string starting here, and advances past its terminator.
    mutating func skipCString() throws(MalformedData) -> Int {
        let start = offset
        guard let end = findNUL(from: offset) else { throw MalformedData("unterminated string") }
        offset = end + 1
        return start
    }

    mutating func cString() throws(MalformedData) -> String {
        let start = try skipCString()
        return stringAt(start)
    }

    /// The NUL-terminated string at `at`, or "" when `at` is outside the region or unterminated.
    func stringAt(_ at: Int) -> String {
        guard at >= 0, at < count, let end = findNUL(from: at) else { return "" }
        let bytes = UnsafeRawBufferPointer(start: base + at, count: end - at)
        return String(decoding: bytes, as: UTF8.self)
    }

    private func findNUL(from start: Int) -> Int? {
        guard start < count else { return nil }
        guard let found = memchr(base + start, 0, count - start) else { return nil }
        return UnsafeRawPointer(found) - base
    }
}

/// Thrown when an ELF or DWARF structure does not fit its container. Callers drop the affected part.
struct MalformedData: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
