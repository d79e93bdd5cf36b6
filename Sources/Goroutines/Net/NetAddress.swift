#if canImport(Glibc)
import Glibc
#endif

/// A network endpoint, as Go's `net.Addr`: `network` is "tcp" or "unix"; `description` is Go's string
/// form ("127.0.0.1:8080", "[::1]:8080", or the socket path).
public struct NetAddress: Sendable, Hashable, CustomStringConvertible {
    public let network: String
    /// The IP address in text form, or the path of a Unix socket.
    public let host: String
    /// The TCP port (0 for Unix sockets).
    public let port: Int

    public init(network: String, host: String, port: Int) {
        self.network = network
        self.host = host
        self.port = port
    }

    public var description: String {
        if network == "unix" { return host }
        return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}

/// A socket address in the kernel's form, with its length.
struct SocketAddress: @unchecked Sendable {
    var storage = sockaddr_storage()
    var length: socklen_t = 0

    var family: Int32 { Int32(storage.ss_family) }

    func withPointer<T>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
        withUnsafePointer(to: storage) { raw in
            raw.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) }
        }
    }

    static func ipv4(_ address: in_addr, port: Int) -> SocketAddress {
        var result = SocketAddress()
        withUnsafeMutablePointer(to: &result.storage) { raw in
            raw.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                sin.pointee.sin_family = sa_family_t(AF_INET)
                sin.pointee.sin_port = in_port_t(UInt16(port).bigEndian)
                sin.pointee.sin_addr = address
            }
        }
        result.length = socklen_t(MemoryLayout<sockaddr_in>.size)
        return result
    }

    static func ipv6(_ address: in6_addr, port: Int) -> SocketAddress {
        var result = SocketAddress()
        withUnsafeMutablePointer(to: &result.storage) { raw in
            raw.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                sin6.pointee.sin6_family = sa_family_t(AF_INET6)
                sin6.pointee.sin6_port = in_port_t(UInt16(port).bigEndian)
                sin6.pointee.sin6_addr = address
            }
        }
        result.length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        return result
    }

    /// nil when the path does not fit in `sun_path` (108 bytes with its terminator).
    static func unix(_ path: String) -> SocketAddress? {
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: sockaddr_un().sun_path)
        if bytes.isEmpty || bytes.count >= capacity { return nil }
        var result = SocketAddress()
        withUnsafeMutablePointer(to: &result.storage) { raw in
            raw.withMemoryRebound(to: sockaddr_un.self, capacity: 1) { sun in
                sun.pointee.sun_family = sa_family_t(AF_UNIX)
                withUnsafeMutableBytes(of: &sun.pointee.sun_path) { dst in
                    for (i, b) in bytes.enumerated() { dst[i] = b }
                    dst[bytes.count] = 0
                }
            }
        }
        result.length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1)
        return result
    }

    /// The address in Go's form; `network` names the result's network ("tcp" or "unix").
    func netAddress(network: String) -> NetAddress {
        withUnsafePointer(to: storage) { raw -> NetAddress in
            switch family {
            case AF_INET:
                return raw.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                    var addr = sin.pointee.sin_addr
                    return NetAddress(network: network, host: Self.text(AF_INET, &addr),
                                      port: Int(UInt16(bigEndian: sin.pointee.sin_port)))
                }
            case AF_INET6:
                return raw.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                    var addr = sin6.pointee.sin6_addr
                    return NetAddress(network: network, host: Self.text(AF_INET6, &addr),
                                      port: Int(UInt16(bigEndian: sin6.pointee.sin6_port)))
                }
            case AF_UNIX:
                return raw.withMemoryRebound(to: sockaddr_un.self, capacity: 1) { sun in
                    let pathLength = Int(length) - MemoryLayout<sa_family_t>.size
                    if pathLength <= 0 { return NetAddress(network: "unix", host: "", port: 0) }
                    let path = withUnsafeBytes(of: sun.pointee.sun_path) { bytes in
                        String(decoding: bytes.prefix(pathLength).prefix { $0 != 0 }, as: UTF8.self)
                    }
                    return NetAddress(network: "unix", host: path, port: 0)
                }
            default:
                return NetAddress(network: network, host: "", port: 0)
            }
        }
    }

    private static func text(_ family: Int32, _ address: UnsafeMutableRawPointer) -> String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        guard inet_ntop(family, address, &buffer, socklen_t(buffer.count)) != nil else { return "" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The local (`peer: false`) or remote address of a connected or bound socket.
    static func of(fd: Int32, peer: Bool) -> SocketAddress {
        var result = SocketAddress()
        result.length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &result.storage) { raw in
            raw.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                peer ? getpeername(fd, sa, &result.length) : getsockname(fd, sa, &result.length)
            }
        }
        if rc != 0 { result.length = 0 }
        return result
    }
}
