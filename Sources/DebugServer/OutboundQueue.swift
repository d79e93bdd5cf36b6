// Bytes waiting to be sent on one connection. Large bodies are kept as the arrays the handlers
// produced (no copy; arrays share storage) and written together with the head in one sendmsg, the
// way Go writes big bodies straight to the socket; small pieces are coalesced.
import CDebugServerSupport
import Glibc

struct OutboundQueue {
    private var segments: [[UInt8]] = []
    private var firstOffset = 0
    private(set) var pendingBytes = 0

    var isEmpty: Bool { pendingBytes == 0 }

    /// Queues `bytes`; arrays of 16 KiB or more are queued without copying.
    mutating func append(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        pendingBytes += bytes.count
        if bytes.count < 16384, let last = segments.indices.last, segments[last].count < 16384,
           last > 0 || firstOffset == 0 {
            segments[last] += bytes
        } else {
            segments.append(bytes)
        }
    }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        pendingBytes += bytes.count
        if let last = segments.indices.last, segments[last].count < 65536, last > 0 || firstOffset == 0 {
            segments[last].append(contentsOf: bytes)
        } else {
            segments.append(Array(bytes))
        }
    }

    enum WriteOutcome { case wrote(Int), wouldBlock, failed }

    /// One `sendmsg` of up to 8 segments (MSG_NOSIGNAL: a vanished peer is an error, not SIGPIPE).
    mutating func write(to fd: Int32) -> WriteOutcome {
        guard !segments.isEmpty else { return .wrote(0) }
        let count = min(segments.count, 8)
        var iovecs = [iovec](repeating: iovec(), count: count)
        let sent: Int = withSegmentPointers(count) { pointers in
            for index in 0..<count {
                let offset = index == 0 ? firstOffset : 0
                iovecs[index] = iovec(iov_base: UnsafeMutableRawPointer(mutating: pointers[index] + offset),
                                      iov_len: segments[index].count - offset)
            }
            return iovecs.withUnsafeMutableBufferPointer { buffer in
                var message = msghdr()
                message.msg_iov = buffer.baseAddress
                message.msg_iovlen = count
                return sendmsg(fd, &message, Int32(MSG_NOSIGNAL))
            }
        }
        if sent < 0 {
            if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { return .wouldBlock }
            return .failed
        }
        consume(sent)
        return .wrote(sent)
    }

    /// Base addresses of the first `count` segments, valid inside `body`.
    private func withSegmentPointers<R>(_ count: Int, _ body: ([UnsafeRawPointer]) -> R) -> R {
        func nest(_ index: Int, _ collected: [UnsafeRawPointer]) -> R {
            if index == count { return body(collected) }
            return segments[index].withUnsafeBytes { nest(index + 1, collected + [$0.baseAddress!]) }
        }
        return nest(0, [])
    }

    private mutating func consume(_ written: Int) {
        pendingBytes -= written
        var remaining = written
        while remaining > 0, let first = segments.first {
            let available = first.count - firstOffset
            if remaining >= available {
                remaining -= available
                segments.removeFirst()
                firstOffset = 0
            } else {
                firstOffset += remaining
                remaining = 0
            }
        }
    }
}
