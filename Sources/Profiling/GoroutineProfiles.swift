import Goroutines
import Symbolication

/// The goroutine and threadcreate profiles, collected from the runtime's snapshot API and shaped as
/// Go 1.27's (count profiles; `debug=2` is the traceback dump).
public enum GoroutineProfiles {
    /// What the `debug=1` text hides: scheduler frames, goroutine entry frames and compiler thunks, as Go
    /// hides `runtime.gopark` at the leaf and `runtime.goexit` at the root. The proto keeps every frame.
    public static let textFilter = StackTextFilter(
        omits: { $0.kind == .runtime || !$0.isKnown },
        hidesWhileLeading: { $0.kind == .runtime || !$0.isKnown })

    /// Every live goroutine, grouped by (stack, labels).
    public static func goroutine(resolver: any FrameResolver = Symbolizer.shared, maxDepth: Int = 128) -> CountProfile {
        let records = RuntimeSnapshot.goroutines(withStacks: true, maxDepth: maxDepth).map { g in
            CountProfileRecord(stack: g.stack, labels: Dictionary(g.labels.map { ($0.key, $0.value) }, uniquingKeysWith: { $1 }))
        }
        return CountProfile(name: "goroutine", records: records, resolver: resolver, textFilter: textFilter)
    }

    /// `goroutine?debug=2`: Go 1.27's traceback text for every live goroutine.
    public static func goroutineTraceback(symbolizer: Symbolizer = .shared) -> String {
        var dump = ""
        writeGoroutineTraceback(symbolizer: symbolizer) { dump += $0 }
        return dump
    }

    /// The same text handed over a few hundred goroutines at a time (blocks separated by a blank line, as
    /// in the whole dump), so a dump of 100 000 goroutines is never whole in memory.
    public static func writeGoroutineTraceback(symbolizer: Symbolizer = .shared, goroutinesPerPiece: Int = 256,
                                               _ write: (String) throws -> Void) rethrows {
        // A deadlocked process kept running for inspection says so first (DeadlockBehavior).
        if let notice = RuntimeSnapshot.deadlockNotice { try write("deadlocked: " + notice + "\n\n") }
        let goroutines = RuntimeSnapshot.goroutines(withStacks: true)
        var start = 0
        while start < goroutines.count {
            let end = min(goroutines.count, start + goroutinesPerPiece)
            let text = GoroutineTraceback.render(Array(goroutines[start..<end]), symbolizer: symbolizer)
            try write(start == 0 ? text : "\n" + text)
            start = end
        }
    }

    /// One record per OS thread the runtime created, with the stack that caused its creation.
    public static func threadcreate(resolver: any FrameResolver = Symbolizer.shared) -> CountProfile {
        let records = RuntimeSnapshot.threads().map { CountProfileRecord(stack: $0.creationStack) }
        return CountProfile(name: "threadcreate", records: records, resolver: resolver, textFilter: textFilter)
    }

    /// Live goroutines (the index page's count).
    public static var goroutineCount: Int { RuntimeSnapshot.goroutineCount }
}
