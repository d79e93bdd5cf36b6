import Goroutines
import Symbolication

/// Go 1.27's goroutineleak profile: the goroutine profile's shape (`goroutineleak/count`), over the
/// goroutines the leak scan proves can never be woken (Goroutines' LeakDetection.swift explains how).
extension GoroutineProfiles {
    /// Runs the leak scan (a brief stop of every thread) and groups the leaked goroutines by stack and labels.
    public static func goroutineLeak(resolver: any FrameResolver = Symbolizer.shared, maxDepth: Int = 128) -> CountProfile {
        let records = RuntimeSnapshot.leakedGoroutines(maxDepth: maxDepth).map { g in
            CountProfileRecord(stack: g.stack, labels: Dictionary(g.labels.map { ($0.key, $0.value) }, uniquingKeysWith: { $1 }))
        }
        return CountProfile(name: "goroutineleak", records: records, resolver: resolver, textFilter: textFilter)
    }

    /// `goroutineleak?debug=2`: as Go 1.27, the scan then the full traceback dump of every goroutine,
    /// the leaked ones marked `[<wait reason> (leaked)]`.
    public static func goroutineLeakTraceback(symbolizer: Symbolizer = .shared) -> String {
        _ = RuntimeSnapshot.leakedGoroutines(maxDepth: 1)
        return goroutineTraceback(symbolizer: symbolizer)
    }

    /// The index page's count: goroutines the last scan found leaked and still parked (Go shows the
    /// result of the last leak-detecting GC, 0 before the first).
    public static var leakedGoroutineCount: Int { RuntimeSnapshot.markedLeakedGoroutineCount }
}
