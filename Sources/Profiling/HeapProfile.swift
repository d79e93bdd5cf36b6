// The `heap` and `allocs` profiles, shaped exactly as Go 1.27 shapes them, from the heap sampler's buckets.
//
// Proto: sample types alloc_objects/count, alloc_space/bytes, inuse_objects/count, inuse_space/bytes;
// period type space/bytes with period = the sampling rate (left out when sampling is off); each sample
// carries the numeric label `bytes` = average sampled object size, without a unit. `allocs` differs only
// in default_sample_type = alloc_space. Values are the sampler's estimates, unbiased per sample. Samples
// come in snapshot order (newest bucket first), as Go writes its MemProfile records.
//
// Text (`debug=1`): `heap profile: <inuse objs>: <inuse bytes> [<alloc objs>: <alloc bytes>] @ heap/<2×rate>`
// with raw sampled counts (pprof unbiases them itself), alloc bytes +1 when equal to in-use bytes (pprof
// would read the profile as a two-column one otherwise), records by in-use bytes ascending as Go ≥1.23
// sorts them (ties keep snapshot order), then a `# runtime.MemStats` trailer with the fields whose meaning
// carries over (see HeapMemoryStatistics).
//
// Go drops the runtime's frames (runtime.mallocgc, …) from the leaf end of every proto stack and hides
// them from the text's `#` lines while keeping them in its `@` list; we do exactly that with our allocator
// frames: the malloc family, C++ operator new, the Swift runtime (`swift_allocObject`, `swift_slowAlloc`,
// …) and the Swift standard library's code that allocates on a caller's behalf (array, string and
// dictionary buffers; in the proto, any code of libswiftCore, named or not). So the top frame is the user's code. If nothing else is left, the stack is kept
// whole, as Go keeps it.
//
// Frees are credited the moment they happen, so in-use figures are always current: Go's `gc=1` (collect
// before the snapshot) has nothing to do here and is accepted for compatibility only.
import Symbolication

/// The `heap` and `allocs` profiles from the sampled malloc interposer, shaped as Go's (see above).
/// `HeapProfile(kind: .heap)` snapshots the sampler now and names frames with this process's symbols.
public struct HeapProfile: RenderableProfile {
    /// Which profile: the data is the same, the default sample type differs.
    public enum Kind: Sendable, Hashable {
        /// In-use first: pprof shows inuse_space by default.
        case heap
        /// Same data; pprof shows alloc_space by default.
        case allocs
    }

    /// heap or allocs.
    public let kind: Kind
    /// The sampling rate in bytes (the profile's period); 0 when sampling is off.
    public let samplingRate: Int
    /// Records in snapshot order (newest bucket first), with their full stacks.
    public let records: [HeapProfileRecord]
    /// The `# runtime.MemStats` trailer of the text form.
    public let memoryStatistics: HeapMemoryStatistics
    /// When the snapshot was taken, nanoseconds since the Unix epoch.
    public let timeNanos: Int64
    private let resolver: any FrameResolver
    private let isAllocatorFrame: @Sendable (SymbolicatedFrame) -> Bool
    private let textOmits: @Sendable (SymbolicatedFrame) -> Bool

    /// `heap` or `allocs`.
    public var name: String { kind == .heap ? "heap" : "allocs" }

    /// - Parameters:
    ///   - snapshot: buckets from `HeapProfiler.snapshot()`.
    ///   - memoryStatistics: the trailer of the `debug=1` text; read now unless given.
    ///   - isAllocatorFrame: which frames count as the allocator's (dropped from the leaf end of proto
    ///     stacks, hidden there in the text); the default knows malloc, operator new and the Swift runtime.
    ///   - textOmits: frames the text never prints (the goroutine entry trampoline, as Go omits
    ///     runtime.goexit).
    public init(kind: Kind, snapshot: HeapSnapshot, resolver: any FrameResolver = Symbolizer.shared, timeNanos: Int64? = nil,
                memoryStatistics: HeapMemoryStatistics? = nil,
                isAllocatorFrame: @escaping @Sendable (SymbolicatedFrame) -> Bool = HeapAllocatorFrames.isAllocator,
                textOmits: @escaping @Sendable (SymbolicatedFrame) -> Bool = { _ in false }) {
        self.kind = kind
        self.resolver = resolver
        self.isAllocatorFrame = isAllocatorFrame
        self.textOmits = textOmits
        self.samplingRate = snapshot.samplingRate
        self.records = snapshot.records
        self.timeNanos = timeNanos ?? currentUnixNanos()
        self.memoryStatistics = memoryStatistics ?? .current(records: snapshot.records)
    }

    /// Takes a snapshot of the sampler now.
    public init(kind: Kind, resolver: any FrameResolver = Symbolizer.shared) {
        self.init(kind: kind, snapshot: HeapProfiler.snapshot(), resolver: resolver)
    }

    /// Records in the text's order: in-use bytes ascending, ties in snapshot order.
    public var textOrderedRecords: [HeapProfileRecord] {
        records.enumerated().sorted { a, b in
            if a.element.sampledInUseBytes != b.element.sampledInUseBytes {
                return a.element.sampledInUseBytes < b.element.sampledInUseBytes
            }
            return a.offset < b.offset
        }.map(\.element)
    }

    /// The proto shape, allocator frames dropped from the leaf end.
    public func pprofProfile() throws -> Profile {
        var frames = ResolvedFrames()
        frames.resolve(records.lazy.flatMap(\.stack).map { callSitePC(returnAddress: $0) }, with: resolver)
        let images = resolver.mappings()
        let space = ValueType(type: "space", unit: "bytes")
        var builder = try ProfileBuilder(
            sampleTypes: [ValueType(type: "alloc_objects", unit: "count"), ValueType(type: "alloc_space", unit: "bytes"),
                          ValueType(type: "inuse_objects", unit: "count"), ValueType(type: "inuse_space", unit: "bytes")],
            periodType: space, period: Int64(samplingRate),
            defaultSampleType: kind == .allocs ? "alloc_space" : nil,
            timeNanos: timeNanos, resolver: LeafTrimmingResolver(base: resolver, leafPCs: leafPCs(frames: frames, images: images),
                                                                 isMachineryFrame: isAllocatorFrame))
        for record in records {
            var labels: [Label] = []
            if record.sampledAllocations > 0 {
                let blockSize = record.sampledAllocatedBytes / record.sampledAllocations
                if blockSize != 0 { labels.append(.number("bytes", blockSize)) }
            }
            let stack = trimmedStack(record, frames: frames, images: images)
            try builder.addSample(stack: stack,
                                  values: [record.allocatedObjects, record.allocatedBytes,
                                           record.inUseObjects, record.inUseBytes],
                                  labels: labels)
        }
        return builder.build()
    }

    /// The record's stack without allocator frames at the leaf end.
    private func trimmedStack(_ record: HeapProfileRecord, frames: ResolvedFrames, images: [ImageMapping]) -> [UInt] {
        HeapAllocatorFrames.trimLeading(record.stack.filter { $0 != 0 }) { returnAddress in
            let pc = callSitePC(returnAddress: returnAddress)
            // Code of the Swift runtime library is the allocator's even where it has no exported name.
            if let image = resolver.mappingIndex(containing: pc).flatMap({ $0 < images.count ? images[$0] : nil }),
               HeapAllocatorFrames.isRuntimeLibrary(path: image.path) {
                return true
            }
            let pcFrames = frames[pc].filter(\.isKnown)
            return !pcFrames.isEmpty && pcFrames.allSatisfy(isAllocatorFrame)
        }
    }

    /// Call-site PCs that end up at the leaf of some trimmed stack. In optimized code the standard
    /// library's allocation paths are inlined into the caller: their frames sit inside the leaf location
    /// and are trimmed there, so the leaf line is the user's.
    private func leafPCs(frames: ResolvedFrames, images: [ImageMapping]) -> Set<UInt> {
        var leaves = Set<UInt>()
        for record in records {
            if let leaf = trimmedStack(record, frames: frames, images: images).first { leaves.insert(callSitePC(returnAddress: leaf)) }
        }
        return leaves
    }

    /// Go's `debug=1` text.
    public func legacyText() -> String {
        var frames = ResolvedFrames()
        frames.resolve(records.lazy.flatMap(\.stack).map { callSitePC(returnAddress: $0) }, with: resolver)
        var inUseObjects: Int64 = 0, inUseBytes: Int64 = 0, allocObjects: Int64 = 0, allocBytes: Int64 = 0
        for record in records {
            inUseObjects += record.sampledInUseObjects
            inUseBytes += record.sampledInUseBytes
            allocObjects += record.sampledAllocations
            allocBytes += record.sampledAllocatedBytes
        }
        if allocBytes == inUseBytes { allocBytes += 1 }
        var text = "heap profile: \(inUseObjects): \(inUseBytes) [\(allocObjects): \(allocBytes)] @ heap/\(2 * samplingRate)\n"
        let filter = StackTextFilter(omits: textOmits, hidesWhileLeading: isAllocatorFrame)
        for record in textOrderedRecords {
            text += "\(record.sampledInUseObjects): \(record.sampledInUseBytes) [\(record.sampledAllocations): \(record.sampledAllocatedBytes)] @"
            text.appendAddressList(record.stack)
            text += "\n"
            text.appendFrameLines(stack: record.stack, frames: frames, filter: filter, allFrames: false)
        }
        text += memoryStatistics.memStatsText
        return TabAligner.align(text)
    }
}

/// Which frames belong to the allocator rather than to the code that asked for memory.
public enum HeapAllocatorFrames {
    static let cFunctions: Set<String> = [
        "malloc", "free", "calloc", "realloc", "reallocarray", "posix_memalign", "aligned_alloc", "memalign",
        "valloc", "pvalloc", "malloc_usable_size", "__libc_malloc", "__libc_calloc", "__libc_realloc",
        "__libc_memalign", "__libc_valloc", "__libc_pvalloc", "strdup", "strndup",
    ]

    /// The default allocator-frame rule of `HeapProfile`.
    @Sendable public static func isAllocator(_ frame: SymbolicatedFrame) -> Bool {
        isAllocator(symbol: frame.systemName) || isAllocator(symbol: frame.function)
    }

    static func isAllocator(symbol: String) -> Bool {
        if cFunctions.contains(symbol) { return true }
        // swift_allocObject, swift_slowAlloc, … ; our own hook; C++ operator new/new[].
        if symbol.hasPrefix("swift_") || symbol.hasPrefix("gr_heap_") || symbol.hasPrefix("_Znw") || symbol.hasPrefix("_Zna") {
            return true
        }
        // The Swift runtime's C++ internals (swift::MetadataAllocator::Allocate, …), mangled or not.
        if symbol.hasPrefix("swift::") || symbol.hasPrefix("_ZN5swift") { return true }
        return symbol.hasPrefix("operator new") || isStandardLibrary(mangled: symbol)
    }

    /// Swift standard library entities: mangled `$ss…` (module Swift) or `$sS<x>…` (its standard types such
    /// as `Sa` Array, `SS` String, `SD` Dictionary), including specializations emitted into user code, but
    /// not a user module's extension on a standard type (`$sSa4MainE…`) nor imported C types (`$sSo…`).
    static func isStandardLibrary(mangled symbol: String) -> Bool {
        let bytes = Array(symbol.utf8)
        guard bytes.count > 4, bytes[0] == UInt8(ascii: "$"), bytes[1] == UInt8(ascii: "s") else { return false }
        if bytes[2] == UInt8(ascii: "s") { return true }
        guard bytes[2] == UInt8(ascii: "S"), bytes[3] != UInt8(ascii: "o") else { return false }
        // `<length><identifier>E` right after the type marks an extension declared in module <identifier>.
        var index = 4, length = 0
        while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
            length = length * 10 + Int(bytes[index] - UInt8(ascii: "0"))
            index += 1
        }
        if length > 0, index + length < bytes.count, bytes[index + length] == UInt8(ascii: "E") { return false }
        return true
    }

    /// The Swift runtime and standard library image: at the leaf end of an allocation stack its code is
    /// always allocating on someone's behalf, including its internal functions that have no symbol.
    static func isRuntimeLibrary(path: String) -> Bool {
        (path.split(separator: "/").last ?? "").hasPrefix("libswiftCore.so")
    }

    /// Drops allocator frames from the leaf end; keeps the stack whole if nothing else would remain.
    static func trimLeading(_ stack: [UInt], isAllocator: (UInt) -> Bool) -> [UInt] {
        guard let firstUser = stack.firstIndex(where: { !isAllocator($0) }) else { return stack }
        return Array(stack[firstUser...])
    }
}
