#if canImport(Glibc)
import Glibc
#endif

/// Turns Go-style address strings into socket addresses: "host:port", "[ipv6]:port", ":port" (every
/// interface when listening, this host when dialing), "localhost", numeric IPv4 and IPv6, and other host
/// names through getaddrinfo on a blocking-call thread; for "unix", a path.
enum AddressResolution {
    enum Purpose { case listen, dial }

    /// The family a network name asks for (nil: either); throws for networks we do not serve.
    static func family(of network: String, op: String, address: String) throws(NetError) -> Int32? {
        switch network {
        case "tcp": return nil
        case "tcp4": return AF_INET
        case "tcp6": return AF_INET6
        case "unix": return AF_UNIX
        default:
            throw NetError(.invalidAddress("unknown network \(network)"), op: op, network: network, address: address)
        }
    }

    static func resolve(_ network: String, _ address: String, for purpose: Purpose) throws(NetError) -> SocketAddress {
        let op = purpose == .listen ? "listen" : "dial"
        let family = try family(of: network, op: op, address: address)
        func failure(_ why: String) -> NetError {
            NetError(.invalidAddress(why), op: op, network: network, address: address)
        }
        if family == AF_UNIX {
            guard let unix = SocketAddress.unix(address) else { throw failure("invalid Unix socket path") }
            return unix
        }
        let (host, port) = try split(address, failure)
        if host.isEmpty {
            // Listening on ":port" takes every interface; dialing it reaches this host.
            if family == AF_INET6 {
                return .ipv6(purpose == .listen ? in6addr_any : in6addr_loopback, port: port)
            }
            return .ipv4(in_addr(s_addr: (purpose == .listen ? INADDR_ANY : INADDR_LOOPBACK).bigEndian), port: port)
        }
        if host == "localhost" {
            if family == AF_INET6 { return .ipv6(in6addr_loopback, port: port) }
            return .ipv4(in_addr(s_addr: INADDR_LOOPBACK.bigEndian), port: port)
        }
        var v4 = in_addr()
        if family != AF_INET6, inet_pton(AF_INET, host, &v4) == 1 { return .ipv4(v4, port: port) }
        var v6 = in6_addr()
        if family != AF_INET, inet_pton(AF_INET6, host, &v6) == 1 { return .ipv6(v6, port: port) }
        if inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1 {
            throw failure("no suitable address found")
        }
        guard let found = lookUp(host: host, port: port, family: family) else {
            throw NetError(.noSuchHost, op: op, network: network, address: address, syscall: "lookup \(host)")
        }
        return found
    }

    /// "host:port" → (host, port), Go's SplitHostPort rules for the cases we accept.
    private static func split(_ address: String, _ failure: (String) -> NetError) throws(NetError) -> (String, Int) {
        guard let colon = address.lastIndex(of: ":") else { throw failure("missing port in address") }
        var host = String(address[..<colon])
        let portText = address[address.index(after: colon)...]
        if host.hasPrefix("[") {
            guard host.hasSuffix("]") else { throw failure("missing ']' in address") }
            host = String(host.dropFirst().dropLast())
        } else if host.contains(":") {
            throw failure("too many colons in address")
        }
        guard let port = Int(portText), (0...65535).contains(port) else { throw failure("invalid port \"\(portText)\"") }
        return (host, port)
    }

    /// getaddrinfo, marked as a blocking call so a slow resolver does not hold a P.
    private static func lookUp(host: String, port: Int, family: Int32?) -> SocketAddress? {
        Go.blockingCall {
            var hints = addrinfo()
            hints.ai_family = family ?? AF_UNSPEC
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var list: UnsafeMutablePointer<addrinfo>?
            guard getaddrinfo(host, nil, &hints, &list) == 0, let list else { return nil }
            defer { freeaddrinfo(list) }
            // IPv4 first, as Go prefers it for dialing when both are offered.
            var candidates: [SocketAddress] = []
            var node: UnsafeMutablePointer<addrinfo>? = list
            while let entry = node {
                node = entry.pointee.ai_next
                guard let sa = entry.pointee.ai_addr else { continue }
                if entry.pointee.ai_family == AF_INET {
                    let sin = UnsafeRawPointer(sa).loadUnaligned(as: sockaddr_in.self)
                    candidates.insert(.ipv4(sin.sin_addr, port: port), at: 0)
                } else if entry.pointee.ai_family == AF_INET6 {
                    let sin6 = UnsafeRawPointer(sa).loadUnaligned(as: sockaddr_in6.self)
                    candidates.append(.ipv6(sin6.sin6_addr, port: port))
                }
            }
            return candidates.first
        }
    }
}
