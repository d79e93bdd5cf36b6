#if canImport(Glibc)
import Glibc
#endif

/// A listening socket (Go's `net.Listener`). `accept()` parks the calling goroutine in `[IO wait]` until a
/// connection arrives; `close()` wakes it with `NetError.Kind.closed`.
public final class Listener: Sendable {
    let socket: PolledSocket
    /// The bound address (with the port the kernel chose for ":0").
    public let address: NetAddress
    /// For Unix sockets: the file to remove on close, as Go does for listeners that created it.
    private let unixPath: String?

    init(socket: PolledSocket, network: String, unixPath: String?) {
        self.socket = socket
        self.unixPath = unixPath
        address = SocketAddress.of(fd: socket.fd, peer: false).netAddress(network: network)
    }

    private func failure(_ op: String, _ error: SocketFailure) -> NetError {
        error.netError(op: op, network: address.network, source: nil, address: address.description)
    }

    /// Waits for the next connection.
    public func accept() throws(NetError) -> Conn {
        try onGoroutine { () throws(NetError) -> Conn in
            let fd: Int32
            do throws(SocketFailure) { fd = try self.socket.accept() } catch { throw self.failure("accept", error) }
            let socket: PolledSocket
            do throws(SocketFailure) { socket = try PolledSocket(fd: fd) } catch { throw self.failure("accept", error) }
            if self.address.network != "unix" { setNoDelay(fd) }
            return Conn(socket: socket, network: self.address.network)
        }
    }

    /// Stops listening. A goroutine parked in `accept` fails with `.closed`; so does a second `close`.
    public func close() throws(NetError) {
        if !socket.close() { throw failure("close", .closed) }
        if let unixPath { _ = unlink(unixPath) }
    }
}

/// TCP_NODELAY, Go's default for TCP connections: small writes go out at once.
func setNoDelay(_ fd: Int32) {
    var on: Int32 = 1
    _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
}
