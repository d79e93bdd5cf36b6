import Goroutines
// Block and mutex profiles, from the runtime's contention buckets.
//
// Proto shape (Go 1.27): sample types `contentions/count` and `delay/nanoseconds`, period type
// `contentions/count` with period 1, one sample per bucket, ordered by delay, largest first; no labels.
//
// Legacy text (`debug=1`), which pprof's contention parser reads:
//
//     --- contention:            (`--- mutex:` for the mutex profile)
//     cycles/second=1000000000
//     sampling period=<n>        (mutex only)
//     <cycles> <count> @ 0x… 0x…
//     #<TAB>0x…<TAB>frame+0x…<TAB>file:line
//
// Our buckets measure delay in nanoseconds, so the "cycles" are nanoseconds and cycles/second is 1e9;
// pprof converts with that rate and arrives at the same nanoseconds. Text frames are printed in full.
import Symbolication

/// One contention bucket: everything that blocked (or was contended) at one stack.
public struct ContentionRecord: Sendable, Hashable {
    /// Return addresses, leaf first; zeros are ignored.
    public var stack: [UInt]
    /// Number of events (already scaled for sampling, as Go ≥1.21 stores them).
    public var count: Int64
    /// Total time spent blocked or contended, in nanoseconds.
    public var delayNanoseconds: Int64

    /// A record of `count` events that waited `delayNanoseconds` in total at `stack`.
    public init(stack: [UInt], count: Int64, delayNanoseconds: Int64) {
        self.stack = stack
        self.count = count
        self.delayNanoseconds = delayNanoseconds
    }
}

/// The `block` and `mutex` profiles in Go's shapes (contentions/count, delay/nanoseconds; text with
/// `cycles/second`), from the runtime's contention records (`Go.blockProfileRecords()`, …).
public struct ContentionProfile: RenderableProfile {
    /// Which of the two profiles.
    public enum Kind: Sendable, Hashable {
        /// Blocking on channels, select, sync primitives.
        case block
        /// Contended locks, attributed to the unlock; `samplingPeriod` is the mutex profile fraction.
        case mutex(samplingPeriod: Int)
    }

    /// The tick rate our "cycles" are measured in: nanoseconds.
    public static let cyclesPerSecond: Int64 = 1_000_000_000

    /// Block or mutex.
    public let kind: Kind
    /// Records ordered as Go orders them: by delay, largest first (ties: count, then stack, for stable output).
    public let records: [ContentionRecord]
    /// When the records were read, nanoseconds since the Unix epoch.
    public let timeNanos: Int64
    private let resolver: any FrameResolver
    private let textFilter: StackTextFilter

    /// `block` or `mutex`.
    public var name: String {
        switch kind {
        case .block: return "block"
        case .mutex: return "mutex"
        }
    }

    /// - Parameter textFilter: frames the text leaves out (the goroutine entry trampoline, as Go leaves out
    ///   runtime.goexit); Go prints every other frame of these profiles.
    public init(kind: Kind, records: [ContentionRecord], resolver: any FrameResolver = Symbolizer.shared, timeNanos: Int64? = nil,
                textFilter: StackTextFilter = .showAll) {
        self.kind = kind
        self.resolver = resolver
        self.textFilter = textFilter
        self.timeNanos = timeNanos ?? currentUnixNanos()
        self.records = records.sorted { a, b in
            if a.delayNanoseconds != b.delayNanoseconds { return a.delayNanoseconds > b.delayNanoseconds }
            if a.count != b.count { return a.count > b.count }
            return a.stack.lexicographicallyPrecedes(b.stack)
        }
    }

    /// The proto shape, stacks resolved now.
    public func pprofProfile() throws -> Profile {
        let contentions = ValueType(type: "contentions", unit: "count")
        var builder = try ProfileBuilder(sampleTypes: [contentions, ValueType(type: "delay", unit: "nanoseconds")],
                                         periodType: contentions, period: 1, timeNanos: timeNanos,
                                         resolver: LeafTrimmingResolver(
                                            base: resolver,
                                            leafPCs: Set(records.compactMap { $0.stack.first.map { callSitePC(returnAddress: $0) } }),
                                            isMachineryFrame: { $0.kind == .runtime }))
        for record in records {
            try builder.addSample(stack: record.stack, values: [record.count, record.delayNanoseconds])
        }
        return builder.build()
    }

    /// Go's `debug=1` text.
    public func legacyText() -> String {
        var frames = ResolvedFrames()
        frames.resolve(records.lazy.flatMap(\.stack).map { callSitePC(returnAddress: $0) }, with: resolver)
        var text = TextBuffer()
        switch kind {
        case .block:
            text.append("--- contention:\ncycles/second=\(Self.cyclesPerSecond)\n")
        case .mutex(let samplingPeriod):
            text.append("--- mutex:\ncycles/second=\(Self.cyclesPerSecond)\nsampling period=\(samplingPeriod)\n")
        }
        for record in records {
            text.append("\(record.delayNanoseconds) \(record.count) @")
            text.appendAddressList(record.stack)
            text.append("\n")
            text.appendFrameLines(stack: record.stack, frames: frames, filter: textFilter, allFrames: true)
        }
        return text.alignedText()
    }
}
