// Builds a `Profile` from stacks of return addresses, keeping the rules every pprof consumer checks:
//
// - one Location per distinct PC, its address the call-site PC (return address − 1), which stays the
//   same from one scrape to the next (Grafana Alloy matches samples across scrapes by address);
// - ids of locations, functions and mappings run 1..n in order of first appearance;
// - inlined frames live inside one Location, innermost first;
// - a Function per distinct (name, system name, file, start line);
// - mappings come from the resolver with their build ids; `has_functions` is set when every location of
//   the mapping is symbolized, the file/line/inline flags when its lines carry such information.
//
// Symbolization is deferred to `build()`, which asks the resolver once for all distinct PCs.
import Glibc
import Symbolication

/// Why a profile cannot be built as given.
public enum ProfileBuilderError: Error, Equatable, CustomStringConvertible {
    case noSampleTypes
    case unknownDefaultSampleType(String, available: [String])
    case valueCountMismatch(expected: Int, got: Int)
    case emptyLabelKey

    /// What was wrong and how to fix it.
    public var description: String {
        switch self {
        case .noSampleTypes:
            return "profile builder: a profile needs at least one sample type (pprof rejects samples without one)"
        case .unknownDefaultSampleType(let name, let available):
            return "profile builder: default sample type \"\(name)\" is not one of the sample types \(available)"
        case .valueCountMismatch(let expected, let got):
            return "profile builder: a sample has \(got) values but the profile has \(expected) sample types; pass one value per sample type"
        case .emptyLabelKey:
            return "profile builder: a label has an empty key; Parca rejects such profiles, so give every label a name"
        }
    }
}

/// Builds a valid pprof `Profile` from raw stacks (see the comment above): for custom profiles of
/// your own, in the same shape as the built-in ones.
public struct ProfileBuilder {
    private var profile: Profile
    private let resolver: any FrameResolver
    private var locationIDs = AddressIndex()
    private var returnAddresses: [UInt] = []

    /// - Parameters:
    ///   - sampleTypes: one entry per value of every sample.
    ///   - periodType/period: the sampling period, e.g. `space/bytes` and 524288.
    ///   - defaultSampleType: the `type` tools show first; nil leaves pprof's choice (the last type).
    ///   - timeNanos: collection time; defaults to now.
    ///   - durationNanos: collection window, for CPU and delta profiles.
    public init(sampleTypes: [ValueType], periodType: ValueType? = nil, period: Int64 = 0,
                defaultSampleType: String? = nil, comments: [String] = [], timeNanos: Int64? = nil,
                durationNanos: Int64 = 0, resolver: any FrameResolver) throws(ProfileBuilderError) {
        guard !sampleTypes.isEmpty else { throw .noSampleTypes }
        if let defaultSampleType, !sampleTypes.contains(where: { $0.type == defaultSampleType }) {
            throw .unknownDefaultSampleType(defaultSampleType, available: sampleTypes.map(\.type))
        }
        self.resolver = resolver
        profile = Profile(sampleTypes: sampleTypes, timeNanos: timeNanos ?? currentUnixNanos(),
                          durationNanos: durationNanos, periodType: periodType, period: period,
                          comments: comments, defaultSampleType: defaultSampleType ?? "")
    }

    /// Adds one sample. `stack` holds return addresses, leaf first, as the frame-pointer walker captures
    /// them (for an interrupted instruction, pass its PC + 1 so every entry reads as a return address).
    /// Zero entries mark the end of a stack and are skipped.
    public mutating func addSample(stack: [UInt], values: [Int64], labels: [Label] = []) throws(ProfileBuilderError) {
        guard values.count == profile.sampleTypes.count else {
            throw .valueCountMismatch(expected: profile.sampleTypes.count, got: values.count)
        }
        if labels.contains(where: { $0.key.isEmpty }) { throw .emptyLabelKey }
        var ids: [UInt64] = []
        ids.reserveCapacity(stack.count)
        for returnAddress in stack where returnAddress != 0 {
            ids.append(locationID(for: returnAddress))
        }
        profile.samples.append(Sample(locationIDs: ids, values: values, labels: labels))
    }

    private mutating func locationID(for returnAddress: UInt) -> UInt64 {
        locationIDs.id(for: returnAddress) {
            returnAddresses.append(returnAddress)
            return UInt64(returnAddresses.count)
        }
    }

    /// Symbolizes every distinct PC and returns the finished profile. Stacks lose their thunk-only PCs and
    /// the goroutine glue at their root (`PCDisposition`); locations are numbered in order of first use
    /// after that, so every location is used.
    public func build() -> Profile {
        var result = profile
        let allCallSites = returnAddresses.map { callSitePC(returnAddress: $0) }
        let allFrames = allCallSites.isEmpty ? [] : resolver.frames(at: allCallSites)
        let dispositions = allCallSites.indices.map { PCDisposition($0 < allFrames.count ? allFrames[$0] : []) }

        // Old location id (index + 1 into returnAddresses) -> new id, 0 while unused.
        var renumbered = [UInt64](repeating: 0, count: returnAddresses.count)
        var kept: [Int] = []
        for sampleIndex in result.samples.indices {
            var ids: [UInt64] = []
            ids.reserveCapacity(result.samples[sampleIndex].locationIDs.count)
            frames: for old in result.samples[sampleIndex].locationIDs {
                let index = Int(old - 1)
                switch dispositions[index] {
                case .skip: continue frames
                case .endsStack: break frames
                case .keep:
                    if renumbered[index] == 0 {
                        kept.append(index)
                        renumbered[index] = UInt64(kept.count)
                    }
                    ids.append(renumbered[index])
                }
            }
            result.samples[sampleIndex].locationIDs = ids
        }
        let images = resolver.mappings()

        var coverage = [MappingCoverage](repeating: MappingCoverage(), count: images.count)
        var functionIDs: [FunctionKey: UInt64] = [:]
        result.locations.reserveCapacity(kept.count)

        for (newIndex, index) in kept.enumerated() {
            let address = allCallSites[index]
            let mappingIndex = resolver.mappingIndex(containing: address).flatMap { $0 < images.count ? $0 : nil }
            let pcFrames = index < allFrames.count ? allFrames[index] : []
            var lines: [Line] = []
            lines.reserveCapacity(pcFrames.count)
            for frame in pcFrames where frame.isKnown {
                let key = FunctionKey(frame)
                let functionID: UInt64
                if let known = functionIDs[key] {
                    functionID = known
                } else {
                    functionID = UInt64(result.functions.count + 1)
                    functionIDs[key] = functionID
                    result.functions.append(Function(id: functionID, name: frame.function, systemName: frame.systemName,
                                                     filename: frame.file, startLine: Int64(frame.startLine)))
                }
                lines.append(Line(functionID: functionID, line: Int64(frame.line)))
            }
            if let mappingIndex { coverage[mappingIndex].record(frames: pcFrames, emittedLines: lines.count) }
            result.locations.append(Location(id: UInt64(newIndex + 1), mappingID: mappingIndex.map { UInt64($0 + 1) } ?? 0,
                                             address: UInt64(address), lines: lines))
        }

        result.mappings = images.enumerated().map { index, image in
            let seen = coverage[index]
            return Mapping(id: UInt64(index + 1), start: UInt64(image.start), limit: UInt64(image.limit),
                           fileOffset: UInt64(image.fileOffset), filename: image.path, buildID: image.buildID,
                           hasFunctions: seen.hasFunctions, hasFilenames: seen.hasFilenames,
                           hasLineNumbers: seen.hasLineNumbers, hasInlineFrames: seen.hasInlineFrames)
        }
        return result
    }
}

/// Functions are the same function when all four of these agree.
private struct FunctionKey: Hashable {
    let name: String
    let systemName: String
    let file: String
    let startLine: Int

    init(_ frame: SymbolicatedFrame) {
        name = frame.function
        systemName = frame.systemName
        file = frame.file
        startLine = frame.startLine
    }
}

/// What the locations of one mapping carry. `has_functions` says every location was symbolized; the file,
/// line and inline flags say the lines carry that kind of information (some lines of compiler-made code
/// have no line, which does not make the mapping's line numbers missing).
private struct MappingCoverage {
    var locations = 0
    var allNamed = true
    var anyFiled = false
    var anyNumbered = false
    var anyInlined = false

    mutating func record(frames: [SymbolicatedFrame], emittedLines: Int) {
        locations += 1
        allNamed = allNamed && emittedLines > 0 && emittedLines == frames.count
        anyFiled = anyFiled || frames.contains { !$0.file.isEmpty }
        anyNumbered = anyNumbered || frames.contains { $0.line > 0 }
        anyInlined = anyInlined || emittedLines > 1
    }

    var hasFunctions: Bool { locations > 0 && allNamed }
    var hasFilenames: Bool { hasFunctions && anyFiled }
    var hasLineNumbers: Bool { hasFunctions && anyNumbered }
    var hasInlineFrames: Bool { hasFunctions && anyInlined }
}

/// Wall-clock time in nanoseconds since the Unix epoch.
func currentUnixNanos() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
}
