// What a CPU profile collected, and how it becomes Go's CPU profile shape: sample types samples/count
// and cpu/nanoseconds, period type cpu/nanoseconds with period 1e9/rate (10,000,000 at 100 Hz),
// duration_nanos set, goroutine labels as string labels, and samples lost to full rings under one
// synthetic frame (Go uses runtime/pprof.lostProfileEvent; ours is named for our module).
import CSampling
import Symbolication

/// A finished CPU profile (`CPUProfiler.stopCPUProfile()` or a recording's `stop()`), renderable as
/// Go's CPU profile.
public struct CPUProfile: Sendable, RenderableProfile {
    /// One distinct (stack, labels) pair and how many timer ticks landed on it.
    public struct Sample: Sendable, Hashable {
        /// The interrupted PC + 1, then return addresses, leaf first (as `ProfileBuilder` takes them).
        public var stack: [UInt]
        /// The goroutine's labels when the tick landed.
        public var labels: [Label]
        /// Ticks that landed on this stack with these labels.
        public var count: Int64

        /// A sample of `count` ticks.
        public init(stack: [UInt], labels: [Label], count: Int64) {
            self.stack = stack
            self.labels = labels
            self.count = count
        }
    }

    /// The function name samples lost to full rings are reported under.
    public static let lostSamplesFunction = "Profiling.lostProfileEvent"

    /// Samples per CPU-second per thread.
    public var rate: Int
    /// Start of the profile, nanoseconds since the Unix epoch.
    public var timeNanos: Int64
    /// Wall time the profile ran.
    public var durationNanos: Int64
    /// Distinct (stack, labels) pairs with their tick counts.
    public var samples: [Sample]
    /// Ticks whose samples were dropped because the collector fell behind.
    public var lostSamples: Int64
    /// Things the reader should know (threads that block SIGPROF, threads without a timer).
    public var comments: [String]

    /// A profile from collected samples (the profiler builds these; tests may too).
    public init(rate: Int, timeNanos: Int64, durationNanos: Int64, samples: [Sample], lostSamples: Int64,
                comments: [String] = []) {
        self.rate = rate
        self.timeNanos = timeNanos
        self.durationNanos = durationNanos
        self.samples = samples
        self.lostSamples = lostSamples
        self.comments = comments
    }

    /// CPU time one sample stands for.
    public var periodNanos: Int64 { 1_000_000_000 / Int64(max(rate, 1)) }

    /// The profile with this process's symbols (`Symbolizer.shared`).
    public func pprofProfile() throws -> Profile {
        try pprofProfile(resolver: Symbolizer.shared)
    }

    /// The profile, with frames named by `resolver`.
    public func pprofProfile(resolver: any FrameResolver = Symbolizer.shared) throws -> Profile {
        let lostPC = UInt(gr_cpuprof_lost_samples_pc())
        var builder = try ProfileBuilder(
            sampleTypes: [ValueType(type: "samples", unit: "count"), ValueType(type: "cpu", unit: "nanoseconds")],
            periodType: ValueType(type: "cpu", unit: "nanoseconds"), period: periodNanos, comments: comments,
            timeNanos: timeNanos, durationNanos: durationNanos,
            resolver: LostSampleNaming(base: resolver, lostCallSite: callSitePC(returnAddress: lostPC)))
        for sample in samples {
            try builder.addSample(stack: sample.stack, values: [sample.count, sample.count * periodNanos], labels: sample.labels)
        }
        if lostSamples > 0 {
            try builder.addSample(stack: [lostPC], values: [lostSamples, lostSamples * periodNanos])
        }
        return builder.build()
    }

    /// CPU profiles have no text form (Go's neither): throws.
    public func legacyText() throws -> String {
        throw ProfileRenderingError.noLegacyText(profile: "profile")
    }
}

/// The real resolver, except that the marker address for lost samples gets its synthetic name.
private struct LostSampleNaming: FrameResolver {
    let base: any FrameResolver
    let lostCallSite: UInt

    func frames(at pcs: [UInt]) -> [[SymbolicatedFrame]] {
        var frames = base.frames(at: pcs)
        for (index, pc) in pcs.enumerated() where pc == lostCallSite && index < frames.count {
            frames[index] = [SymbolicatedFrame(function: CPUProfile.lostSamplesFunction,
                                               systemName: CPUProfile.lostSamplesFunction, entry: pc)]
        }
        return frames
    }

    func mappings() -> [ImageMapping] { base.mappings() }
    func mappingIndex(containing pc: UInt) -> Int? { base.mappingIndex(containing: pc) }
}
