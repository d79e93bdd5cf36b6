// The seam between the HTTP server and the profiles: the server knows paths, queries, statuses and
// headers; a provider knows how to build the bytes. The lead wires the real profiles in; tests use a
// fake one.

/// One row of the `/debug/pprof/` index page.
public struct PprofProfileInfo: Sendable, Hashable {
    /// The name in the URL (`goroutine`, `heap`, …).
    public var name: String
    /// The Count column: goroutines, heap records, stack buckets, threads created, …
    public var count: Int
    /// The description on the index page (plain text; the server escapes it).
    public var description: String
    /// Whether `?seconds=N` builds a delta profile (Go: allocs, block, goroutine, goroutineleak, heap,
    /// mutex, threadcreate). Other profiles answer 400 to `seconds`.
    public var supportsDelta: Bool

    /// A row of the index page.
    public init(name: String, count: Int, description: String, supportsDelta: Bool) {
        self.name = name
        self.count = count
        self.description = description
        self.supportsDelta = supportsDelta
    }
}

/// Where the profile data comes from. Methods are called on the server's worker threads (never on
/// goroutines, never on the socket loop), possibly several at once, so they must be thread-safe.
public protocol PprofProvider: Sendable {
    /// The named profiles this process offers. The server adds `cmdline` and `symbol` (and `profile`
    /// when `supportsCPUProfile`) itself, and sorts the rows by name as Go does.
    var profiles: [PprofProfileInfo] { get }

    /// The body of `/debug/pprof/<name>?debug=<debug>`: a gzipped profile.proto when `debug == 0`,
    /// otherwise the legacy text form (each profile decides what it does with odd values, as Go's
    /// writers do). `gcFirst` is set for `heap?gc=N` with N > 0. Throw `PprofError` for Go's errors;
    /// poll `cancel` in long loops and throw `PprofError.cancelled` once it is set.
    func render(_ name: String, debug: Int, gcFirst: Bool, cancel: CancellationCheck) throws -> [UInt8]

    /// The same body as `render`, written to `output` piece by piece as it is produced, so a large
    /// one (a `debug=2` dump of 100 000 goroutines is ~50 MB) need never be whole in memory: `write`
    /// waits while the client is behind. The default renders the whole body and writes it at once.
    /// Errors thrown before the first write become the error answer, as with `render`.
    func write(_ name: String, debug: Int, gcFirst: Bool, cancel: CancellationCheck, to output: ResponseBodyWriter) throws

    /// The body of `/debug/pprof/<name>?seconds=<seconds>`: a gzipped profile of what changed over
    /// `seconds` (snapshot, `cancel.sleep(seconds:)`, snapshot, subtract).
    func delta(_ name: String, seconds: Int, cancel: CancellationCheck) throws -> [UInt8]

    /// Function names for program counters (`/debug/pprof/symbol`): the innermost function at each
    /// PC, or no entry for PCs that resolve to nothing.
    func symbolize(_ pcs: [UInt]) -> [(pc: UInt, name: String)]

    /// Whether `/debug/pprof/profile` (CPU) exists. While false the route answers 404 `Unknown
    /// profile` and the index does not list it.
    var supportsCPUProfile: Bool { get }

    /// A gzipped CPU profile over `seconds` seconds. Called at most once at a time.
    func cpuProfile(seconds: Int, cancel: CancellationCheck) throws -> [UInt8]
}

extension PprofProvider {
    public func write(_ name: String, debug: Int, gcFirst: Bool, cancel: CancellationCheck,
                      to output: ResponseBodyWriter) throws {
        try output.write(render(name, debug: debug, gcFirst: gcFirst, cancel: cancel))
    }

    /// No CPU profile unless a provider says otherwise.
    public var supportsCPUProfile: Bool { false }

    /// Throws `PprofError.unknownProfile` unless a provider implements it.
    public func cpuProfile(seconds: Int, cancel: CancellationCheck) throws -> [UInt8] {
        throw PprofError.unknownProfile
    }
}

/// Errors a provider throws; the server turns each into Go's status and message, sent as
/// `text/plain; charset=utf-8` with `X-Go-Pprof: 1` so `go tool pprof` prints it.
public struct PprofError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The HTTP status the server answers with.
    public var status: Int
    /// The body's text (the server adds the newline).
    public var message: String

    /// An error answered with `status` and `message`.
    public init(status: Int, message: String) {
        self.status = status
        self.message = message
    }

    /// `404 Unknown profile`, for logs.
    public var description: String { "\(status) \(message)" }

    /// Go's 404 for a profile name it does not know.
    public static let unknownProfile = PprofError(status: 404, message: "Unknown profile")
    /// Go's 500 when building a profile failed.
    public static let collectionFailed = PprofError(status: 500, message: "failed to collect profile")
    /// Go's 500 when subtracting two snapshots failed.
    public static let deltaFailed = PprofError(status: 500, message: "failed to compute delta")
    /// The client went away (or reset its HTTP/2 stream); Go's text for a cancelled request context.
    public static let cancelled = PprofError(status: 500, message: "context canceled")
}
