// The process memory figures the heap profile's `debug=1` trailer prints in Go's `# runtime.MemStats`
// style. We have no garbage collector and glibc's allocator is not Go's, so only the fields whose meaning
// carries over are printed: heap bytes in use, heap bytes obtained from the system, idle heap bytes, and
// the peak resident set size. The GC, span, stack and lookup fields have nothing to report here.
import CSampling
import Glibc

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

    /// Figures as given (tests); `current()` reads them.
    public init(heapInUse: UInt64, heapSystem: UInt64, heapIdle: UInt64, maxResidentBytes: UInt64) {
        self.heapInUse = heapInUse
        self.heapSystem = heapSystem
        self.heapIdle = heapIdle
        self.maxResidentBytes = maxResidentBytes
    }

    /// Reads glibc's mallinfo2 (all arenas) and the process's peak RSS now.
    public static func current() -> HeapMemoryStatistics {
        var info = gr_malloc_info()
        gr_malloc_read_info(&info)
        var usage = rusage()
        let maxRSS = getrusage(RUSAGE_SELF.rawValue, &usage) == 0 ? UInt64(max(usage.ru_maxrss, 0)) * 1024 : 0
        return HeapMemoryStatistics(heapInUse: UInt64(info.in_use + info.mmapped),
                                    heapSystem: UInt64(info.arena + info.mmapped),
                                    heapIdle: UInt64(info.free_in_arenas),
                                    maxResidentBytes: maxRSS)
    }

    /// The trailer lines, in the order Go prints these fields.
    var memStatsText: String {
        """

        # runtime.MemStats
        # Alloc = \(heapInUse)
        # HeapAlloc = \(heapInUse)
        # HeapSys = \(heapSystem)
        # HeapIdle = \(heapIdle)
        # HeapInuse = \(heapInUse)
        # MaxRSS = \(maxResidentBytes)

        """
    }
}
