import CStackSwitch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Why a socket call failed, before `Conn`/`Listener` dress it up as a `NetError` with addresses.
enum SocketFailure: Error {
    case closed, timeout
    case system(Int32, syscall: String)

    init(_ failure: PollWaitFailure) {
        switch failure {
        case .closed: self = .closed
        case .timeout: self = .timeout
        }
    }

    func netError(op: String, network: String, source: String?, address: String?) -> NetError {
        switch self {
        case .closed: return NetError(.closed, op: op, network: network, source: source, address: address)
        case .timeout: return NetError(.timeout, op: op, network: network, source: source, address: address)
        case .system(let code, let syscall):
            return NetError(NetError.kind(forErrno: code), op: op, network: network, source: source, address: address,
                            syscall: syscall)
        }
    }
}

/// A non-blocking socket registered with the netpoller: each call tries the system call, and on EAGAIN
/// parks the goroutine in `IO wait` until the poller says the socket changed, then tries again.
/// Must be called on a goroutine (`Conn` and `Listener` move plain-thread callers onto one).
final class PolledSocket: @unchecked Sendable {
    let fd: Int32
    let descriptor: PollDescriptor
    /// The descriptor's token when registered: calls after `close` fail even if the descriptor is reused.
    let token: UInt64
    /// Set by this socket's own `close`: later calls fail here without looking at a descriptor that may
    /// already serve another socket.
    private let closed = Atomic<Bool>(false)

    /// Takes ownership of `fd` (closing it if registration fails).
    init(fd: Int32) throws(SocketFailure) {
        self.fd = fd
        do {
            descriptor = try PollDescriptor.register(fd: fd)
        } catch {
            _ = Glibc.close(fd)
            throw .system(error.code, syscall: "epoll_ctl")
        }
        token = descriptor.token
    }

    /// A connection dropped without `close` still gives its fd back (Go does it in a finalizer).
    deinit { if !closed.load(ordering: .acquiring) { _ = descriptor.close(token) } }

    /// Runs `body` as one operation: the fd stays open until it ends, even if `close` comes in between.
    @inline(__always)
    private func operation<T>(_ body: () throws(SocketFailure) -> T) throws(SocketFailure) -> T {
        if closed.load(ordering: .acquiring) { throw .closed }
        do { try descriptor.beginOperation(token) } catch { throw SocketFailure(error) }
        defer { descriptor.endOperation() }
        return try body()
    }

    private func wait(_ direction: PollDescriptor.Direction) throws(SocketFailure) {
        do { try descriptor.wait(direction, token) } catch { throw SocketFailure(error) }
    }

    private func checkDeadline(_ direction: PollDescriptor.Direction) throws(SocketFailure) {
        do { try descriptor.checkDeadline(direction) } catch { throw SocketFailure(error) }
    }

    /// Reads what is available (at least one byte), 0 at end of stream.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(SocketFailure) -> Int {
        descriptor.readOps.lock()
        defer { descriptor.readOps.unlock() }
        return try operation { () throws(SocketFailure) -> Int in
            try checkDeadline(.read)
            if buffer.isEmpty { return 0 }
            while true {
                let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
                if n >= 0 { return n }
                switch errno {
                case EINTR: continue
                case EAGAIN: try wait(.read)
                case let code: throw .system(code, syscall: "read")
                }
            }
        }
    }

    /// Writes every byte, waiting for room as needed.
    func write(_ bytes: UnsafeRawBufferPointer) throws(SocketFailure) {
        descriptor.writeOps.lock()
        defer { descriptor.writeOps.unlock() }
        try operation { () throws(SocketFailure) in
            try checkDeadline(.write)
            var offset = 0
            while offset < bytes.count {
                let n = gr_send_nosignal(fd, bytes.baseAddress! + offset, UInt(bytes.count - offset))
                if n >= 0 {
                    offset += n
                    continue
                }
                switch errno {
                case EINTR: continue
                case EAGAIN: try wait(.write)
                case let code: throw .system(code, syscall: "write")
                }
            }
        }
    }

    /// Accepts one connection: the new fd is non-blocking and close-on-exec.
    func accept() throws(SocketFailure) -> Int32 {
        descriptor.readOps.lock()
        defer { descriptor.readOps.unlock() }
        return try operation { () throws(SocketFailure) -> Int32 in
            try checkDeadline(.read)
            while true {
                let client = gr_accept_nonblocking(fd)
                if client >= 0 { return client }
                switch errno {
                case EINTR, ECONNABORTED: continue
                case EAGAIN: try wait(.read)
                case let code: throw .system(code, syscall: "accept")
                }
            }
        }
    }

    /// Connects to `address`, waiting for the handshake (the write deadline bounds the wait).
    func connect(to address: SocketAddress) throws(SocketFailure) {
        try operation { () throws(SocketFailure) in
            let rc = address.withPointer { Glibc.connect(fd, $0, $1) }
            if rc == 0 { return }
            let code = errno
            if code != EINPROGRESS && code != EINTR && code != EALREADY { throw .system(code, syscall: "connect") }
            while true {
                try wait(.write)
                var pending: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                if getsockopt(fd, SOL_SOCKET, SO_ERROR, &pending, &length) != 0 { throw .system(errno, syscall: "getsockopt") }
                switch pending {
                case 0, EISCONN:
                    // Edge-triggered wake-ups can come early: connected only when the peer has a name.
                    if SocketAddress.of(fd: fd, peer: true).length > 0 { return }
                case EINPROGRESS, EALREADY, EINTR: continue
                default: throw .system(pending, syscall: "connect")
                }
            }
        }
    }

    /// shutdown(2) on the writing side: the peer reads end of stream, reading here still works.
    func shutdownWrite() throws(SocketFailure) {
        try operation { () throws(SocketFailure) in
            if Glibc.shutdown(fd, Int32(SHUT_WR)) != 0 { throw .system(errno, syscall: "shutdown") }
        }
    }

    /// Sets the read and/or write deadline (absolute monotonic ns; nil: none).
    func setDeadline(read: Bool, write: Bool, _ when: Int64?) throws(SocketFailure) {
        if closed.load(ordering: .acquiring) { throw .closed }
        do {
            if read { try descriptor.setDeadline(.read, when, token) }
            if write { try descriptor.setDeadline(.write, when, token) }
        } catch {
            throw SocketFailure(error)
        }
    }

    /// Wakes every waiter with `.closed`; the fd closes when the last call in progress ends.
    /// False if it was already closed.
    func close() -> Bool {
        if closed.exchange(true, ordering: .acquiringAndReleasing) { return false }
        return descriptor.close(token)
    }
}
