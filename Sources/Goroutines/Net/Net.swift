import CStackSwitch
#if canImport(Glibc)
import Glibc
#endif

/// Goroutine sockets, shaped like Go's `net` package: `Net.listen`, `Net.dial`, then `Listener.accept()`
/// and `Conn.read`/`write`. Networks: "tcp", "tcp4", "tcp6" and "unix" (stream sockets).
///
///     let listener = try Net.listen("tcp", "127.0.0.1:0")
///     go {
///         while let conn = try? listener.accept() {
///             go { while case let bytes = try conn.read(upTo: 4096), !bytes.isEmpty { try conn.write(bytes) } }
///         }
///     }
///     let conn = try Net.dial("tcp", listener.address.description, timeout: .seconds(1))
///
/// Waiting parks the goroutine in `[IO wait]` on the runtime's netpoller (an epoll instance shared by all
/// sockets), so 10 000 idle connections cost 10 000 parked goroutines, not threads. Errors are `NetError`
/// values, printed as Go prints its `*net.OpError`.
public enum Net {
    /// Listens on `address` ("host:port", ":port", "127.0.0.1:0" for any free port; a path for "unix").
    public static func listen(_ network: String, _ address: String) throws(NetError) -> Listener {
        let target = try AddressResolution.resolve(network, address, for: .listen)
        let kind = network == "unix" ? "unix" : "tcp"
        func failure(_ code: Int32, _ syscall: String) -> NetError {
            NetError(NetError.kind(forErrno: code), op: "listen", network: network, address: address, syscall: syscall)
        }
        let fd = gr_socket_nonblocking(target.family, Int32(SOCK_STREAM.rawValue))
        if fd < 0 { throw failure(errno, "socket") }
        if kind == "tcp" {
            var on: Int32 = 1
            _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        }
        if target.withPointer({ bind(fd, $0, $1) }) != 0 {
            let code = errno
            _ = Glibc.close(fd)
            throw failure(code, "bind")
        }
        if Glibc.listen(fd, 4096) != 0 {
            let code = errno
            _ = Glibc.close(fd)
            throw failure(code, "listen")
        }
        let socket: PolledSocket
        do throws(SocketFailure) { socket = try PolledSocket(fd: fd) } catch {
            throw error.netError(op: "listen", network: network, source: nil, address: address)
        }
        return Listener(socket: socket, network: kind, unixPath: kind == "unix" ? address : nil)
    }

    /// Connects to `address`, waiting at most `timeout` for the connection (nil: the system's limit).
    public static func dial(_ network: String, _ address: String, timeout: Duration? = nil) throws(NetError) -> Conn {
        if !isOnGoroutine { return try onGoroutine { () throws(NetError) -> Conn in try dial(network, address, timeout: timeout) } }
        let target = try AddressResolution.resolve(network, address, for: .dial)
        let kind = network == "unix" ? "unix" : "tcp"
        let fd = gr_socket_nonblocking(target.family, Int32(SOCK_STREAM.rawValue))
        if fd < 0 {
            throw NetError(NetError.kind(forErrno: errno), op: "dial", network: network, address: address, syscall: "socket")
        }
        let socket: PolledSocket
        do throws(SocketFailure) {
            socket = try PolledSocket(fd: fd)
            if let timeout { try socket.setDeadline(read: false, write: true, runtimeDeadline(after: timeout)) }
            try socket.connect(to: target)
            if timeout != nil { try socket.setDeadline(read: false, write: true, nil) }
        } catch {
            throw error.netError(op: "dial", network: network, source: nil, address: address)
        }
        if kind == "tcp" { setNoDelay(fd) }
        return Conn(socket: socket, network: kind)
    }
}
