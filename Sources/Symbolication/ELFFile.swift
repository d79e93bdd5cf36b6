#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A 64-bit little-endian ELF image, read-only: section and program headers, the GNU build id, and
/// section contents. Backed either by a private read-only `mmap` of a file (kept for the life of the
/// object) or by memory the process already has mapped (the vDSO).
///
/// Parsing is defensive throughout: any header that points outside the image makes the affected part
/// absent rather than crashing, because we open every library that happens to be mapped.
final class ELFFile {
    struct Section {
        var name: String
        var type: UInt32
        var flags: UInt64
        var address: UInt64
        var offset: UInt64
        var size: UInt64
        var link: UInt32
        var entrySize: UInt64
    }

    struct Segment {
        var type: UInt32
        var flags: UInt32
        var offset: UInt64
        var virtualAddress: UInt64
        var fileSize: UInt64
        var memorySize: UInt64
    }

    static let sectionTypeNoBits: UInt32 = 8
    static let sectionTypeNote: UInt32 = 7
    static let sectionTypeSymtab: UInt32 = 2
    static let sectionTypeDynsym: UInt32 = 11
    static let sectionFlagCompressed: UInt64 = 0x800
    static let segmentTypeLoad: UInt32 = 1
    static let segmentTypeNote: UInt32 = 4

    let path: String
    let bytes: ByteReader
    private let unmapLength: Int  // 0 when the memory is not ours
    private(set) var sections: [Section] = []
    private(set) var segments: [Segment] = []
    /// True for ET_DYN (PIE executables and shared libraries): addresses are relative to a load bias.
    private(set) var isPositionIndependent = false

    /// Maps the file at `path`; nil when it cannot be opened or is not a 64-bit little-endian ELF file.
    static func open(path: String) -> ELFFile? {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_size >= 64 else { return nil }
        let length = Int(info.st_size)
        guard let mapped = mmap(nil, length, PROT_READ, MAP_PRIVATE, fd, 0), mapped != MAP_FAILED else { return nil }
        let file = ELFFile(path: path, base: UnsafeRawPointer(mapped), count: length, unmapLength: length)
        return file.parseHeaders() ? file : nil
    }

    /// Reads an ELF image the process already has in memory (the vDSO); the memory must stay mapped.
    static func inMemory(name: String, base: UnsafeRawPointer, count: Int) -> ELFFile? {
        let file = ELFFile(path: name, base: base, count: count, unmapLength: 0)
        return file.parseHeaders() ? file : nil
    }

    private init(path: String, base: UnsafeRawPointer, count: Int, unmapLength: Int) {
        self.path = path
        self.bytes = ByteReader(base: base, count: count)
        self.unmapLength = unmapLength
    }

    deinit {
        if unmapLength > 0 { munmap(UnsafeMutableRawPointer(mutating: bytes.base), unmapLength) }
        for case let buffer? in inflatedSections.values { buffer.deallocate() }
    }

    private func parseHeaders() -> Bool {
        do {
            var header = bytes
            guard try header.u32() == 0x464c_457f else { return false }  // "\x7fELF"
            guard try header.u8() == 2, try header.u8() == 1 else { return false }  // ELFCLASS64, little-endian
            try header.seek(to: 16)
            let type = try header.u16()
            isPositionIndependent = type == 3  // ET_DYN
            try header.seek(to: 32)
            let programHeaderOffset = try header.u64()
            let sectionHeaderOffset = try header.u64()
            try header.skip(4 + 2)  // e_flags, e_ehsize
            let programHeaderSize = Int(try header.u16())
            let programHeaderCount = Int(try header.u16())
            let sectionHeaderSize = Int(try header.u16())
            var sectionHeaderCount = Int(try header.u16())
            var sectionNamesIndex = Int(try header.u16())

            segments = parseSegments(offset: programHeaderOffset, entrySize: programHeaderSize, count: programHeaderCount)

            if sectionHeaderOffset != 0, sectionHeaderSize >= 64 {
                // Extended numbering: the real counts live in section 0 when the header fields overflow.
                if sectionHeaderCount == 0 || sectionNamesIndex == 0xffff {
                    var first = try bytes.slice(from: Int(clamping: sectionHeaderOffset), length: 64)
                    try first.skip(32)
                    let size = try first.u64()
                    let link = try first.u32()
                    if sectionHeaderCount == 0 { sectionHeaderCount = Int(clamping: size) }
                    if sectionNamesIndex == 0xffff { sectionNamesIndex = Int(link) }
                }
                sections = parseSections(offset: sectionHeaderOffset, entrySize: sectionHeaderSize,
                                         count: sectionHeaderCount, namesIndex: sectionNamesIndex)
            }
            return true
        } catch {
            return false
        }
    }

    private func parseSegments(offset: UInt64, entrySize: Int, count: Int) -> [Segment] {
        guard entrySize >= 56, count > 0, count < 65536 else { return [] }
        var result: [Segment] = []
        for index in 0..<count {
            guard var entry = try? bytes.slice(from: Int(clamping: offset) &+ index * entrySize, length: 56),
                  let type = try? entry.u32(), let flags = try? entry.u32(),
                  let fileOffset = try? entry.u64(), let vaddr = try? entry.u64(), (try? entry.u64()) != nil,
                  let fileSize = try? entry.u64(), let memorySize = try? entry.u64()
            else { break }
            result.append(Segment(type: type, flags: flags, offset: fileOffset, virtualAddress: vaddr,
                                  fileSize: fileSize, memorySize: memorySize))
        }
        return result
    }

    private func parseSections(offset: UInt64, entrySize: Int, count: Int, namesIndex: Int) -> [Section] {
        guard count > 0, count < 1 << 20 else { return [] }
        var result: [Section] = []
        result.reserveCapacity(count)
        var nameOffsets: [UInt32] = []
        for index in 0..<count {
            guard var entry = try? bytes.slice(from: Int(clamping: offset) &+ index * entrySize, length: 64),
                  let nameOffset = try? entry.u32(), let type = try? entry.u32(), let flags = try? entry.u64(),
                  let address = try? entry.u64(), let fileOffset = try? entry.u64(), let size = try? entry.u64(),
                  let link = try? entry.u32(), (try? entry.u32()) != nil, (try? entry.u64()) != nil,
                  let entSize = try? entry.u64()
            else { return [] }
            nameOffsets.append(nameOffset)
            result.append(Section(name: "", type: type, flags: flags, address: address, offset: fileOffset,
                                  size: size, link: link, entrySize: entSize))
        }
        if namesIndex < result.count, let names = data(of: result[namesIndex]) {
            for index in result.indices { result[index].name = names.stringAt(Int(nameOffsets[index])) }
        }
        return result
    }

    /// Contents of a section (inflated when compressed), nil when it occupies no file space, lies outside
    /// the image, or is compressed in a way we cannot read.
    func data(of section: Section) -> ByteReader? {
        guard section.type != ELFFile.sectionTypeNoBits, section.offset <= UInt64(Int.max),
              section.size <= UInt64(Int.max),
              let raw = try? bytes.slice(from: Int(section.offset), length: Int(section.size))
        else { return nil }
        guard section.flags & ELFFile.sectionFlagCompressed != 0 else { return raw }
        if let inflated = inflatedSections[section.offset] {
            return inflated.map { ByteReader(base: UnsafeRawPointer($0.baseAddress!), count: $0.count) }
        }
        let inflated = CompressedSection.inflate(raw)
        inflatedSections[section.offset] = .some(inflated)
        return inflated.map { ByteReader(base: UnsafeRawPointer($0.baseAddress!), count: $0.count) }
    }

    /// Inflated copies of compressed sections by file offset (nil: could not inflate), freed with the file.
    private var inflatedSections: [UInt64: UnsafeMutableRawBufferPointer?] = [:]

    func section(named name: String) -> Section? {
        sections.first { $0.name == name }
    }

    func sectionData(named name: String) -> ByteReader? {
        section(named: name).flatMap(data(of:))
    }

    /// The GNU build id as lowercase hex, "" when the image has none. Looks at PT_NOTE segments first
    /// (present even in stripped files), then at note sections.
    lazy var buildID: String = {
        for segment in segments where segment.type == ELFFile.segmentTypeNote {
            if let notes = try? bytes.slice(from: Int(clamping: segment.offset), length: Int(clamping: segment.fileSize)),
               let id = ELFFile.findBuildID(in: notes) {
                return id
            }
        }
        for section in sections where section.type == ELFFile.sectionTypeNote {
            if let notes = data(of: section), let id = ELFFile.findBuildID(in: notes) { return id }
        }
        return ""
    }()

    private static func findBuildID(in notes: ByteReader) -> String? {
        var reader = notes
        while reader.remaining >= 12 {
            guard let nameSize = try? reader.u32(), let descSize = try? reader.u32(), let type = try? reader.u32()
            else { return nil }
            let nameStart = reader.offset
            let descStart = nameStart + ((Int(nameSize) + 3) & ~3)
            let next = descStart + ((Int(descSize) + 3) & ~3)
            guard next <= reader.count, next > nameStart else { return nil }
            if type == 3, nameSize == 4, reader.stringAt(nameStart) == "GNU", descSize > 0 {
                let id = UnsafeRawBufferPointer(start: reader.base + descStart, count: Int(descSize))
                return id.map { byte in
                    let hex = String(byte, radix: 16)
                    return byte < 16 ? "0" + hex : hex
                }.joined()
            }
            reader.offset = next
        }
        return nil
    }

    /// The link-time virtual address that file offset `fileOffset` is loaded at, via the PT_LOAD holding it.
    func virtualAddress(ofFileOffset fileOffset: UInt64) -> UInt64? {
        for segment in segments where segment.type == ELFFile.segmentTypeLoad {
            if fileOffset >= segment.offset, fileOffset - segment.offset < max(segment.fileSize, 1) {
                return segment.virtualAddress &+ (fileOffset - segment.offset)
            }
        }
        // A mapping can start on the page below its segment's unaligned file offset.
        for segment in segments where segment.type == ELFFile.segmentTypeLoad {
            let pageStart = segment.offset & ~0xfff
            if fileOffset >= pageStart, fileOffset < segment.offset &+ segment.fileSize {
                return (segment.virtualAddress &- (segment.offset - pageStart)) &+ (fileOffset - pageStart)
            }
        }
        return nil
    }
}
