// A minimal protobuf writer: just what profile.proto needs (varints, length-delimited strings and
// messages, packed repeated integers). No code generation, no reflection.
//
// Nested messages are written body first; the length is only known afterwards. Instead of computing
// sizes up front (a second pass over the data), `message(_:_:)` reserves one length byte, writes the body,
// and widens the length in place when the body turned out to be 128 bytes or longer. Most pprof messages
// (lines, locations, functions, short samples) are shorter, so the common case moves no bytes at all.

/// The protobuf wire types this project reads or writes.
public enum ProtobufWireType: UInt8, Sendable {
    case varint = 0
    case fixed64 = 1
    case lengthDelimited = 2
    case fixed32 = 5
}

/// Appends protobuf fields to a byte array.
///
/// Scalar writers whose names end in `IfNonZero` omit zero, false and empty values, as proto3 encoders do;
/// the plain writers always emit the field (pprof's string table needs its leading `""`).
public struct ProtobufEncoder: Sendable {
    /// The message so far.
    public private(set) var bytes: [UInt8]

    /// An empty message, with room for `capacity` bytes.
    public init(reservingCapacity capacity: Int = 0) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Hands the written bytes over and leaves the encoder empty.
    public mutating func takeBytes() -> [UInt8] {
        defer { bytes = [] }
        return bytes
    }

    // MARK: Primitives

    /// Appends `value` as a base-128 varint.
    public mutating func appendVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(truncatingIfNeeded: v))
    }

    /// Appends a field key (number and wire type).
    public mutating func appendTag(_ field: Int, _ wireType: ProtobufWireType) {
        appendVarint(UInt64(field) << 3 | UInt64(wireType.rawValue))
    }

    // MARK: Scalars

    /// A varint field, written even when zero.
    public mutating func uint64(_ field: Int, _ value: UInt64) {
        appendTag(field, .varint)
        appendVarint(value)
    }

    /// Negative values take ten bytes (two's complement), as protobuf's int64 requires.
    public mutating func int64(_ field: Int, _ value: Int64) {
        uint64(field, UInt64(bitPattern: value))
    }

    /// A varint field, left out when zero (proto3 default).
    public mutating func uint64IfNonZero(_ field: Int, _ value: UInt64) {
        if value != 0 { uint64(field, value) }
    }

    /// A signed varint field, left out when zero.
    public mutating func int64IfNonZero(_ field: Int, _ value: Int64) {
        if value != 0 { int64(field, value) }
    }

    /// A bool field, left out when false.
    public mutating func boolIfTrue(_ field: Int, _ value: Bool) {
        if value { uint64(field, 1) }
    }

    // MARK: Length-delimited

    /// A length-delimited UTF-8 field.
    public mutating func string(_ field: Int, _ value: String) {
        var value = value
        value.withUTF8 { utf8 in
            appendTag(field, .lengthDelimited)
            appendVarint(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    /// A length-delimited bytes field.
    public mutating func bytes(_ field: Int, _ value: some Collection<UInt8>) {
        appendTag(field, .lengthDelimited)
        appendVarint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    /// Repeated unsigned integers: packed into one field when there are more than two values (Go's
    /// runtime does the same), otherwise one varint field per value. Decoders accept both forms.
    public mutating func uint64s(_ field: Int, _ values: [UInt64]) {
        if values.count > 2 {
            message(field) { body in
                for value in values { body.appendVarint(value) }
            }
        } else {
            for value in values { uint64(field, value) }
        }
    }

    /// Repeated signed integers, packed under the same rule as `uint64s`.
    public mutating func int64s(_ field: Int, _ values: [Int64]) {
        if values.count > 2 {
            message(field) { body in
                for value in values { body.appendVarint(UInt64(bitPattern: value)) }
            }
        } else {
            for value in values { int64(field, value) }
        }
    }

    /// Writes a length-delimited field whose body `writeBody` appends to this same encoder.
    public mutating func message(_ field: Int, _ writeBody: (inout ProtobufEncoder) throws -> Void) rethrows {
        appendTag(field, .lengthDelimited)
        let lengthAt = bytes.count
        bytes.append(0)  // one-byte length placeholder, widened below if needed
        let bodyStart = bytes.count
        try writeBody(&self)
        patchLength(at: lengthAt, bodyLength: bytes.count - bodyStart)
    }

    mutating func patchLength(at index: Int, bodyLength: Int) {
        if bodyLength < 0x80 {
            bytes[index] = UInt8(bodyLength)
            return
        }
        // Longer body: encode the full varint and shift the body right by the extra bytes.
        var lengthBytes: [UInt8] = []
        var v = UInt64(bodyLength)
        while v >= 0x80 {
            lengthBytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        lengthBytes.append(UInt8(truncatingIfNeeded: v))
        bytes.replaceSubrange(index..<(index + 1), with: lengthBytes)
    }
}
