// A minimal protobuf reader: walks the fields of one message and hands each one out raw, leaving the
// meaning of field numbers to the caller. Used by the tests and to read pprof protos back into `Profile`.

/// Why a byte sequence is not a valid protobuf message. Offsets count from the start of the message
/// being read.
public enum ProtobufDecodingError: Error, Equatable, CustomStringConvertible {
    case truncatedVarint(offset: Int)
    case varintTooLong(offset: Int)
    case lengthPastEnd(offset: Int, length: UInt64, remaining: Int)
    case truncatedFixed(offset: Int, size: Int)
    case invalidFieldNumber(offset: Int)
    case unsupportedWireType(UInt8, field: Int, offset: Int)
    case wrongWireType(field: Int, expected: String)
    case invalidUTF8(field: Int)

    /// What is malformed and at which offset.
    public var description: String {
        switch self {
        case .truncatedVarint(let offset):
            return "protobuf: varint at byte \(offset) runs past the end of the data; the input is truncated"
        case .varintTooLong(let offset):
            return "protobuf: varint at byte \(offset) is longer than 10 bytes; the input is not protobuf"
        case .lengthPastEnd(let offset, let length, let remaining):
            return "protobuf: field at byte \(offset) declares \(length) bytes but only \(remaining) remain; the input is truncated"
        case .truncatedFixed(let offset, let size):
            return "protobuf: \(size)-byte fixed field at byte \(offset) runs past the end of the data"
        case .invalidFieldNumber(let offset):
            return "protobuf: field number 0 at byte \(offset); the input is not protobuf"
        case .unsupportedWireType(let type, let field, let offset):
            return "protobuf: field \(field) at byte \(offset) uses wire type \(type), which this reader does not support (groups are obsolete)"
        case .wrongWireType(let field, let expected):
            return "protobuf: field \(field) should be \(expected)"
        case .invalidUTF8(let field):
            return "protobuf: field \(field) should hold UTF-8 text"
        }
    }
}

/// One field as it appears on the wire.
public struct ProtobufField: Sendable {
    /// The field's wire-level value.
    public enum Value: Sendable {
        case varint(UInt64)
        case fixed64(UInt64)
        case lengthDelimited(ArraySlice<UInt8>)
        case fixed32(UInt32)
    }

    /// The field number.
    public var number: Int
    /// The raw value.
    public var value: Value

    /// The field as an unsigned integer; only varints qualify (pprof requires varint scalars).
    public func uint64() throws -> UInt64 {
        guard case .varint(let v) = value else { throw ProtobufDecodingError.wrongWireType(field: number, expected: "a varint") }
        return v
    }

    /// The varint as a two's-complement signed integer (proto `int64`).
    public func int64() throws -> Int64 { Int64(bitPattern: try uint64()) }

    /// The varint as a proto `bool`.
    public func bool() throws -> Bool { try uint64() != 0 }

    /// The bytes of a length-delimited field (string, bytes, message, packed).
    public func payload() throws -> ArraySlice<UInt8> {
        guard case .lengthDelimited(let bytes) = value else {
            throw ProtobufDecodingError.wrongWireType(field: number, expected: "length-delimited")
        }
        return bytes
    }

    /// A length-delimited field as UTF-8 text.
    public func string() throws -> String {
        let bytes = try payload()
        guard let text = String(validating: bytes, as: UTF8.self) else { throw ProtobufDecodingError.invalidUTF8(field: number) }
        return text
    }

    /// A repeated integer field, in either encoding: one varint, or a packed run of varints.
    public func varints() throws -> [UInt64] {
        switch value {
        case .varint(let v):
            return [v]
        case .lengthDelimited(let bytes):
            var reader = ProtobufDecoder(bytes)
            var values: [UInt64] = []
            while !reader.isAtEnd { values.append(try reader.readVarint()) }
            return values
        default:
            throw ProtobufDecodingError.wrongWireType(field: number, expected: "a varint or packed varints")
        }
    }
}

/// Reads the fields of one message in wire order. Unknown field numbers are the caller's to skip.
public struct ProtobufDecoder: Sendable {
    private let data: ArraySlice<UInt8>
    private var position: Int

    /// A reader over one message's bytes.
    public init(_ bytes: ArraySlice<UInt8>) {
        data = bytes
        position = bytes.startIndex
    }

    /// A reader over one message's bytes.
    public init(_ bytes: [UInt8]) {
        self.init(bytes[...])
    }

    /// Whether every field has been read.
    public var isAtEnd: Bool { position >= data.endIndex }

    private var offset: Int { position - data.startIndex }

    /// The next field, or nil at the end of the message.
    public mutating func nextField() throws -> ProtobufField? {
        if isAtEnd { return nil }
        let fieldOffset = offset
        let key = try readVarint()
        let number = key >> 3
        guard number != 0, number <= UInt64(Int32.max) else { throw ProtobufDecodingError.invalidFieldNumber(offset: fieldOffset) }
        let field = Int(number)
        switch UInt8(key & 7) {
        case ProtobufWireType.varint.rawValue:
            return ProtobufField(number: field, value: .varint(try readVarint()))
        case ProtobufWireType.lengthDelimited.rawValue:
            let length = try readVarint()
            let remaining = data.endIndex - position
            guard length <= UInt64(remaining) else {
                throw ProtobufDecodingError.lengthPastEnd(offset: fieldOffset, length: length, remaining: remaining)
            }
            let end = position + Int(length)
            defer { position = end }
            return ProtobufField(number: field, value: .lengthDelimited(data[position..<end]))
        case ProtobufWireType.fixed64.rawValue:
            return ProtobufField(number: field, value: .fixed64(try readLittleEndian(size: 8)))
        case ProtobufWireType.fixed32.rawValue:
            return ProtobufField(number: field, value: .fixed32(UInt32(try readLittleEndian(size: 4))))
        case let other:
            throw ProtobufDecodingError.unsupportedWireType(other, field: field, offset: fieldOffset)
        }
    }

    /// Reads a base-128 varint at the current position.
    public mutating func readVarint() throws -> UInt64 {
        let start = offset
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < data.endIndex else { throw ProtobufDecodingError.truncatedVarint(offset: start) }
            guard shift < 70 else { throw ProtobufDecodingError.varintTooLong(offset: start) }
            let byte = data[position]
            position += 1
            result |= UInt64(byte & 0x7f) << shift
            if byte < 0x80 { return result }
            shift += 7
        }
    }

    private mutating func readLittleEndian(size: Int) throws -> UInt64 {
        guard data.endIndex - position >= size else { throw ProtobufDecodingError.truncatedFixed(offset: offset, size: size) }
        var result: UInt64 = 0
        for i in 0..<size { result |= UInt64(data[position + i]) << (8 * UInt64(i)) }
        position += size
        return result
    }
}
