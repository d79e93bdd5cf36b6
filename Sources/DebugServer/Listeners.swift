// Opening the listening sockets: TCP (IPv4 or IPv6, by name or number) and Unix-domain, all
// non-blocking and close-on-exec, for the epoll loop.
import CDebugServerSupport
import Glibc
import Logging

struct Listener {
    let fd: Int32
    /// `127.0.0.1:6060`, `[::1]:41234`, `unix:/run/app.sock`: for logs and errors.
    let description: String
    /// The bound TCP port (useful with port 0), nil for Unix sockets.
    let port: Int?
    /// Path to unlink at stop, for Unix sockets.
    let unixPath: String?
}

let socketStreamFlags = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)

func posixError(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

/// Splits `host:port` / `[v6]:port` / `:port`.
func splitHostPort(_ address: String) throws -> (host: String, port: String) {
    if address.hasPrefix("[") {
        guard let close = address.firstIndex(of: "]") else {
            throw DebugServerError.invalidConfiguration("address \(address) has no closing ']'")
        }
        let host = String(address[address.index(after: address.startIndex)..<close])
        let rest = address[address.index(after: close)...]
        guard rest.hasPrefix(":"), !rest.dropFirst().isEmpty else {
            throw DebugServerError.invalidConfiguration("address \(address) needs a port, as in [::1]:6060")
        }
        return (host, String(rest.dropFirst()))
    }
    guard let colon = address.lastIndex(of: ":"), address[address.index(after: colon)...].count > 0 else {
        throw DebugServerError.invalidConfiguration("address \(address) needs a port, as in 127.0.0.1:6060")
    }
    let host = String(address[..<colon])
    if host.contains(":") {
        throw DebugServerError.invalidConfiguration("IPv6 address \(address) must be bracketed, as in [::1]:6060")
    }
    return (host, String(address[address.index(after: colon)...]))
}

func openTCPListener(address: String, logger: Logger) throws -> Listener {
    let (host, port) = try splitHostPort(address)
    guard let portNumber = Int(port), (0...65535).contains(portNumber) else {
        throw DebugServerError.invalidConfiguration("port \(port) in \(address) is not in 0...65535")
    }
    var hints = addrinfo()
    hints.ai_family = AF_UNSPEC
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
    var results: UnsafeMutablePointer<addrinfo>?
    let status = getaddrinfo(host.isEmpty ? nil : host, port, &hints, &results)
    guard status == 0, let first = results else {
        throw DebugServerError.cannotListen(address: address, reason: String(cString: gai_strerror(status)))
    }
    defer { freeaddrinfo(results) }

    var lastError = "no usable address"
    var candidate: UnsafeMutablePointer<addrinfo>? = first
    while let info = candidate {
        candidate = info.pointee.ai_next
        let fd = socket(info.pointee.ai_family, socketStreamFlags, 0)
        if fd < 0 { lastError = posixError(); continue }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        if bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) != 0 || listen(fd, listenBacklog) != 0 {
            lastError = posixError()
            close(fd)
            continue
        }
        let (boundHost, boundPort, loopback) = describeLocalAddress(fd)
        if !loopback {
            logger.warning(
                "debug server listens on a non-loopback address; anyone who can reach it can read profiles, command line and symbols",
                metadata: ["address": "\(boundHost):\(boundPort)",
                           "hint": "bind 127.0.0.1 or a Unix socket, or set a bearer token"])
        }
        return Listener(fd: fd, description: "\(boundHost):\(boundPort)", port: boundPort, unixPath: nil)
    }
    throw DebugServerError.cannotListen(address: address, reason: lastError)
}

/// The bound address as text, its port, and whether it is loopback.
private func describeLocalAddress(_ fd: Int32) -> (String, Int, Bool) {
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    withUnsafeMutablePointer(to: &storage) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(fd, $0, &length) }
    }
    var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
    if Int32(storage.ss_family) == AF_INET {
        return withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                var address = sin.pointee.sin_addr
                inet_ntop(AF_INET, &address, &text, socklen_t(text.count))
                let port = Int(UInt16(bigEndian: sin.pointee.sin_port))
                let loopback = (UInt32(bigEndian: address.s_addr) >> 24) == 127
                return (String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self), port, loopback)
            }
        }
    }
    return withUnsafePointer(to: &storage) {
        $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
            var address = sin6.pointee.sin6_addr
            inet_ntop(AF_INET6, &address, &text, socklen_t(text.count))
            let port = Int(UInt16(bigEndian: sin6.pointee.sin6_port))
            let bytes = withUnsafeBytes(of: &address) { Array($0) }
            let isV6Loopback = bytes[0..<15].allSatisfy { $0 == 0 } && bytes[15] == 1
            let isMappedV4Loopback = bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xff && bytes[11] == 0xff
                && bytes[12] == 127
            let addressText = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return ("[\(addressText)]", port, isV6Loopback || isMappedV4Loopback)
        }
    }
}

func openUnixListener(path: String) throws -> Listener {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let pathBytes = Array(path.utf8)
    let capacity = MemoryLayout.size(ofValue: address.sun_path)
    guard !pathBytes.isEmpty, pathBytes.count < capacity else {
        throw DebugServerError.invalidConfiguration(
            "Unix socket path must be 1...\(capacity - 1) bytes long; \(path) is \(pathBytes.count)")
    }
    // Replace a socket left behind by an earlier run, but never another kind of file.
    var info = stat()
    if lstat(path, &info) == 0 {
        guard (info.st_mode & S_IFMT) == S_IFSOCK else {
            throw DebugServerError.cannotListen(address: "unix:" + path, reason: "a file that is not a socket exists there")
        }
        unlink(path)
    }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        raw.copyBytes(from: pathBytes)
    }
    let fd = socket(AF_UNIX, socketStreamFlags, 0)
    guard fd >= 0 else { throw DebugServerError.cannotListen(address: "unix:" + path, reason: posixError()) }
    let length = socklen_t(MemoryLayout<sa_family_t>.size + pathBytes.count + 1)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
    }
    if bound != 0 || listen(fd, listenBacklog) != 0 {
        let reason = posixError()
        close(fd)
        throw DebugServerError.cannotListen(address: "unix:" + path, reason: reason)
    }
    // Profiles and the command line are for the process owner only.
    chmod(path, 0o600)
    return Listener(fd: fd, description: "unix:" + path, port: nil, unixPath: path)
}

/// Room in the kernel for connections not yet accepted: a burst of reconnecting clients (slowloris)
/// must not push a normal client out of a short backlog before the loop gets to accept it.
private let listenBacklog: Int32 = 1024
