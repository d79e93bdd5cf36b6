// profile.proto bytes -> Profile, with the checks pprof's own decoder makes (string table shape, index
// ranges, varint scalars). Used by tests and by anything that reads a profile back (e.g. to merge).
// Gzip input is recognised by its magic bytes, as pprof does.

/// Why bytes are not a readable pprof profile.
public enum ProfileDecodingError: Error, Equatable, CustomStringConvertible {
    case empty
    case malformed(ProtobufDecodingError)
    case gzip(GzipError)
    case stringTableMissing
    case firstStringNotEmpty(String)
    case stringIndexOutOfRange(index: Int64, tableSize: Int, field: String)
    case concatenatedProfiles
    case unreadable(String)

    /// What was wrong, with the offending field where known.
    public var description: String {
        switch self {
        case .empty:
            return "profile: the input is empty"
        case .malformed(let error):
            return "profile: not a valid profile.proto message (\(error))"
        case .gzip(let error):
            return "profile: \(error)"
        case .stringTableMissing:
            return "profile: the string table is missing; every profile needs at least the empty string at index 0"
        case .firstStringNotEmpty(let first):
            return "profile: string_table[0] must be \"\" but is \"\(first)\""
        case .stringIndexOutOfRange(let index, let size, let field):
            return "profile: \(field) refers to string \(index) but the string table has \(size) entries"
        case .unreadable(let reason):
            return "profile: \(reason)"
        case .concatenatedProfiles:
            return "profile: time_nanos appears twice; the input looks like two profiles joined together"
        }
    }
}

extension Profile {
    /// Decodes a profile from profile.proto bytes, gunzipping first when the input starts with 1f 8b.
    public init(proto input: [UInt8]) throws(ProfileDecodingError) {
        guard !input.isEmpty else { throw .empty }
        var bytes = input
        if input.count >= 2 && input[0] == 0x1f && input[1] == 0x8b {
            do { bytes = try Gzip.decompress(input) } catch { throw .gzip(error) }
        }
        do {
            var reader = ProfileReader(bytes: bytes)
            self = try reader.read()
        } catch let error as ProfileDecodingError {
            throw error
        } catch let error as ProtobufDecodingError {
            throw .malformed(error)
        } catch {
            throw .unreadable(String(describing: error))
        }
    }
}

/// Two passes over the top level: strings first (they come last on the wire), then everything else.
private struct ProfileReader {
    typealias F = ProfileField.Profile
    let bytes: [UInt8]
    var strings: [String] = []

    init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func read() throws -> Profile {
        var decoder = ProtobufDecoder(bytes)
        while let field = try decoder.nextField() {
            if field.number == F.stringTable { strings.append(try field.string()) }
        }
        guard let first = strings.first else { throw ProfileDecodingError.stringTableMissing }
        guard first.isEmpty else { throw ProfileDecodingError.firstStringNotEmpty(first) }

        var profile = Profile()
        var sawTime = false
        decoder = ProtobufDecoder(bytes)
        while let field = try decoder.nextField() {
            switch field.number {
            case F.sampleType: profile.sampleTypes.append(try valueType(field.payload(), "sample_type"))
            case F.sample: profile.samples.append(try sample(field.payload()))
            case F.mapping: profile.mappings.append(try mapping(field.payload()))
            case F.location: profile.locations.append(try location(field.payload()))
            case F.function: profile.functions.append(try function(field.payload()))
            case F.dropFrames: profile.dropFrames = try string(field.int64(), "drop_frames")
            case F.keepFrames: profile.keepFrames = try string(field.int64(), "keep_frames")
            case F.timeNanos:
                if sawTime { throw ProfileDecodingError.concatenatedProfiles }
                sawTime = true
                profile.timeNanos = try field.int64()
            case F.durationNanos: profile.durationNanos = try field.int64()
            case F.periodType: profile.periodType = try valueType(field.payload(), "period_type")
            case F.period: profile.period = try field.int64()
            case F.comment:
                for index in try field.varints() { profile.comments.append(try string(Int64(bitPattern: index), "comment")) }
            case F.defaultSampleType: profile.defaultSampleType = try string(field.int64(), "default_sample_type")
            case F.docURL: profile.docURL = try string(field.int64(), "doc_url")
            default: continue  // string_table (already read) and fields newer than our schema
            }
        }
        return profile
    }

    func string(_ index: Int64, _ field: String) throws -> String {
        guard index >= 0, index < Int64(strings.count) else {
            throw ProfileDecodingError.stringIndexOutOfRange(index: index, tableSize: strings.count, field: field)
        }
        return strings[Int(index)]
    }

    func valueType(_ payload: ArraySlice<UInt8>, _ name: String) throws -> ValueType {
        var type: Int64 = 0, unit: Int64 = 0
        var decoder = ProtobufDecoder(payload)
        while let field = try decoder.nextField() {
            switch field.number {
            case ProfileField.ValueType.type: type = try field.int64()
            case ProfileField.ValueType.unit: unit = try field.int64()
            default: continue
            }
        }
        return ValueType(type: try string(type, "\(name).type"), unit: try string(unit, "\(name).unit"))
    }

    func sample(_ payload: ArraySlice<UInt8>) throws -> Sample {
        typealias S = ProfileField.Sample
        var result = Sample(locationIDs: [], values: [])
        var decoder = ProtobufDecoder(payload)
        while let field = try decoder.nextField() {
            switch field.number {
            case S.locationID: result.locationIDs += try field.varints()
            case S.value: result.values += try field.varints().map { Int64(bitPattern: $0) }
            case S.label: if let label = try label(field.payload()) { result.labels.append(label) }
            default: continue
            }
        }
        return result
    }

    /// As pprof does: a label is a string label when `str` is set, numeric when `num` or `num_unit` is,
    /// and dropped otherwise.
    func label(_ payload: ArraySlice<UInt8>) throws -> Label? {
        typealias L = ProfileField.Label
        var key: Int64 = 0, str: Int64 = 0, num: Int64 = 0, unit: Int64 = 0
        var decoder = ProtobufDecoder(payload)
        while let field = try decoder.nextField() {
            switch field.number {
            case L.key: key = try field.int64()
            case L.str: str = try field.int64()
            case L.num: num = try field.int64()
            case L.numUnit: unit = try field.int64()
            default: continue
            }
        }
        let keyString = try string(key, "label.key")
        if str != 0 { return .string(keyString, try string(str, "label.str")) }
        if num != 0 || unit != 0 { return .number(keyString, num, unit: try string(unit, "label.num_unit")) }
        return nil
    }

    func mapping(_ payload: ArraySlice<UInt8>) throws -> Mapping {
        typealias M = ProfileField.Mapping
        var result = Mapping(id: 0, start: 0, limit: 0)
        var decoder = ProtobufDecoder(payload)
        while let field = try decoder.nextField() {
            switch field.number {
            case M.id: result.id = try field.uint64()
            case M.memoryStart: result.start = try field.uint64()
            case M.memoryLimit: result.limit = try field.uint64()
            case M.fileOffset: result.fileOffset = try field.uint64()
            case M.filename: result.filename = try string(field.int64(), "mapping.filename")
            case M.buildID: result.buildID = try string(field.int64(), "mapping.build_id")
            case M.hasFunctions: result.hasFunctions = try field.bool()
            case M.hasFilenames: result.hasFilenames = try field.bool()
            case M.hasLineNumbers: result.hasLineNumbers = try field.bool()
            case M.hasInlineFrames: result.hasInlineFrames = try field.bool()
            default: continue
            }
        }
        return result
    }

    func location(_ payload: ArraySlice<UInt8>) throws -> Location {
        typealias L = ProfileField.Location
        var result = Location(id: 0, mappingID: 0, address: 0)
        var decoder = ProtobufDecoder(payload)
        while let field = try decoder.nextField() {
            switch field.number {
            case L.id: result.id = try field.uint64()
            case L.mappingID: result.mappingID = try field.uint64()
            case L.address: result.address = try field.uint64()
            case L.line: result.lines.append(try line(field.payload()))
            case L.isFolded: result.isFolded = try field.bool()
            default: continue
            }
        }
        return result
    }

    func line(_ payload: ArraySlice<UInt8>) throws -> Line {
        var result = Line(functionID: 0, line: 0)
        var decoder = ProtobufDecoder(payload)
        while let field = try decoder.nextField() {
            switch field.number {
            case ProfileField.Line.functionID: result.functionID = try field.uint64()
            case ProfileField.Line.line: result.line = try field.int64()
            case ProfileField.Line.column: result.column = try field.int64()
            default: continue
            }
        }
        return result
    }

    func function(_ payload: ArraySlice<UInt8>) throws -> Function {
        typealias N = ProfileField.Function
        var result = Function(id: 0, name: "", systemName: "")
        var decoder = ProtobufDecoder(payload)
        while let field = try decoder.nextField() {
            switch field.number {
            case N.id: result.id = try field.uint64()
            case N.name: result.name = try string(field.int64(), "function.name")
            case N.systemName: result.systemName = try string(field.int64(), "function.system_name")
            case N.filename: result.filename = try string(field.int64(), "function.filename")
            case N.startLine: result.startLine = try field.int64()
            default: continue
            }
        }
        return result
    }
}
