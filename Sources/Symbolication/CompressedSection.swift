#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Inflates ELF sections compressed with zlib (`SHF_COMPRESSED`, `ELFCOMPRESS_ZLIB`), as linkers write them
/// for `-gz` / `--compress-debug-sections` and as several distributions ship their debug files.
///
/// zlib is loaded with `dlopen` on first use rather than linked, so processes that never meet a compressed
/// section do not depend on it; without zlib such sections are simply treated as absent.
enum CompressedSection {
    private typealias Uncompress = @convention(c) (
        UnsafeMutablePointer<UInt8>?, UnsafeMutablePointer<UInt>?, UnsafePointer<UInt8>?, UInt
    ) -> Int32

    private static let uncompress: Uncompress? = {
        guard let library = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL),
              let symbol = dlsym(library, "uncompress") else { return nil }
        return unsafeBitCast(symbol, to: Uncompress.self)
    }()

    /// The inflated contents of a compressed section (header included in `compressed`), in memory the
    /// caller owns and must free with `deallocate()`; nil when the format is unsupported or the data bad.
    static func inflate(_ compressed: ByteReader) -> UnsafeMutableRawBufferPointer? {
        var header = compressed
        guard let type = try? header.u32(), (try? header.u32()) != nil,
              let size = try? header.u64(), (try? header.u64()) != nil,
              type == 1,  // ELFCOMPRESS_ZLIB
              let uncompress
        else { return nil }
        let payload = compressed.count - header.offset
        // zlib cannot expand more than about 1032:1; a larger claim is a corrupt header, not data.
        guard size > 0, payload > 0, size <= UInt64(payload) * 1032 + 64, size <= 1 << 31 else { return nil }
        let output = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(size), alignment: 8)
        var outputSize = UInt(size)
        let status = uncompress(output.baseAddress!.assumingMemoryBound(to: UInt8.self), &outputSize,
                                (compressed.base + header.offset).assumingMemoryBound(to: UInt8.self), UInt(payload))
        guard status == 0, outputSize == UInt(size) else {
            output.deallocate()
            return nil
        }
        return output
    }
}
