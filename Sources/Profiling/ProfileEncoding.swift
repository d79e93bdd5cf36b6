// Profile -> profile.proto bytes (see proto/profile.proto for the field numbers).
//
// The top-level field order follows Go's runtime writer (period type first, then sample types,
// locations and functions, samples, time, mappings, and the string table last), so the string table
// grows in a similar order. Decoders do not depend on field order; it only keeps our output easy to
// compare with Go's. Zero scalars are omitted as every proto3 writer does.

/// Field numbers of profile.proto, named as in the schema.
enum ProfileField {
    enum Profile {
        static let sampleType = 1, sample = 2, mapping = 3, location = 4, function = 5, stringTable = 6
        static let dropFrames = 7, keepFrames = 8, timeNanos = 9, durationNanos = 10, periodType = 11
        static let period = 12, comment = 13, defaultSampleType = 14, docURL = 15
    }
    enum ValueType { static let type = 1, unit = 2 }
    enum Sample { static let locationID = 1, value = 2, label = 3 }
    enum Label { static let key = 1, str = 2, num = 3, numUnit = 4 }
    enum Mapping {
        static let id = 1, memoryStart = 2, memoryLimit = 3, fileOffset = 4, filename = 5, buildID = 6
        static let hasFunctions = 7, hasFilenames = 8, hasLineNumbers = 9, hasInlineFrames = 10
    }
    enum Location { static let id = 1, mappingID = 2, address = 3, line = 4, isFolded = 5 }
    enum Line { static let functionID = 1, line = 2, column = 3 }
    enum Function { static let id = 1, name = 2, systemName = 3, filename = 4, startLine = 5 }
}

/// Deduplicated strings in order of first use; index 0 is always "".
struct StringTable {
    private(set) var strings: [String] = [""]
    private var indexes: [String: Int64] = ["": 0]

    mutating func index(of string: String) -> Int64 {
        if let index = indexes[string] { return index }
        let index = Int64(strings.count)
        strings.append(string)
        indexes[string] = index
        return index
    }
}

extension Profile {
    /// The uncompressed profile.proto encoding.
    public func encodedProto() -> [UInt8] {
        typealias F = ProfileField.Profile
        var strings = StringTable()
        var out = ProtobufEncoder(reservingCapacity: 64 * (samples.count + locations.count + functions.count) + 256)

        if let periodType {
            out.message(F.periodType) { $0.valueType(periodType, &strings) }
        }
        out.int64IfNonZero(F.period, period)
        for sampleType in sampleTypes {
            out.message(F.sampleType) { $0.valueType(sampleType, &strings) }
        }
        for location in locations {
            out.message(F.location) { $0.location(location) }
        }
        for function in functions {
            out.message(F.function) { $0.function(function, &strings) }
        }
        for sample in samples {
            out.message(F.sample) { $0.sample(sample, &strings) }
        }
        out.int64IfNonZero(F.timeNanos, timeNanos)
        out.int64IfNonZero(F.durationNanos, durationNanos)
        for mapping in mappings {
            out.message(F.mapping) { $0.mapping(mapping, &strings) }
        }
        if !dropFrames.isEmpty { out.int64(F.dropFrames, strings.index(of: dropFrames)) }
        if !keepFrames.isEmpty { out.int64(F.keepFrames, strings.index(of: keepFrames)) }
        if !comments.isEmpty { out.int64s(F.comment, comments.map { strings.index(of: $0) }) }
        if !defaultSampleType.isEmpty { out.int64(F.defaultSampleType, strings.index(of: defaultSampleType)) }
        if !docURL.isEmpty { out.int64(F.docURL, strings.index(of: docURL)) }
        for string in strings.strings {
            out.string(F.stringTable, string)
        }
        return out.takeBytes()
    }

    /// The gzip-compressed encoding at BestSpeed, as Go serves profiles.
    public func gzippedProto() throws -> [UInt8] {
        try Gzip.compress(encodedProto(), level: Gzip.bestSpeed)
    }
}

extension ProtobufEncoder {
    fileprivate mutating func valueType(_ valueType: ValueType, _ strings: inout StringTable) {
        int64IfNonZero(ProfileField.ValueType.type, strings.index(of: valueType.type))
        int64IfNonZero(ProfileField.ValueType.unit, strings.index(of: valueType.unit))
    }

    fileprivate mutating func sample(_ sample: Sample, _ strings: inout StringTable) {
        typealias F = ProfileField.Sample
        int64s(F.value, sample.values)
        uint64s(F.locationID, sample.locationIDs)
        for label in sample.labels {
            message(F.label) { body in
                typealias L = ProfileField.Label
                body.int64IfNonZero(L.key, strings.index(of: label.key))
                switch label.value {
                case .string(let value):
                    body.int64IfNonZero(L.str, strings.index(of: value))
                case .number(let value, let unit):
                    body.int64IfNonZero(L.num, value)
                    if !unit.isEmpty { body.int64(L.numUnit, strings.index(of: unit)) }
                }
            }
        }
    }

    fileprivate mutating func location(_ location: Location) {
        typealias F = ProfileField.Location
        uint64IfNonZero(F.id, location.id)
        uint64IfNonZero(F.address, location.address)
        for line in location.lines {
            message(F.line) { body in
                body.uint64IfNonZero(ProfileField.Line.functionID, line.functionID)
                body.int64IfNonZero(ProfileField.Line.line, line.line)
                body.int64IfNonZero(ProfileField.Line.column, line.column)
            }
        }
        uint64IfNonZero(F.mappingID, location.mappingID)
        boolIfTrue(F.isFolded, location.isFolded)
    }

    fileprivate mutating func function(_ function: Function, _ strings: inout StringTable) {
        typealias F = ProfileField.Function
        uint64IfNonZero(F.id, function.id)
        int64IfNonZero(F.name, strings.index(of: function.name))
        int64IfNonZero(F.systemName, strings.index(of: function.systemName))
        int64IfNonZero(F.filename, strings.index(of: function.filename))
        int64IfNonZero(F.startLine, function.startLine)
    }

    fileprivate mutating func mapping(_ mapping: Mapping, _ strings: inout StringTable) {
        typealias F = ProfileField.Mapping
        uint64IfNonZero(F.id, mapping.id)
        uint64IfNonZero(F.memoryStart, mapping.start)
        uint64IfNonZero(F.memoryLimit, mapping.limit)
        uint64IfNonZero(F.fileOffset, mapping.fileOffset)
        int64IfNonZero(F.filename, strings.index(of: mapping.filename))
        int64IfNonZero(F.buildID, strings.index(of: mapping.buildID))
        boolIfTrue(F.hasFunctions, mapping.hasFunctions)
        boolIfTrue(F.hasFilenames, mapping.hasFilenames)
        boolIfTrue(F.hasLineNumbers, mapping.hasLineNumbers)
        boolIfTrue(F.hasInlineFrames, mapping.hasInlineFrames)
    }
}
