// Settings of the debug server, from code or from the environment.
//
// The defaults follow the security notes in ecosystem-and-security.md §3: loopback only, bounded
// timeouts (Go's net/http has none by default, which is what gosec G112 warns about), small header
// limits, a connection cap and a cap on how long a `seconds=N` request may hold a thread.

/// How the debug server listens, who may talk to it, and how much any client may cost it.
///
/// Every field can be set from code. `DebugServerConfiguration(environment:)` reads these variables
/// (all optional; unset means the default shown):
///
/// | variable | meaning | default |
/// |---|---|---|
/// | `GOROUTINES_DEBUG_ADDR` | TCP `host:port` (`[::1]:6060` for IPv6, `:6060` for all interfaces); `off` or empty disables TCP | `127.0.0.1:6060` |
/// | `GOROUTINES_DEBUG_UNIX` | path of a Unix-domain socket to listen on as well | none |
/// | `GOROUTINES_DEBUG_TOKEN` | bearer token every request must send (`Authorization: Bearer <token>`) | none |
/// | `GOROUTINES_DEBUG_MAX_CONNECTIONS` | open connections at once (see `maxConnections`) | 2048 |
/// | `GOROUTINES_DEBUG_MAX_CONNECTIONS_PER_CLIENT` | open connections from one IPv4 address or IPv6 /64 | 512 |
/// | `GOROUTINES_DEBUG_READ_HEADER_TIMEOUT` | seconds to receive a request's head (and body) | 10 |
/// | `GOROUTINES_DEBUG_IDLE_TIMEOUT` | seconds a keep-alive connection may sit idle | 60 |
/// | `GOROUTINES_DEBUG_WRITE_TIMEOUT` | seconds a response may make no write progress | 30 |
/// | `GOROUTINES_DEBUG_MAX_HEADER_BYTES` | bytes of request line plus headers; more is 431 | 65536 |
/// | `GOROUTINES_DEBUG_MAX_BODY_BYTES` | bytes of a request body (only `POST /debug/pprof/symbol` takes one); more is 413 | 1048576 |
/// | `GOROUTINES_DEBUG_MAX_PROFILE_SECONDS` | largest `seconds=N` accepted; more is 400 | 300 |
/// | `GOROUTINES_DEBUG_MAX_STREAMS` | HTTP/2 concurrent streams per connection (1...100) | 100 |
///
/// A malformed value makes `init(environment:)` throw, naming the variable.
public struct DebugServerConfiguration: Sendable, Equatable {
    /// TCP address `host:port`; nil listens on no TCP port. Port 0 picks a free port (see
    /// `DebugServer.boundTCPPort`). A host that is not loopback logs a warning at start.
    public var address: String?
    /// Path of a Unix-domain socket to listen on (in addition to `address`); a stale socket file at
    /// that path is replaced, and the file is removed at stop.
    public var unixSocketPath: String?
    /// When set, every request needs `Authorization: Bearer <token>`; others get 401.
    public var bearerToken: String?
    /// Connections open at once. At the cap, a new connection closes the one that has waited longest
    /// for a request head (slowloris clients cannot lock others out); only when every connection is
    /// busy with a request does the newcomer get a 503. From three quarters of the cap on, a head must
    /// arrive within 2 s. Lowered at start to half the descriptor limit (whose soft value is raised
    /// to the hard one) if it does not fit.
    public var maxConnections: Int
    /// Connections open at once from one client (IPv4 address or IPv6 /64; Unix-socket peers are
    /// not counted per client). At that cap the same eviction applies, among that client's connections.
    public var maxConnectionsPerClient: Int
    /// Time allowed to receive a request's head, and its body, once its first byte arrived (and for
    /// the first request, from accept). Slow clients are closed without a reply, as Go does.
    public var readHeaderTimeout: Duration
    /// Time a keep-alive connection with nothing in flight may stay open without a new request.
    public var idleTimeout: Duration
    /// Time a connection with unsent response bytes may go without the peer reading any.
    public var writeTimeout: Duration
    /// Largest request head (request line and header fields) in bytes; 431 beyond it.
    public var maxHeaderBytes: Int
    /// Largest number of header fields in one request; 431 beyond it.
    public var maxHeaderCount: Int
    /// Largest request body in bytes (only `POST /debug/pprof/symbol` takes a body); 413 beyond it.
    public var maxBodyBytes: Int
    /// Largest `seconds=N` for delta and CPU profiles; larger values get 400.
    public var maxProfileSeconds: Int
    /// HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS`, and the cap on handlers running for one connection.
    public var maxConcurrentStreams: Int
    /// Threads that build responses (profiles, symbol lookups, the index). They never run goroutines.
    public var workerThreads: Int
    /// Renders of one profile that may run at once; more wait in line (see `maxQueuedPerProfile`).
    public var maxConcurrentRendersPerProfile: Int
    /// Requests for one profile that may wait for a render slot; beyond that the answer is 429.
    public var maxQueuedPerProfile: Int
    /// How long `stop()` lets in-flight requests finish before closing their connections.
    public var shutdownGracePeriod: Duration

    /// A configuration with the given values (defaults as in the table above).
    public init(
        address: String? = "127.0.0.1:6060",
        unixSocketPath: String? = nil,
        bearerToken: String? = nil,
        maxConnections: Int = 2048,
        maxConnectionsPerClient: Int = 512,
        readHeaderTimeout: Duration = .seconds(10),
        idleTimeout: Duration = .seconds(60),
        writeTimeout: Duration = .seconds(30),
        maxHeaderBytes: Int = 64 * 1024,
        maxHeaderCount: Int = 100,
        maxBodyBytes: Int = 1 << 20,
        maxProfileSeconds: Int = 300,
        maxConcurrentStreams: Int = 100,
        workerThreads: Int = 4,
        maxConcurrentRendersPerProfile: Int = 2,
        maxQueuedPerProfile: Int = 32,
        shutdownGracePeriod: Duration = .seconds(5)
    ) {
        self.address = address
        self.unixSocketPath = unixSocketPath
        self.bearerToken = bearerToken
        self.maxConnections = maxConnections
        self.maxConnectionsPerClient = maxConnectionsPerClient
        self.readHeaderTimeout = readHeaderTimeout
        self.idleTimeout = idleTimeout
        self.writeTimeout = writeTimeout
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxBodyBytes = maxBodyBytes
        self.maxProfileSeconds = maxProfileSeconds
        self.maxConcurrentStreams = maxConcurrentStreams
        self.workerThreads = workerThreads
        self.maxConcurrentRendersPerProfile = maxConcurrentRendersPerProfile
        self.maxQueuedPerProfile = maxQueuedPerProfile
        self.shutdownGracePeriod = shutdownGracePeriod
    }

    /// The defaults, overridden by the `GOROUTINES_DEBUG_*` variables present in `environment`.
    public init(environment: [String: String]) throws {
        self.init()
        if let value = environment["GOROUTINES_DEBUG_ADDR"] {
            let trimmed = value.trimmingSpaces
            address = (trimmed.isEmpty || trimmed == "off") ? nil : trimmed
        }
        if let value = environment["GOROUTINES_DEBUG_UNIX"], !value.trimmingSpaces.isEmpty {
            unixSocketPath = value.trimmingSpaces
        }
        if let value = environment["GOROUTINES_DEBUG_TOKEN"], !value.isEmpty {
            bearerToken = value
        }
        func integer(_ name: String, _ range: ClosedRange<Int>) throws -> Int? {
            guard let raw = environment[name] else { return nil }
            guard let parsed = Int(raw.trimmingSpaces), range.contains(parsed) else {
                throw DebugServerError.invalidConfiguration(
                    "\(name)=\(raw) is not a whole number in \(range.lowerBound)...\(range.upperBound)")
            }
            return parsed
        }
        if let v = try integer("GOROUTINES_DEBUG_MAX_CONNECTIONS", 1...100_000) { maxConnections = v }
        if let v = try integer("GOROUTINES_DEBUG_MAX_CONNECTIONS_PER_CLIENT", 1...100_000) { maxConnectionsPerClient = v }
        if let v = try integer("GOROUTINES_DEBUG_READ_HEADER_TIMEOUT", 1...3600) { readHeaderTimeout = .seconds(v) }
        if let v = try integer("GOROUTINES_DEBUG_IDLE_TIMEOUT", 1...86400) { idleTimeout = .seconds(v) }
        if let v = try integer("GOROUTINES_DEBUG_WRITE_TIMEOUT", 1...86400) { writeTimeout = .seconds(v) }
        if let v = try integer("GOROUTINES_DEBUG_MAX_HEADER_BYTES", 1024...(16 << 20)) { maxHeaderBytes = v }
        if let v = try integer("GOROUTINES_DEBUG_MAX_BODY_BYTES", 0...(256 << 20)) { maxBodyBytes = v }
        if let v = try integer("GOROUTINES_DEBUG_MAX_PROFILE_SECONDS", 1...86400) { maxProfileSeconds = v }
        if let v = try integer("GOROUTINES_DEBUG_MAX_STREAMS", 1...100) { maxConcurrentStreams = v }
    }

    /// Checks the values that code (rather than the environment) may have set out of range.
    func validated() throws -> DebugServerConfiguration {
        if address == nil && unixSocketPath == nil {
            throw DebugServerError.invalidConfiguration(
                "neither a TCP address nor a Unix socket path is set; set `address` or `unixSocketPath`")
        }
        func require(_ ok: Bool, _ message: String) throws {
            if !ok { throw DebugServerError.invalidConfiguration(message) }
        }
        try require(maxConnections >= 1, "maxConnections must be at least 1")
        try require(maxConnectionsPerClient >= 1, "maxConnectionsPerClient must be at least 1")
        // Sizes are added to buffer offsets; keep them far from Int.max.
        try require(maxHeaderBytes <= 1 << 30, "maxHeaderBytes must be at most 1 GiB")
        try require(maxBodyBytes <= 1 << 30, "maxBodyBytes must be at most 1 GiB")
        try require(maxHeaderBytes >= 256, "maxHeaderBytes must be at least 256")
        try require(maxHeaderCount >= 4, "maxHeaderCount must be at least 4")
        try require(maxBodyBytes >= 0, "maxBodyBytes must not be negative")
        try require(maxProfileSeconds >= 1, "maxProfileSeconds must be at least 1")
        try require((1...100).contains(maxConcurrentStreams), "maxConcurrentStreams must be in 1...100")
        try require(workerThreads >= 1, "workerThreads must be at least 1")
        try require(maxConcurrentRendersPerProfile >= 1, "maxConcurrentRendersPerProfile must be at least 1")
        try require(maxQueuedPerProfile >= 0, "maxQueuedPerProfile must not be negative")
        try require(readHeaderTimeout > .zero && idleTimeout > .zero && writeTimeout > .zero,
                    "timeouts must be positive")
        return self
    }
}

/// Why the debug server could not start.
public enum DebugServerError: Error, CustomStringConvertible, Equatable {
    case invalidConfiguration(String)
    case cannotListen(address: String, reason: String)
    case alreadyStarted

    /// What went wrong and what to change.
    public var description: String {
        switch self {
        case .invalidConfiguration(let message): return "debug server configuration: \(message)"
        case .cannotListen(let address, let reason):
            return "debug server cannot listen on \(address): \(reason); pick another address or free the port"
        case .alreadyStarted: return "debug server is already running; call stop() before starting it again"
        }
    }
}

extension String {
    var trimmingSpaces: String {
        var scalars = Substring(self)
        while let first = scalars.first, first == " " || first == "\t" { scalars.removeFirst() }
        while let last = scalars.last, last == " " || last == "\t" { scalars.removeLast() }
        return String(scalars)
    }
}
