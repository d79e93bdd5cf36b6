import XCTest
@testable import Profiling

final class ProtobufEncoderTests: XCTestCase {
    private func encode(_ write: (inout ProtobufEncoder) -> Void) -> [UInt8] {
        var encoder = ProtobufEncoder()
        write(&encoder)
        return encoder.bytes
    }

    func testVarintFieldsMatchHandComputedBytes() {
        // 150 = 0b1001_0110 -> low 7 bits 0x16 | 0x80, then 0x01.
        XCTAssertEqual(encode { $0.uint64(1, 150) }, [0x08, 0x96, 0x01])
        XCTAssertEqual(encode { $0.uint64(1, 0) }, [0x08, 0x00])
        XCTAssertEqual(encode { $0.uint64(15, 1) }, [0x78, 0x01])
        // Field 16 needs a two-byte key: (16 << 3) = 128 -> 0x80 0x01.
        XCTAssertEqual(encode { $0.uint64(16, 1) }, [0x80, 0x01, 0x01])
        XCTAssertEqual(encode { $0.uint64(1, UInt64.max) },
                       [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])
        // Negative int64 is its two's complement as a ten-byte varint.
        XCTAssertEqual(encode { $0.int64(2, -1) },
                       [0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])
    }

    func testOptionalScalarsAreOmittedWhenZero() {
        XCTAssertEqual(encode { $0.uint64IfNonZero(1, 0); $0.int64IfNonZero(2, 0); $0.boolIfTrue(3, false) }, [])
        XCTAssertEqual(encode { $0.boolIfTrue(7, true) }, [0x38, 0x01])
    }

    func testStringsAreLengthDelimited() {
        XCTAssertEqual(encode { $0.string(2, "testing") }, [0x12, 0x07, 0x74, 0x65, 0x73, 0x74, 0x69, 0x6e, 0x67])
        XCTAssertEqual(encode { $0.string(6, "") }, [0x32, 0x00])
        XCTAssertEqual(encode { $0.string(6, "é") }, [0x32, 0x02, 0xc3, 0xa9])
    }

    func testRepeatedIntegersArePackedOnlyAboveTwoElements() {
        XCTAssertEqual(encode { $0.uint64s(1, [1, 2]) }, [0x08, 0x01, 0x08, 0x02])
        XCTAssertEqual(encode { $0.uint64s(1, [7]) }, [0x08, 0x07])
        XCTAssertEqual(encode { $0.uint64s(1, []) }, [])
        // Packed: key (4 << 3 | 2) = 0x22, length 6, then 3, 270 (8E 02), 86942 (9E A7 05).
        XCTAssertEqual(encode { $0.uint64s(4, [3, 270, 86942]) }, [0x22, 0x06, 0x03, 0x8e, 0x02, 0x9e, 0xa7, 0x05])
        XCTAssertEqual(encode { $0.int64s(2, [-1, 0, 1]) },
                       [0x12, 0x0c, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00, 0x01])
    }

    func testNestedMessageLengthIsInsertedAfterTheBody() {
        XCTAssertEqual(encode { $0.message(3) { $0.uint64(1, 5) } }, [0x1a, 0x02, 0x08, 0x05])
        XCTAssertEqual(encode { $0.message(3) { _ in } }, [0x1a, 0x00])
        // A 200-byte body needs a two-byte length (C8 01): the body must move right by one byte intact.
        let body = (0..<200).map { UInt8($0 & 0x7f) }
        let bytes = encode { $0.message(5) { $0.bytes(1, body[0..<197]) } }
        XCTAssertEqual(Array(bytes[0..<3]), [0x2a, 0xc8, 0x01])
        XCTAssertEqual(Array(bytes[3..<6]), [0x0a, 0xc5, 0x01])  // inner: field 1, length 197
        XCTAssertEqual(Array(bytes[6...]), Array(body[0..<197]))
        // Nesting two levels deep with a long inner body shifts both lengths correctly.
        let deep = encode { $0.message(1) { $0.message(2) { $0.bytes(3, [UInt8](repeating: 9, count: 300)) } } }
        var outer = ProtobufDecoder(deep)
        let level1 = try! XCTUnwrap(outer.nextField())
        XCTAssertNil(try outer.nextField())
        var inner = ProtobufDecoder(try! level1.payload())
        let level2 = try! XCTUnwrap(inner.nextField())
        var innermost = ProtobufDecoder(try! level2.payload())
        XCTAssertEqual(Array(try! XCTUnwrap(innermost.nextField()).payload()), [UInt8](repeating: 9, count: 300))
    }
}

final class ProtobufDecoderTests: XCTestCase {
    func testRoundTripOfEveryWriterThroughTheDecoder() throws {
        var encoder = ProtobufEncoder()
        encoder.uint64(1, 150)
        encoder.int64(2, -42)
        encoder.string(3, "hello")
        encoder.uint64s(4, [1, 2, 3, 1 << 40])
        encoder.uint64s(5, [9, 8])
        encoder.message(6) { $0.string(1, "inner") }
        var decoder = ProtobufDecoder(encoder.bytes)
        var seen: [Int: [ProtobufField]] = [:]
        while let field = try decoder.nextField() { seen[field.number, default: []].append(field) }

        XCTAssertEqual(try seen[1]?.first?.uint64(), 150)
        XCTAssertEqual(try seen[2]?.first?.int64(), -42)
        XCTAssertEqual(try seen[3]?.first?.string(), "hello")
        XCTAssertEqual(try seen[4]?.first?.varints(), [1, 2, 3, 1 << 40])
        XCTAssertEqual(try seen[5]?.flatMap { try $0.varints() }, [9, 8])
        var inner = ProtobufDecoder(try XCTUnwrap(seen[6]?.first).payload())
        XCTAssertEqual(try inner.nextField()?.string(), "inner")
    }

    func testFixedWidthFieldsAreReadLittleEndian() throws {
        // field 1 fixed64 = 0x0102030405060708, field 2 fixed32 = 0x0a0b0c0d
        let bytes: [UInt8] = [0x09, 8, 7, 6, 5, 4, 3, 2, 1, 0x15, 0x0d, 0x0c, 0x0b, 0x0a]
        var decoder = ProtobufDecoder(bytes)
        guard case .fixed64(let a)? = try decoder.nextField()?.value else { return XCTFail("expected fixed64") }
        guard case .fixed32(let b)? = try decoder.nextField()?.value else { return XCTFail("expected fixed32") }
        XCTAssertEqual(a, 0x0102030405060708)
        XCTAssertEqual(b, 0x0a0b0c0d)
    }

    func testMalformedInputGivesPreciseErrors() {
        func firstError(_ bytes: [UInt8]) -> ProtobufDecodingError? {
            var decoder = ProtobufDecoder(bytes)
            do {
                while try decoder.nextField() != nil {}
                return nil
            } catch let error as ProtobufDecodingError {
                return error
            } catch {
                return nil
            }
        }
        XCTAssertEqual(firstError([0x08, 0x96]), .truncatedVarint(offset: 1))
        XCTAssertEqual(firstError([0x08] + [UInt8](repeating: 0xff, count: 10) + [0x01]), .varintTooLong(offset: 1))
        XCTAssertEqual(firstError([0x12, 0x05, 0x61]), .lengthPastEnd(offset: 0, length: 5, remaining: 1))
        XCTAssertEqual(firstError([0x00, 0x01]), .invalidFieldNumber(offset: 0))
        XCTAssertEqual(firstError([0x0b]), .unsupportedWireType(3, field: 1, offset: 0))
        XCTAssertEqual(firstError([0x09, 0x01]), .truncatedFixed(offset: 1, size: 8))
        var decoder = ProtobufDecoder([0x12, 0x01, 0x61])
        XCTAssertThrowsError(try decoder.nextField()?.uint64()) { error in
            XCTAssertEqual(error as? ProtobufDecodingError, .wrongWireType(field: 2, expected: "a varint"))
        }
        XCTAssertEqual(String(describing: ProtobufDecodingError.truncatedVarint(offset: 3)),
                       "protobuf: varint at byte 3 runs past the end of the data; the input is truncated")
    }
}

final class GzipTests: XCTestCase {
    func testHeaderMatchesGoBestSpeedByteForByte() throws {
        let compressed = try Gzip.compress(Array("hello, profile".utf8))
        // magic, deflate, no flags, mtime 0, XFL 4 (fastest), OS 255 — what Go's runtime writes.
        XCTAssertEqual(Array(compressed.prefix(10)), [0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x04, 0xff])
    }

    func testRoundTripOfLargeAndEmptyInputs() throws {
        var generator = SystemRandomNumberGenerator()
        let random = (0..<300_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let repetitive = [UInt8](repeating: 7, count: 1_000_000)
        for input in [random, repetitive, []] {
            XCTAssertEqual(try Gzip.decompress(try Gzip.compress(input)), input)
        }
        XCTAssertLessThan(try Gzip.compress(repetitive).count, 10_000)
    }

    func testSystemGunzipReadsOurOutput() throws {
        let gzip = try XCTUnwrap(which("gzip"), "gzip is not installed")
        let input = Array(String(repeating: "goroutine profile: total 3\n", count: 100).utf8)
        let path = NSTemporaryDirectory() + "profiling-gzip-\(getpid()).gz"
        defer { try? FileManager.default.removeItem(atPath: path) }
        _ = FileManager.default.createFile(atPath: path, contents: Data(try Gzip.compress(input)))
        let result = try runProcess(gzip, ["-dc", path])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stdout, String(decoding: input, as: UTF8.self))
    }

    func testBadInputsGiveClearErrors() throws {
        XCTAssertThrowsError(try Gzip.decompress([1, 2, 3])) { XCTAssertEqual($0 as? GzipError, .notGzip) }
        let whole = try Gzip.compress(Array(repeating: 1, count: 10_000) + (0..<5000).map { UInt8($0 % 251) })
        XCTAssertThrowsError(try Gzip.decompress(Array(whole.prefix(whole.count / 2)))) {
            XCTAssertEqual($0 as? GzipError, .truncated)
        }
        var corrupt = whole
        corrupt[whole.count - 3] ^= 0xff  // breaks the length/CRC trailer
        XCTAssertThrowsError(try Gzip.decompress(corrupt)) { error in
            guard case .zlib(let operation, _, _)? = error as? GzipError else { return XCTFail("\(error)") }
            XCTAssertEqual(operation, "inflate")
        }
        XCTAssertThrowsError(try Gzip.decompress(whole, limit: 100)) {
            XCTAssertEqual($0 as? GzipError, .outputTooLarge(limit: 100))
        }
        XCTAssertThrowsError(try Gzip.compress([1], level: 12)) { XCTAssertEqual($0 as? GzipError, .invalidLevel(12)) }
    }
}
