#if canImport(Glibc)
import Glibc
#endif

/// A failed network operation, printed as Go's `*net.OpError` is
/// (`read tcp 127.0.0.1:50012->127.0.0.1:8080: i/o timeout`), so logs read the same as a Go service's.
public struct NetError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// A deadline passed (Go's `os.ErrDeadlineExceeded`, "i/o timeout").
        case timeout
        /// The connection or listener was closed by this process ("use of closed network connection").
        case closed
        /// The peer reset the connection (ECONNRESET).
        case connectionReset
        /// Nobody listens at the address (ECONNREFUSED).
        case connectionRefused
        /// The address is taken (EADDRINUSE).
        case addressInUse
        /// Writing to a connection the peer has closed (EPIPE).
        case brokenPipe
        /// An address that does not parse, or a network name this package does not know.
        case invalidAddress(String)
        /// A host name that did not resolve.
        case noSuchHost
        /// Any other system error, with its errno.
        case system(Int32)
    }

    public let kind: Kind
    /// "dial", "listen", "accept", "read", "write", "close", "set".
    public let op: String
    /// "tcp", "tcp4", "tcp6" or "unix".
    public let network: String
    /// The local address, when there is a connection.
    public let source: String?
    /// The remote address (or the listening one).
    public let address: String?
    /// The system call that failed, printed before the reason as Go does ("connect: connection refused").
    public let syscall: String?

    public init(_ kind: Kind, op: String, network: String, source: String? = nil, address: String? = nil,
                syscall: String? = nil) {
        self.kind = kind
        self.op = op
        self.network = network
        self.source = source
        self.address = address
        self.syscall = syscall
    }

    /// True for deadline failures (Go's `Timeout()`).
    public var isTimeout: Bool { kind == .timeout }

    /// The reason alone, as Go words it.
    public var reason: String {
        switch kind {
        case .timeout: "i/o timeout"
        case .closed: "use of closed network connection"
        case .connectionReset: "connection reset by peer"
        case .connectionRefused: "connection refused"
        case .addressInUse: "address already in use"
        case .brokenPipe: "broken pipe"
        case .invalidAddress(let why): why
        case .noSuchHost: "no such host"
        case .system(let code): Self.errnoText(code)
        }
    }

    public var description: String {
        var out = op
        if !network.isEmpty { out += " " + network }
        if let source, let address { out += " " + source + "->" + address } else if let address { out += " " + address }
        out += ": "
        if let syscall { out += syscall + ": " }
        return out + reason
    }

    /// Maps an errno to a kind, keeping the rare ones as `.system`.
    static func kind(forErrno code: Int32) -> Kind {
        switch code {
        case ECONNRESET: .connectionReset
        case ECONNREFUSED: .connectionRefused
        case EADDRINUSE: .addressInUse
        case EPIPE: .brokenPipe
        default: .system(code)
        }
    }

    /// strerror with a lower-case first letter, as Go's errno strings are.
    static func errnoText(_ code: Int32) -> String {
        let text = String(cString: strerror(code))
        guard let first = text.first else { return "errno \(code)" }
        return first.lowercased() + text.dropFirst()
    }
}
