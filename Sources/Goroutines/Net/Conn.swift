import CStackSwitch
#if canImport(Glibc)
import Glibc
#endif

/// A stream connection (TCP or Unix), Go's `net.Conn`. Calls that would block park the calling goroutine
/// in `[IO wait]` on the netpoller; no thread waits. Called from a plain thread (not a goroutine), a call
/// runs on a goroutine and blocks that thread until it finishes.
///
/// Any number of goroutines may use one connection: reads are serialized with reads, writes with writes.
/// `close()` wakes every goroutine parked on the connection with `NetError.Kind.closed`.
public final class Conn: Sendable {
    let socket: PolledSocket
    public let localAddress: NetAddress
    public let remoteAddress: NetAddress

    init(socket: PolledSocket, network: String) {
        self.socket = socket
        let family = SocketAddress.of(fd: socket.fd, peer: false)
        localAddress = family.netAddress(network: network)
        remoteAddress = SocketAddress.of(fd: socket.fd, peer: true).netAddress(network: network)
    }

    private var network: String { localAddress.network }

    private func failure(_ op: String, _ error: SocketFailure) -> NetError {
        error.netError(op: op, network: network, source: localAddress.description, address: remoteAddress.description)
    }

    /// Reads what is available into `buffer`, waiting for at least one byte. Returns the number of bytes
    /// read; 0 means the peer closed its writing side (Go's io.EOF) or `buffer` is empty.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(NetError) -> Int {
        if isOnGoroutine { return try readNow(buffer) }
        nonisolated(unsafe) let buffer = buffer
        return try onGoroutine { () throws(NetError) -> Int in try self.readNow(buffer) }
    }

    /// Reads into the start of `bytes` (up to its count); see `read(into:)` for the result.
    public func read(into bytes: inout [UInt8]) throws(NetError) -> Int {
        var failure: NetError?
        let n = bytes.withUnsafeMutableBytes { raw -> Int in
            do throws(NetError) { return try read(into: raw) } catch { failure = error; return 0 }
        }
        if let failure { throw failure }
        return n
    }

    /// Reads what is available, at most `maxBytes`, waiting for at least one byte. Empty at end of stream.
    public func read(upTo maxBytes: Int) throws(NetError) -> [UInt8] {
        if !isOnGoroutine { return try onGoroutine { () throws(NetError) -> [UInt8] in try self.read(upTo: maxBytes) } }
        var failure: NetError?
        let bytes = [UInt8](unsafeUninitializedCapacity: max(0, maxBytes)) { buffer, count in
            do throws(NetError) { count = try readNow(UnsafeMutableRawBufferPointer(buffer)) } catch { failure = error; count = 0 }
        }
        if let failure { throw failure }
        return bytes
    }

    /// Writes all of `bytes`, waiting for buffer space as needed, or throws.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(NetError) {
        if isOnGoroutine { return try writeNow(bytes) }
        nonisolated(unsafe) let bytes = bytes
        try onGoroutine { () throws(NetError) in try self.writeNow(bytes) }
    }

    public func write(_ bytes: [UInt8]) throws(NetError) {
        var failure: NetError?
        bytes.withUnsafeBytes { raw in
            do throws(NetError) { try write(raw) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    public func write(_ text: String) throws(NetError) {
        var text = text
        var failure: NetError?
        text.withUTF8 { utf8 in
            do throws(NetError) { try write(UnsafeRawBufferPointer(utf8)) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    private func readNow(_ buffer: UnsafeMutableRawBufferPointer) throws(NetError) -> Int {
        do throws(SocketFailure) { return try socket.read(into: buffer) } catch { throw failure("read", error) }
    }

    private func writeNow(_ bytes: UnsafeRawBufferPointer) throws(NetError) {
        do throws(SocketFailure) { try socket.write(bytes) } catch { throw failure("write", error) }
    }

    /// Closes the connection. Goroutines parked in a read or write on it fail with `.closed`; later calls
    /// fail with `.closed`, and so does a second `close`.
    public func close() throws(NetError) {
        if !socket.close() { throw failure("close", .closed) }
    }

    /// Shuts down the writing side (TCP FIN): the peer reads end of stream; this side can still read.
    public func closeWrite() throws(NetError) {
        try onGoroutine { () throws(NetError) in
            do throws(SocketFailure) { try self.socket.shutdownWrite() } catch { throw self.failure("close", error) }
        }
    }

    /// Sets both deadlines (Go's SetDeadline). After the deadline, pending and future reads and writes fail
    /// with `.timeout` until the deadline is moved; a later deadline set while a call waits extends that
    /// wait. nil: no deadline.
    public func setDeadline(_ deadline: ContinuousClock.Instant?) throws(NetError) {
        try setDeadlines(read: true, write: true, deadline)
    }

    public func setReadDeadline(_ deadline: ContinuousClock.Instant?) throws(NetError) {
        try setDeadlines(read: true, write: false, deadline)
    }

    public func setWriteDeadline(_ deadline: ContinuousClock.Instant?) throws(NetError) {
        try setDeadlines(read: false, write: true, deadline)
    }

    private func setDeadlines(read: Bool, write: Bool, _ deadline: ContinuousClock.Instant?) throws(NetError) {
        do throws(SocketFailure) {
            try socket.setDeadline(read: read, write: write, deadline.map(monotonicNanos))
        } catch {
            throw failure("set", error)
        }
    }
}

/// A ContinuousClock instant on the runtime's monotonic clock (what timers use).
func monotonicNanos(_ instant: ContinuousClock.Instant) -> Int64 {
    let (seconds, attoseconds) = (instant - .now).components
    let nanos = seconds.multipliedReportingOverflow(by: 1_000_000_000)
    if nanos.overflow { return seconds < 0 ? 1 : Int64.max - 1 }
    let now = gr_nanotime()
    let sum = now.addingReportingOverflow(nanos.partialValue &+ attoseconds / 1_000_000_000)
    return sum.overflow ? Int64.max - 1 : max(1, sum.partialValue)
}

/// True on a goroutine (socket calls may park); false on a plain thread.
var isOnGoroutine: Bool { M.current?.curG != nil }

/// Runs a socket call on a goroutine: directly when already on one, otherwise on a new goroutine while
/// the calling thread blocks (a plain thread cannot park).
func onGoroutine<T: Sendable>(_ body: @escaping @Sendable () throws(NetError) -> T) throws(NetError) -> T {
    if M.current?.curG != nil { return try body() }
    let result: Result<T, NetError>
    do {
        result = try Go.runBlocking { () -> Result<T, NetError> in Result { () throws(NetError) -> T in try body() } }
    } catch {
        fatalRuntimeError("network call on a helper goroutine failed unexpectedly: \(error)")
    }
    return try result.get()
}
