import Goroutines
import Profiling
import Symbolication

/// The profiles of this process, as `/debug/pprof/` serves them: goroutine, threadcreate (from the
/// runtime's snapshots), heap and allocs (from the sampled malloc interposer), and the CPU profile. Every method runs on the
/// server's worker threads, never on a goroutine, so a wedged scheduler can still be profiled.
public struct RuntimePprofProvider: PprofProvider {
    private let symbolizer: Symbolizer
    private let cpuProfileRate: Int

    /// - Parameter cpuProfileRate: samples per CPU-second per thread for `/debug/pprof/profile`
    ///   (Go's 100 by default; at most `CPUProfiler.maximumRate`).
    public init(symbolizer: Symbolizer = .shared, cpuProfileRate: Int = CPUProfiler.defaultRate) {
        self.symbolizer = symbolizer
        self.cpuProfileRate = cpuProfileRate
    }

    /// True: `/debug/pprof/profile` samples this process (SIGPROF, per thread).
    public var supportsCPUProfile: Bool { true }

    /// Samples for `seconds`, or until the client hangs up (the cancellation wakes the wait at once);
    /// either way the profiler is free again when this returns.
    public func cpuProfile(seconds: Int, cancel: CancellationCheck) throws -> [UInt8] {
        let recording: CPUProfileRecording
        do {
            recording = try CPUProfiler.start(rate: cpuProfileRate)
        } catch {
            throw PprofError(status: 500, message: "Could not enable CPU profiling: \(error)")
        }
        let completed = cancel.sleep(seconds: Double(seconds))
        let profile = recording.stop()
        guard completed else { throw PprofError.cancelled }
        do {
            return try profile.pprofProfile(resolver: symbolizer).gzippedProto()
        } catch {
            throw PprofError.collectionFailed
        }
    }

    /// allocs, block, goroutine, heap, mutex, threadcreate, with their current counts.
    public var profiles: [PprofProfileInfo] {
        let heapRecords = Int(HeapProfiler.statistics.bucketsUsed)  // cheap: no snapshot copy
        return [
            PprofProfileInfo(name: "allocs", count: heapRecords,
                             description: "A sampling of all past memory allocations", supportsDelta: true),
            PprofProfileInfo(name: "block", count: Go.blockProfileRecords().count,
                             description: "Stack traces that led to blocking on synchronization primitives", supportsDelta: true),
            PprofProfileInfo(name: "goroutine", count: GoroutineProfiles.goroutineCount,
                             description: "Stack traces of all current goroutines. Use debug=2 as a query parameter to export in the same format as an unrecovered panic.",
                             supportsDelta: true),
            PprofProfileInfo(name: "goroutineleak", count: GoroutineProfiles.leakedGoroutineCount,
                             description: "Stack traces of all leaked goroutines. Use debug=2 as a query parameter to export in the same format as an unrecovered panic.",
                             supportsDelta: true),
            PprofProfileInfo(name: "heap", count: heapRecords,
                             description: "A sampling of memory allocations of live objects. You can specify the gc GET parameter to run GC before taking the heap sample.",
                             supportsDelta: true),
            PprofProfileInfo(name: "mutex", count: Go.mutexProfileRecords().count,
                             description: "Stack traces of holders of contended mutexes", supportsDelta: true),
            PprofProfileInfo(name: "threadcreate", count: RuntimeSnapshot.threads().count,
                             description: "Stack traces that led to the creation of new OS threads", supportsDelta: true),
        ]
    }

    /// The named profile now: gzipped proto at `debug=0`, Go's text at 1, the traceback dump for
    /// `goroutine?debug=2`.
    public func render(_ name: String, debug: Int, gcFirst: Bool, cancel: CancellationCheck) throws -> [UInt8] {
        if name == "goroutine" && debug >= 2 {
            return Array(GoroutineProfiles.goroutineTraceback(symbolizer: symbolizer).utf8)
        }
        if name == "goroutineleak" && debug >= 2 {
            return Array(GoroutineProfiles.goroutineLeakTraceback(symbolizer: symbolizer).utf8)
        }
        let profile = try build(name)
        try cancel.check()
        do {
            return try profile.render(debug > 0 ? .legacyText : .gzippedProto)
        } catch {
            throw PprofError.collectionFailed
        }
    }

    /// `goroutine?debug=2` is written a few hundred goroutines at a time (blocks separated by a blank
    /// line, as the whole dump is), so its text is never whole in memory.
    public func write(_ name: String, debug: Int, gcFirst: Bool, cancel: CancellationCheck,
                      to output: ResponseBodyWriter) throws {
        guard name == "goroutine" && debug >= 2 else {
            return try output.write(render(name, debug: debug, gcFirst: gcFirst, cancel: cancel))
        }
        try GoroutineProfiles.writeGoroutineTraceback(symbolizer: symbolizer) { piece in
            try cancel.check()
            try output.write(piece)
        }
    }

    /// Snapshot, wait `seconds` (waking early if the client leaves), snapshot, subtract.
    public func delta(_ name: String, seconds: Int, cancel: CancellationCheck) throws -> [UInt8] {
        let before = try protoProfile(name)
        guard cancel.sleep(seconds: Double(seconds)) else { throw PprofError.cancelled }
        let after = try protoProfile(name)
        do {
            var delta = try after.delta(since: before)
            delta.durationNanos = Int64(seconds) * 1_000_000_000
            return try delta.render(.gzippedProto)
        } catch {
            throw PprofError.deltaFailed
        }
    }

    /// The innermost function at each PC, from this process's symbols.
    public func symbolize(_ pcs: [UInt]) -> [(pc: UInt, name: String)] {
        zip(pcs, symbolizer.frames(at: pcs)).compactMap { pc, frames in
            guard let innermost = frames.first, innermost.function != "?" else { return nil }
            return (pc, innermost.function)
        }
    }

    private func build(_ name: String) throws -> any RenderableProfile {
        switch name {
        case "goroutine": return GoroutineProfiles.goroutine(resolver: symbolizer)
        case "goroutineleak": return GoroutineProfiles.goroutineLeak(resolver: symbolizer)
        case "threadcreate": return GoroutineProfiles.threadcreate(resolver: symbolizer)
        case "heap": return HeapProfile(kind: .heap, resolver: symbolizer)
        case "allocs": return HeapProfile(kind: .allocs, resolver: symbolizer)
        case "block":
            return ContentionProfile(kind: .block, records: contentionRecords(Go.blockProfileRecords()),
                                     resolver: symbolizer, textFilter: GoroutineProfiles.textFilter)
        case "mutex":
            return ContentionProfile(kind: .mutex(samplingPeriod: max(1, Go.setMutexProfileFraction(-1))),
                                     records: contentionRecords(Go.mutexProfileRecords()),
                                     resolver: symbolizer, textFilter: GoroutineProfiles.textFilter)
        default: throw PprofError.unknownProfile
        }
    }

    private func contentionRecords(_ buckets: [ContentionBucketRecord]) -> [ContentionRecord] {
        buckets.map { ContentionRecord(stack: $0.stack, count: $0.count, delayNanoseconds: $0.delayNanoseconds) }
    }

    private func protoProfile(_ name: String) throws -> Profile {
        do {
            return try build(name).pprofProfile()
        } catch let error as PprofError {
            throw error
        } catch {
            throw PprofError.collectionFailed
        }
    }
}
