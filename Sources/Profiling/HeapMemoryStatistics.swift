// The process memory figures the heap profile's `debug=1` trailer prints as Go's `# runtime.MemStats`:
// every line Go prints, in Go's order and format, each with the nearest honest meaning for a process
// whose heap is glibc's malloc and which has no garbage collector.
//
//   Alloc, HeapAlloc, HeapInuse  bytes in live malloc blocks, arena and mmapped (mallinfo2 uordblks+hblkhd)
//   TotalAlloc, Mallocs, Frees   cumulative allocated bytes and allocation/free counts, estimated from our
//                                heap sampler (the same unbiased estimates as the allocs profile's totals)
//   HeapObjects                  Mallocs − Frees
//   HeapSys                      bytes glibc holds from the system: arenas plus mmapped blocks
//   HeapIdle                     free bytes inside the arenas (mallinfo2 fordblks)
//   HeapReleased                 0: glibc does not count the bytes it has handed back (trim, madvise)
//   Stack = inuse / sys          goroutine stack address space handed to goroutines / reserved (virtual:
//                                pages become resident on first touch); thread stacks are not included
//   Sys                          HeapSys + StackSys
//   MaxRSS                       peak resident set size (getrusage), measured as Go measures it
//   Lookups                      0, as in Go (it no longer counts pointer lookups)
//   MSpan, MCache, GCSys         0 / 0, 0: there are no spans, per-P caches or GC metadata
//   BuckHashSys, OtherSys        0: the sampler's tables are static arrays of the binary, counted nowhere
//   NextGC, LastGC, PauseNs, PauseEnd, NumGC, NumForcedGC, GCCPUFraction, DebugGC
//                                0 (256 zeros for the pause rings), false: there is no garbage collector
import CSampling
import Glibc
import Goroutines

/// glibc malloc's figures under the `runtime.MemStats` names whose meaning carries over.
public struct HeapMemoryStatistics: Sendable, Hashable {
    /// Bytes in live malloc blocks, small and mmapped (Go: `Alloc`, `HeapAlloc`, `HeapInuse`).
    public var heapInUse: UInt64
    /// Bytes glibc holds from the system for the heap: arenas plus mmapped blocks (Go: `HeapSys`).
    public var heapSystem: UInt64
    /// Free bytes inside the arenas (Go: `HeapIdle`).
    public var heapIdle: UInt64
    /// Peak resident set size in bytes, from getrusage (Go: `MaxRSS`, measured the same way).
    public var maxResidentBytes: UInt64
    /// Estimated cumulative bytes allocated (Go: `TotalAlloc`), from the heap sampler.
    public var totalAllocatedBytes: UInt64
    /// Estimated cumulative allocations and frees (Go: `Mallocs`, `Frees`), from the heap sampler.
    public var mallocs: UInt64
    public var frees: UInt64
    /// Goroutine stack address space in use and reserved (Go: `StackInuse`, `StackSys`).
    public var stackInUse: UInt64
    public var stackSystem: UInt64

    /// Figures as given (tests); `current()` reads them.
    public init(heapInUse: UInt64, heapSystem: UInt64, heapIdle: UInt64, maxResidentBytes: UInt64,
                totalAllocatedBytes: UInt64 = 0, mallocs: UInt64 = 0, frees: UInt64 = 0,
                stackInUse: UInt64 = 0, stackSystem: UInt64 = 0) {
        self.heapInUse = heapInUse
        self.heapSystem = heapSystem
        self.heapIdle = heapIdle
        self.maxResidentBytes = maxResidentBytes
        self.totalAllocatedBytes = totalAllocatedBytes
        self.mallocs = mallocs
        self.frees = frees
        self.stackInUse = stackInUse
        self.stackSystem = stackSystem
    }

    /// Reads glibc's mallinfo2 (all arenas), the goroutine stack reservations and the process's peak RSS
    /// now; the cumulative counts are summed from `records` (the sampler's estimates).
    public static func current(records: [HeapProfileRecord] = []) -> HeapMemoryStatistics {
        var info = gr_malloc_info()
        gr_malloc_read_info(&info)
        var usage = rusage()
        let maxRSS = getrusage(RUSAGE_SELF.rawValue, &usage) == 0 ? UInt64(max(usage.ru_maxrss, 0)) * 1024 : 0
        var allocatedBytes: Int64 = 0
        var allocatedObjects: Int64 = 0
        var liveObjects: Int64 = 0
        for record in records {
            allocatedBytes &+= record.allocatedBytes
            allocatedObjects &+= record.allocatedObjects
            liveObjects &+= record.inUseObjects
        }
        let stacks = GoroutineStackUsage.current()
        return HeapMemoryStatistics(heapInUse: UInt64(info.in_use + info.mmapped),
                                    heapSystem: UInt64(info.arena + info.mmapped),
                                    heapIdle: UInt64(info.free_in_arenas),
                                    maxResidentBytes: maxRSS,
                                    totalAllocatedBytes: UInt64(max(allocatedBytes, 0)),
                                    mallocs: UInt64(max(allocatedObjects, 0)),
                                    frees: UInt64(max(allocatedObjects - liveObjects, 0)),
                                    stackInUse: stacks.inUse, stackSystem: stacks.reserved)
    }

    /// Go's 256-entry GC pause rings, all zero.
    private static let zeroRing = "[" + Array(repeating: "0", count: 256).joined(separator: " ") + "]"

    /// The trailer lines, every field Go prints, in Go's order.
    var memStatsText: String {
        """

        # runtime.MemStats
        # Alloc = \(heapInUse)
        # TotalAlloc = \(totalAllocatedBytes)
        # Sys = \(heapSystem + stackSystem)
        # Lookups = 0
        # Mallocs = \(mallocs)
        # Frees = \(frees)
        # HeapAlloc = \(heapInUse)
        # HeapSys = \(heapSystem)
        # HeapIdle = \(heapIdle)
        # HeapInuse = \(heapInUse)
        # HeapReleased = 0
        # HeapObjects = \(mallocs >= frees ? mallocs - frees : 0)
        # Stack = \(stackInUse) / \(stackSystem)
        # MSpan = 0 / 0
        # MCache = 0 / 0
        # BuckHashSys = 0
        # GCSys = 0
        # OtherSys = 0
        # NextGC = 0
        # LastGC = 0
        # PauseNs = \(Self.zeroRing)
        # PauseEnd = \(Self.zeroRing)
        # NumGC = 0
        # NumForcedGC = 0
        # GCCPUFraction = 0
        # DebugGC = false
        # MaxRSS = \(maxResidentBytes)

        """
    }
}
