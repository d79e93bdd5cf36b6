// gzip through the system zlib. Profiles go out gzip-compressed at BestSpeed, as Go's runtime sends them;
// the header matches Go's byte for byte (mtime 0, XFL 4 for level 1, OS 255 "unknown") so our output
// is indistinguishable at the container level. `decompress` exists for tests and for reading protos back.
import CZlib

/// A zlib failure while compressing or decompressing.
public enum GzipError: Error, Equatable, CustomStringConvertible {
    case invalidLevel(Int32)
    case zlib(operation: String, code: Int32, message: String)
    case notGzip
    case truncated
    case outputTooLarge(limit: Int)

    /// zlib's operation and message.
    public var description: String {
        switch self {
        case .invalidLevel(let level):
            return "gzip: compression level \(level) is out of range; use 0 (store) through 9 (best compression), or -1 for zlib's default"
        case .zlib(let operation, let code, let message):
            return "gzip: zlib \(operation) failed with code \(code)\(message.isEmpty ? "" : ": \(message)")"
        case .notGzip:
            return "gzip: the data does not start with the gzip magic bytes 1f 8b"
        case .truncated:
            return "gzip: the compressed stream ends before its trailer; the data is truncated"
        case .outputTooLarge(let limit):
            return "gzip: decompressed data exceeds the limit of \(limit) bytes; raise the limit if this input is trusted"
        }
    }
}

/// gzip (RFC 1952) through zlib, as pprof profiles are served.
public enum Gzip {
    /// Go's `gzip.BestSpeed`, the level the Go runtime uses for profiles.
    public static let bestSpeed: Int32 = 1

    /// Compresses `input` into a complete gzip member.
    public static func compress(_ input: [UInt8], level: Int32 = bestSpeed) throws(GzipError) -> [UInt8] {
        guard level == Z_DEFAULT_COMPRESSION || (0...9).contains(level) else { throw GzipError.invalidLevel(level) }
        var stream = z_stream()
        // windowBits 15 + 16 asks zlib for a gzip wrapper instead of a zlib one.
        var status = deflateInit2_(&stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY,
                                   zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else { throw zlibError("deflateInit2", status, stream) }
        defer { deflateEnd(&stream) }

        // OS byte 255 ("unknown") as Go writes it; zlib would say 3 (Unix). Fields zlib reads stay zero.
        var header = gz_header()
        header.os = 255
        status = deflateSetHeader(&stream, &header)
        guard status == Z_OK else { throw zlibError("deflateSetHeader", status, stream) }

        // Compress through a small reused chunk rather than one worst-case-sized buffer: profiles shrink
        // 10-20x, and large short-lived buffers cost page faults on every request.
        var output: [UInt8] = []
        output.reserveCapacity(input.count / 8 + 64)
        var chunk = [UInt8](repeating: 0, count: 32 * 1024)
        try input.withUnsafeBufferPointer { inBuffer throws(GzipError) in
            // zlib only reads the input; its pointer type just lacks the const.
            stream.next_in = inBuffer.baseAddress.map { UnsafeMutablePointer(mutating: $0) }
            stream.avail_in = uInt(inBuffer.count)
            repeat {
                let written = chunk.withUnsafeMutableBufferPointer { outBuffer in
                    stream.next_out = outBuffer.baseAddress
                    stream.avail_out = uInt(outBuffer.count)
                    status = deflate(&stream, Z_FINISH)
                    return outBuffer.count - Int(stream.avail_out)
                }
                guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else {
                    throw zlibError("deflate", status, stream)
                }
                output.append(contentsOf: chunk[0..<written])
            } while status != Z_STREAM_END
        }
        return output
    }

    /// Decompresses one gzip member. `limit` bounds the output so a hostile input cannot exhaust memory.
    public static func decompress(_ input: [UInt8], limit: Int = 1 << 30) throws(GzipError) -> [UInt8] {
        guard input.count >= 2, input[0] == 0x1f, input[1] == 0x8b else { throw GzipError.notGzip }
        var stream = z_stream()
        var status = inflateInit2_(&stream, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else { throw zlibError("inflateInit2", status, stream) }
        defer { inflateEnd(&stream) }

        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        try input.withUnsafeBufferPointer { inBuffer throws(GzipError) in
            stream.next_in = inBuffer.baseAddress.map { UnsafeMutablePointer(mutating: $0) }
            stream.avail_in = uInt(inBuffer.count)
            repeat {
                let written: Int = chunk.withUnsafeMutableBufferPointer { outBuffer in
                    stream.next_out = outBuffer.baseAddress
                    stream.avail_out = uInt(outBuffer.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    return outBuffer.count - Int(stream.avail_out)
                }
                switch status {
                case Z_OK, Z_STREAM_END:
                    break
                case Z_BUF_ERROR:
                    // No progress possible: input exhausted before the end of the stream.
                    throw GzipError.truncated
                default:
                    throw zlibError("inflate", status, stream)
                }
                guard output.count + written <= limit else { throw GzipError.outputTooLarge(limit: limit) }
                output.append(contentsOf: chunk[0..<written])
                if status != Z_STREAM_END && stream.avail_in == 0 && written == 0 { throw GzipError.truncated }
            } while status != Z_STREAM_END
        }
        return output
    }

    private static func zlibError(_ operation: String, _ code: Int32, _ stream: z_stream) -> GzipError {
        let message = stream.msg.map { String(cString: $0) } ?? ""
        return .zlib(operation: operation, code: code, message: message)
    }
}
