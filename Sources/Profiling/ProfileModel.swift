// The pprof profile as Swift values. Strings are stored resolved (not as string-table indexes): the
// string table is an encoding detail that `Profile.encodedProto()` builds and `Profile(proto:)` resolves.
// Ids are kept, because samples, locations and lines refer to each other by id.

/// A (kind, unit) pair such as `contentions/count` or `delay/nanoseconds`.
public struct ValueType: Sendable, Hashable {
    /// What is measured, e.g. `alloc_space`.
    public var type: String
    /// Its unit, e.g. `bytes`.
    public var unit: String

    /// A value type `type/unit`.
    public init(type: String, unit: String) {
        self.type = type
        self.unit = unit
    }
}

/// Context attached to a sample: a string, or a number with an optional unit.
public struct Label: Sendable, Hashable {
    /// A label's value: text, or a number with a unit.
    public enum Value: Sendable, Hashable {
        case string(String)
        case number(Int64, unit: String)
    }

    /// The label's name.
    public var key: String
    /// The label's value.
    public var value: Value

    /// A label `key` = `value`.
    public init(key: String, value: Value) {
        self.key = key
        self.value = value
    }

    /// A string label (pprof `str`).
    public static func string(_ key: String, _ value: String) -> Label {
        Label(key: key, value: .string(value))
    }

    /// A numeric label (pprof `num`, `num_unit`).
    public static func number(_ key: String, _ value: Int64, unit: String = "") -> Label {
        Label(key: key, value: .number(value, unit: unit))
    }
}

/// One stack with its values and labels.
public struct Sample: Sendable, Hashable {
    /// Leaf first.
    public var locationIDs: [UInt64]
    /// One per sample type, same order.
    public var values: [Int64]
    /// Labels of this sample (goroutine labels, heap `bytes`).
    public var labels: [Label]

    /// A sample at the given locations.
    public init(locationIDs: [UInt64], values: [Int64], labels: [Label] = []) {
        self.locationIDs = locationIDs
        self.values = values
        self.labels = labels
    }
}

/// A mapped executable image (pprof `Mapping`).
public struct Mapping: Sendable, Hashable {
    /// 1-based id that locations refer to.
    public var id: UInt64
    /// First address of the mapped text.
    public var start: UInt64
    /// One past its last address.
    public var limit: UInt64
    /// File offset the mapping starts at.
    public var fileOffset: UInt64
    /// Path of the image.
    public var filename: String
    /// The image's GNU build id, hex.
    public var buildID: String
    /// Locations in it carry function names.
    public var hasFunctions: Bool
    /// Functions in it carry file names.
    public var hasFilenames: Bool
    /// Lines carry line numbers.
    public var hasLineNumbers: Bool
    /// Locations carry inlined frames as extra lines.
    public var hasInlineFrames: Bool

    /// A mapping with the given fields.
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

/// One (possibly inlined) function at a location, with its source line.
public struct Line: Sendable, Hashable {
    /// The `Function` it is in.
    public var functionID: UInt64
    /// Source line, 0 if unknown.
    public var line: Int64
    /// Source column, 0 if unknown.
    public var column: Int64

    /// A line in `functionID`.
    public init(functionID: UInt64, line: Int64, column: Int64 = 0) {
        self.functionID = functionID
        self.line = line
        self.column = column
    }
}

/// A program counter with its symbolized frames (pprof `Location`).
public struct Location: Sendable, Hashable {
    /// 1-based id that samples refer to.
    public var id: UInt64
    /// 0 when the address lies in no known mapping.
    public var mappingID: UInt64
    /// The call-site PC (return address − 1) for callers.
    public var address: UInt64
    /// Innermost inlined frame first; the last line belongs to the function that owns the machine code.
    public var lines: [Line]
    /// pprof's `is_folded` (never set by Go's runtime).
    public var isFolded: Bool

    /// A location with the given fields.
    public init(id: UInt64, mappingID: UInt64, address: UInt64, lines: [Line] = [], isFolded: Bool = false) {
        self.id = id
        self.mappingID = mappingID
        self.address = address
        self.lines = lines
        self.isFolded = isFolded
    }
}

/// A function as pprof names it.
public struct Function: Sendable, Hashable {
    /// 1-based id that lines refer to.
    public var id: UInt64
    /// Readable name, e.g. `MyModule.Worker.run(job:)`.
    public var name: String
    /// Raw linker symbol, e.g. the mangled Swift name.
    public var systemName: String
    /// Source file, as the DWARF line table names it.
    public var filename: String
    /// First line of the function, 0 if unknown.
    public var startLine: Int64

    /// A function with the given names.
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
    /// What each sample value measures, in order.
    public var sampleTypes: [ValueType]
    /// The samples.
    public var samples: [Sample]
    /// Images the locations lie in.
    public var mappings: [Mapping]
    /// Program counters the samples refer to.
    public var locations: [Location]
    /// Functions the locations' lines refer to.
    public var functions: [Function]
    /// Regular expressions pprof applies to function names; empty when unused (Go never sets them).
    public var dropFrames: String
    /// pprof's `keep_frames` regular expression; empty when unused.
    public var keepFrames: String
    /// Collection time, nanoseconds since the Unix epoch.
    public var timeNanos: Int64
    /// Length of the collection window; 0 when the profile is a point-in-time snapshot.
    public var durationNanos: Int64
    /// What one period measures (e.g. `space/bytes` for heap); nil when there is none.
    public var periodType: ValueType?
    /// The sampling period in `periodType` units.
    public var period: Int64
    /// Free-form notes pprof prints with the profile.
    public var comments: [String]
    /// The `type` of the sample type tools show by default; empty means "the last one".
    public var defaultSampleType: String
    /// Documentation link for the profile (pprof `doc_url`); empty when unused.
    public var docURL: String

    /// A profile with the given parts (all empty by default).
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
