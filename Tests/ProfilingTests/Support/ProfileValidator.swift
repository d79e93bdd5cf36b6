@testable import Profiling

/// The checks Parca's ingest validator, pprof's CheckValid and Alloy's delta engine make, applied to the
/// wire form (so string-table indexes are checked too). Returns every problem found; empty means valid.
enum ProfileValidator {
    static func problems(inProto bytes: [UInt8]) -> [String] {
        var problems: [String] = []
        let raw: RawProfile
        do { raw = try RawProfile(bytes: bytes) } catch { return ["not decodable: \(error)"] }

        if raw.strings.first != "" { problems.append("string_table[0] is not \"\"") }
        for (index, field) in raw.stringIndexes where index < 0 || index >= Int64(raw.strings.count) {
            problems.append("\(field) string index \(index) out of range (\(raw.strings.count) strings)")
        }
        for (kind, ids) in [("mapping", raw.mappingIDs), ("location", raw.locationIDs), ("function", raw.functionIDs)] {
            if ids != (0..<ids.count).map({ UInt64($0 + 1) }) { problems.append("\(kind) ids are not 1..n in order: \(ids)") }
        }
        if raw.samples > 0 && raw.sampleTypeCount == 0 { problems.append("samples without sample types") }

        guard let profile = try? Profile(proto: bytes) else { return problems + ["Profile(proto:) failed"] }
        let locations = Dictionary(profile.locations.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let functionIDs = Set(profile.functions.map(\.id))
        let mappings = Dictionary(profile.mappings.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })

        for (index, sample) in profile.samples.enumerated() {
            if sample.values.count != profile.sampleTypes.count {
                problems.append("sample \(index) has \(sample.values.count) values for \(profile.sampleTypes.count) types")
            }
            for id in sample.locationIDs where id == 0 || locations[id] == nil {
                problems.append("sample \(index) refers to missing location \(id)")
            }
            for label in sample.labels where label.key.isEmpty { problems.append("sample \(index) has a label with key 0") }
        }
        var addresses = Set<UInt64>()
        for location in profile.locations {
            if location.address == 0 { problems.append("location \(location.id) has address 0") }
            if !addresses.insert(location.address).inserted {
                problems.append("location \(location.id) repeats address 0x\(String(location.address, radix: 16))")
            }
            for line in location.lines where !functionIDs.contains(line.functionID) {
                problems.append("location \(location.id) has a line with missing function \(line.functionID)")
            }
            if location.mappingID != 0 {
                if let mapping = mappings[location.mappingID] {
                    if !(mapping.start <= location.address && location.address < mapping.limit) {
                        problems.append("location \(location.id) address outside mapping \(mapping.id)")
                    }
                } else {
                    problems.append("location \(location.id) refers to missing mapping \(location.mappingID)")
                }
            }
        }
        if !profile.defaultSampleType.isEmpty && !profile.sampleTypes.contains(where: { $0.type == profile.defaultSampleType }) {
            problems.append("default_sample_type \(profile.defaultSampleType) is not a sample type")
        }
        return problems
    }
}

/// Just enough of the wire form to check ids and string indexes before they are resolved.
private struct RawProfile {
    var strings: [String] = []
    var stringIndexes: [(Int64, String)] = []
    var mappingIDs: [UInt64] = []
    var locationIDs: [UInt64] = []
    var functionIDs: [UInt64] = []
    var samples = 0
    var sampleTypeCount = 0

    init(bytes: [UInt8]) throws {
        var top = ProtobufDecoder(bytes)
        while let field = try top.nextField() {
            switch field.number {
            case 1, 11:
                sampleTypeCount += field.number == 1 ? 1 : 0
                try collect(field.payload(), names: [1: "value_type.type", 2: "value_type.unit"])
            case 2:
                samples += 1
                var sample = ProtobufDecoder(try field.payload())
                while let f = try sample.nextField() {
                    if f.number == 3 { try collect(f.payload(), names: [1: "label.key", 2: "label.str", 4: "label.num_unit"]) }
                }
            case 3:
                mappingIDs.append(try id(field.payload()))
                try collect(field.payload(), names: [5: "mapping.filename", 6: "mapping.build_id"])
            case 4: locationIDs.append(try id(field.payload()))
            case 5:
                functionIDs.append(try id(field.payload()))
                try collect(field.payload(), names: [2: "function.name", 3: "function.system_name", 4: "function.filename"])
            case 6: strings.append(try field.string())
            case 7, 8, 14, 15: stringIndexes.append((try field.int64(), "profile field \(field.number)"))
            case 13: for v in try field.varints() { stringIndexes.append((Int64(bitPattern: v), "comment")) }
            default: continue
            }
        }
    }

    private func id(_ payload: ArraySlice<UInt8>) throws -> UInt64 {
        var decoder = ProtobufDecoder(payload)
        while let field = try decoder.nextField() {
            if field.number == 1 { return try field.uint64() }
        }
        return 0
    }

    private mutating func collect(_ payload: ArraySlice<UInt8>, names: [Int: String]) throws {
        var decoder = ProtobufDecoder(payload)
        while let field = try decoder.nextField() {
            if let name = names[field.number] { stringIndexes.append((try field.int64(), name)) }
        }
    }
}
