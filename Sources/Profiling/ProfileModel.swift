// The pprof profile as Swift values. Strings are stored resolved (not as string-table indexes): the
// string table is an encoding detail that `Profile.encodedProto()` builds and `Profile(proto:)` resolves.
// Ids are kept, because samples, locations and lines refer to each other by id.

/// A (kind, unit) pair such as `contentions/count` or `delay/nanoseconds`.
public struct ValueType: Sendable, Hashable {
    public var type: String
    public var unit: String

    public init(type: String, unit: String) {
        self.type = type
        self.unit = unit
    }
}

/// Context attached to a sample: a string, or a number with an optional unit.
public struct Label: Sendable, Hashable {
    public enum Value: Sendable, Hashable {
        case string(String)
        case number(Int64, unit: String)
    }

    public var key: String
    public var value: Value

    public init(key: String, value: Value) {
        self.key = key
        self.value = value
    }

    public static func string(_ key: String, _ value: String) -> Label {
        Label(key: key, value: .string(value))
    }

    public static func number(_ key: String, _ value: Int64, unit: String = "") -> Label {
        Label(key: key, value: .number(value, unit: unit))
    }
}

public struct Sample: Sendable, Hashable {
    /// Leaf first.
    public var locationIDs: [UInt64]
    /// One per sample type, same order.
    public var values: [Int64]
    public var labels: [Label]

    public init(locationIDs: [UInt64], values: [Int64], labels: [Label] = []) {
        self.locationIDs = locationIDs
        self.values = values
        self.labels = labels
    }
}

public struct Mapping: Sendable, Hashable {
    public var id: UInt64
    public var start: UInt64
    public var limit: UInt64
    public var fileOffset: UInt64
    public var filename: String
    public var buildID: String
    public var hasFunctions: Bool
    public var hasFilenames: Bool
    public var hasLineNumbers: Bool
    public var hasInlineFrames: Bool

    public init(id: UInt64, start: UInt64, limit: UInt64, fileOffset: UInt64 = 0, filename: String = "",
                buildID: String = "", hasFunctions: Bool = false, hasFilenames: Bool = false,
                hasLineNumbers: Bool = false, hasInlineFrames: Bool = false) {
        self.id = id
        self.start = start
        self.limit = limit
        self.fileOffset = fileOffset
        self.filename = filename
        self.buildID = buildID
        self.hasFunctions = hasFunctions
        self.hasFilenames = hasFilenames
        self.hasLineNumbers = hasLineNumbers
        self.hasInlineFrames = hasInlineFrames
    }
}

public struct Line: Sendable, Hashable {
    public var functionID: UInt64
    public var line: Int64
    public var column: Int64

    public init(functionID: UInt64, line: Int64, column: Int64 = 0) {
        self.functionID = functionID
        self.line = line
        self.column = column
    }
}

public struct Location: Sendable, Hashable {
    public var id: UInt64
    /// 0 when the address lies in no known mapping.
    public var mappingID: UInt64
    /// The call-site PC (return address − 1) for callers.
    public var address: UInt64
    /// Innermost inlined frame first; the last line belongs to the function that owns the machine code.
    public var lines: [Line]
    public var isFolded: Bool

    public init(id: UInt64, mappingID: UInt64, address: UInt64, lines: [Line] = [], isFolded: Bool = false) {
        self.id = id
        self.mappingID = mappingID
        self.address = address
        self.lines = lines
        self.isFolded = isFolded
    }
}

public struct Function: Sendable, Hashable {
    public var id: UInt64
    /// Readable name, e.g. `MyModule.Worker.run(job:)`.
    public var name: String
    /// Raw linker symbol, e.g. the mangled Swift name.
    public var systemName: String
    public var filename: String
    public var startLine: Int64

    public init(id: UInt64, name: String, systemName: String, filename: String = "", startLine: Int64 = 0) {
        self.id = id
        self.name = name
        self.systemName = systemName
        self.filename = filename
        self.startLine = startLine
    }
}

/// A complete pprof profile.
public struct Profile: Sendable, Hashable {
    public var sampleTypes: [ValueType]
    public var samples: [Sample]
    public var mappings: [Mapping]
    public var locations: [Location]
    public var functions: [Function]
    /// Regular expressions pprof applies to function names; empty when unused (Go never sets them).
    public var dropFrames: String
    public var keepFrames: String
    /// Collection time, nanoseconds since the Unix epoch.
    public var timeNanos: Int64
    /// Length of the collection window; 0 when the profile is a point-in-time snapshot.
    public var durationNanos: Int64
    public var periodType: ValueType?
    public var period: Int64
    public var comments: [String]
    /// The `type` of the sample type tools show by default; empty means "the last one".
    public var defaultSampleType: String
    public var docURL: String

    public init(sampleTypes: [ValueType] = [], samples: [Sample] = [], mappings: [Mapping] = [],
                locations: [Location] = [], functions: [Function] = [], dropFrames: String = "",
                keepFrames: String = "", timeNanos: Int64 = 0, durationNanos: Int64 = 0,
                periodType: ValueType? = nil, period: Int64 = 0, comments: [String] = [],
                defaultSampleType: String = "", docURL: String = "") {
        self.sampleTypes = sampleTypes
        self.samples = samples
        self.mappings = mappings
        self.locations = locations
        self.functions = functions
        self.dropFrames = dropFrames
        self.keepFrames = keepFrames
        self.timeNanos = timeNanos
        self.durationNanos = durationNanos
        self.periodType = periodType
        self.period = period
        self.comments = comments
        self.defaultSampleType = defaultSampleType
        self.docURL = docURL
    }
}
