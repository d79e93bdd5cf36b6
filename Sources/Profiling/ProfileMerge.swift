// Merging profiles, and the delta profiles that `?seconds=N` serves (net/http/pprof takes two snapshots,
// negates the first and merges it with the second).
//
// Samples are the same sample when their stacks resolve to the same locations (same mapping, address and
// lines) and they carry the same labels; their values are summed. Samples whose values all come out
// zero are dropped, and so is every location, function and mapping no remaining sample uses. Ids are
// renumbered 1..n in order of first use, and mapping `has_*` flags are recomputed from what the merged
// locations actually carry.

/// Why profiles cannot be merged or subtracted.
public enum ProfileMergeError: Error, Equatable, CustomStringConvertible {
    case nothingToMerge
    case incompatibleSampleTypes([ValueType], [ValueType])
    case incompatiblePeriodTypes(ValueType?, ValueType?)
    case danglingReference(String)

    /// Which profiles disagree and how.
    public var description: String {
        func names(_ types: [ValueType]) -> String { types.map { "\($0.type)/\($0.unit)" }.joined(separator: ",") }
        switch self {
        case .nothingToMerge:
            return "profile merge: no profiles were given"
        case .incompatibleSampleTypes(let a, let b):
            return "profile merge: sample types differ (\(names(a)) vs \(names(b))); only profiles of the same kind can be merged"
        case .incompatiblePeriodTypes(let a, let b):
            return "profile merge: period types differ (\(a.map { names([$0]) } ?? "none") vs \(b.map { names([$0]) } ?? "none"))"
        case .danglingReference(let what):
            return "profile merge: \(what); the input profile is inconsistent"
        }
    }
}

extension Profile {
    /// What changed since `base`: this profile minus `base`, stamped with this profile's time and the time
    /// between the two as its duration.
    public func delta(since base: Profile) throws(ProfileMergeError) -> Profile {
        var result = try Profile.mergeScaled([(base, -1), (self, 1)])
        result.timeNanos = timeNanos
        result.durationNanos = timeNanos - base.timeNanos
        return result
    }

    /// Sums profiles of the same kind. Metadata (period, comments, default type, time) comes from the
    /// last profile; durations add up.
    public static func merge(_ profiles: [Profile]) throws(ProfileMergeError) -> Profile {
        try mergeScaled(profiles.map { ($0, 1) })
    }

    static func mergeScaled(_ scaled: [(profile: Profile, factor: Int64)]) throws(ProfileMergeError) -> Profile {
        guard let first = scaled.first?.profile, let last = scaled.last?.profile else { throw .nothingToMerge }
        for (profile, _) in scaled {
            guard profile.sampleTypes == first.sampleTypes else { throw .incompatibleSampleTypes(first.sampleTypes, profile.sampleTypes) }
            guard profile.periodType == first.periodType else { throw .incompatiblePeriodTypes(first.periodType, profile.periodType) }
        }
        var merger = Merger()
        for (profile, factor) in scaled {
            try merger.add(profile, factor: factor)
        }
        var result = merger.finish()
        result.sampleTypes = first.sampleTypes
        result.periodType = last.periodType
        result.period = scaled.map(\.profile.period).max() ?? 0
        result.timeNanos = last.timeNanos
        result.durationNanos = scaled.reduce(0) { $0 + $1.profile.durationNanos }
        result.comments = last.comments
        result.defaultSampleType = last.defaultSampleType
        result.dropFrames = last.dropFrames
        result.keepFrames = last.keepFrames
        result.docURL = last.docURL
        return result
    }
}

private struct Merger {
    struct MappingKey: Hashable {
        var start, limit, fileOffset: UInt64
        var filename, buildID: String
    }
    struct FunctionKey: Hashable {
        var name, systemName, filename: String
        var startLine: Int64
    }
    struct LineKey: Hashable {
        var function: Int  // index into functions
        var line, column: Int64
    }
    struct LocationKey: Hashable {
        var mapping: Int?  // index into mappings
        var address: UInt64
        var lines: [LineKey]
        var isFolded: Bool
    }
    struct SampleKey: Hashable {
        var locations: [Int]  // indexes into locations
        var labels: [Label]   // sorted, so label order does not split samples
    }

    var mappings: [(key: MappingKey, inlineFrames: Bool)] = []
    var mappingIndex: [MappingKey: Int] = [:]
    var functions: [FunctionKey] = []
    var functionIndex: [FunctionKey: Int] = [:]
    var locations: [LocationKey] = []
    var locationIndex: [LocationKey: Int] = [:]
    var samples: [(key: SampleKey, labels: [Label], values: [Int64])] = []
    var sampleIndex: [SampleKey: Int] = [:]

    mutating func add(_ profile: Profile, factor: Int64) throws(ProfileMergeError) {
        var mappingOf: [UInt64: Int] = [:]
        for mapping in profile.mappings {
            let key = MappingKey(start: mapping.start, limit: mapping.limit, fileOffset: mapping.fileOffset,
                                 filename: mapping.filename, buildID: mapping.buildID)
            let index = mappingIndex[key] ?? { mappings.append((key, false)); mappingIndex[key] = mappings.count - 1; return mappings.count - 1 }()
            mappings[index].inlineFrames = mappings[index].inlineFrames || mapping.hasInlineFrames
            mappingOf[mapping.id] = index
        }
        var functionOf: [UInt64: Int] = [:]
        for function in profile.functions {
            let key = FunctionKey(name: function.name, systemName: function.systemName, filename: function.filename,
                                  startLine: function.startLine)
            functionOf[function.id] = functionIndex[key] ?? {
                functions.append(key)
                functionIndex[key] = functions.count - 1
                return functions.count - 1
            }()
        }
        var locationOf: [UInt64: Int] = [:]
        for location in profile.locations {
            var lines: [LineKey] = []
            for line in location.lines {
                guard let function = functionOf[line.functionID] else {
                    throw .danglingReference("location \(location.id) refers to missing function \(line.functionID)")
                }
                lines.append(LineKey(function: function, line: line.line, column: line.column))
            }
            // A mapping id the profile does not define means "no mapping", as pprof reads it.
            let key = LocationKey(mapping: mappingOf[location.mappingID], address: location.address, lines: lines,
                                  isFolded: location.isFolded)
            locationOf[location.id] = locationIndex[key] ?? {
                locations.append(key)
                locationIndex[key] = locations.count - 1
                return locations.count - 1
            }()
        }
        for sample in profile.samples {
            var stack: [Int] = []
            stack.reserveCapacity(sample.locationIDs.count)
            for id in sample.locationIDs {
                guard let location = locationOf[id] else { throw .danglingReference("a sample refers to missing location \(id)") }
                stack.append(location)
            }
            let key = SampleKey(locations: stack, labels: sample.labels.sorted(by: Merger.labelOrder))
            let scaled = sample.values.map { $0 &* factor }
            if let index = sampleIndex[key] {
                for i in samples[index].values.indices where i < scaled.count { samples[index].values[i] &+= scaled[i] }
            } else {
                sampleIndex[key] = samples.count
                samples.append((key, sample.labels, scaled))
            }
        }
    }

    static func labelOrder(_ a: Label, _ b: Label) -> Bool {
        if a.key != b.key { return a.key < b.key }
        return String(describing: a.value) < String(describing: b.value)
    }

    /// Keeps what the surviving samples use, numbered in order of first use.
    func finish() -> Profile {
        var result = Profile()
        var newLocationID: [Int: UInt64] = [:]
        var newFunctionID: [Int: UInt64] = [:]
        var newMappingID: [Int: UInt64] = [:]
        var usedMappings: [Int] = []
        for sample in samples where sample.values.contains(where: { $0 != 0 }) {
            var ids: [UInt64] = []
            for location in sample.key.locations {
                if let id = newLocationID[location] {
                    ids.append(id)
                    continue
                }
                let key = locations[location]
                var lines: [Line] = []
                for line in key.lines {
                    let functionID = newFunctionID[line.function] ?? {
                        let f = functions[line.function]
                        let id = UInt64(result.functions.count + 1)
                        result.functions.append(Function(id: id, name: f.name, systemName: f.systemName,
                                                         filename: f.filename, startLine: f.startLine))
                        newFunctionID[line.function] = id
                        return id
                    }()
                    lines.append(Line(functionID: functionID, line: line.line, column: line.column))
                }
                var mappingID: UInt64 = 0
                if let mapping = key.mapping {
                    mappingID = newMappingID[mapping] ?? {
                        usedMappings.append(mapping)
                        newMappingID[mapping] = UInt64(usedMappings.count)
                        return UInt64(usedMappings.count)
                    }()
                }
                let id = UInt64(result.locations.count + 1)
                result.locations.append(Location(id: id, mappingID: mappingID, address: key.address, lines: lines,
                                                 isFolded: key.isFolded))
                newLocationID[location] = id
                ids.append(id)
            }
            result.samples.append(Sample(locationIDs: ids, values: sample.values, labels: sample.labels))
        }
        // Main executable first: keep the inputs' mapping order rather than order of first use.
        let mappingOrder = usedMappings.sorted()
        var renumber: [UInt64: UInt64] = [:]
        for (position, mapping) in mappingOrder.enumerated() { renumber[newMappingID[mapping]!] = UInt64(position + 1) }
        for index in result.locations.indices where result.locations[index].mappingID != 0 {
            result.locations[index].mappingID = renumber[result.locations[index].mappingID]!
        }
        let functionsByID = Dictionary(uniqueKeysWithValues: result.functions.map { ($0.id, $0) })
        result.mappings = mappingOrder.enumerated().map { position, mapping in
            let id = UInt64(position + 1)
            let own = result.locations.filter { $0.mappingID == id }
            let named = !own.isEmpty && own.allSatisfy { !$0.lines.isEmpty }
            let filed = named && own.allSatisfy { $0.lines.allSatisfy { !(functionsByID[$0.functionID]?.filename.isEmpty ?? true) } }
            let numbered = named && own.allSatisfy { $0.lines.allSatisfy { $0.line > 0 } }
            let key = mappings[mapping].key
            return Mapping(id: id, start: key.start, limit: key.limit, fileOffset: key.fileOffset, filename: key.filename,
                           buildID: key.buildID, hasFunctions: named, hasFilenames: filed, hasLineNumbers: numbered,
                           hasInlineFrames: named && mappings[mapping].inlineFrames)
        }
        return result
    }
}
