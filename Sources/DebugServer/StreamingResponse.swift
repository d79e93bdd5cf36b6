// A response whose body is produced over time (the schedtrace stream): a producer thread of its own
// writes pieces, each handed to the socket loop through the same mailbox as finished responses, and
// the connection frames them as HTTP/1.1 chunks. It ends when the producer returns, or when the
// client leaves or the server stops (the producer sees `isCancelled` and its sleeps wake early).
//
// Backpressure: the connection reports how many bytes still wait for the peer after each write; while
// that is above `maxBacklog`, the producer's writes wait, so a client that stops reading costs at most
// that much memory until the write timeout closes the connection.
//
// HTTP/2 has no streaming path yet: the connection answers such a request over HTTP/2 with an error.
import CDebugServerSupport
import Foundation
import Synchronization

final class ResponseStream: Sendable {
    static let maxBacklog = 64 * 1024

    private let produce: @Sendable (StreamWriter) -> Void
    private let onFinish: @Sendable () -> Void
    private let state = Mutex<(started: Bool, finished: Bool)>((false, false))
    fileprivate let cancellation = CancellationCheck()
    fileprivate let backlog = Atomic<Int>(0)

    /// - Parameters:
    ///   - produce: runs on a thread of its own once the response head is out.
    ///   - onFinish: runs exactly once, when the producer returned or the stream was dropped unstarted.
    init(produce: @escaping @Sendable (StreamWriter) -> Void, onFinish: @escaping @Sendable () -> Void) {
        self.produce = produce
        self.onFinish = onFinish
    }

    /// Starts the producer. `deliver` gets each piece, then an empty array at the end.
    func start(deliver: @escaping @Sendable ([UInt8]) -> Void) {
        let begin = state.withLock { state -> Bool in
            guard !state.started && !state.finished else { return false }
            state.started = true
            return true
        }
        guard begin else { return }
        let writer = StreamWriter(stream: self, deliver: deliver)
        let thread = Thread { [self] in
            cdebugserver_name_current_thread("pprof-stream")
            produce(writer)
            deliver([])
            finish()
        }
        thread.start()
    }

    /// The client left, the server is stopping, or the stream will never start: stop producing.
    func cancel() {
        cancellation.cancel()
        let unstarted = state.withLock { state -> Bool in
            guard !state.started && !state.finished else { return false }
            state.started = true
            return true
        }
        if unstarted { finish() }
    }

    /// Bytes of this response still waiting for the peer (reported by the connection).
    func reportBacklog(_ bytes: Int) {
        backlog.store(bytes, ordering: .relaxed)
    }

    private func finish() {
        let first = state.withLock { state -> Bool in
            defer { state.finished = true }
            return !state.finished
        }
        if first { onFinish() }
    }
}

/// What a producer writes with.
struct StreamWriter: Sendable {
    fileprivate let stream: ResponseStream
    fileprivate let deliver: @Sendable ([UInt8]) -> Void

    var isCancelled: Bool { stream.cancellation.isCancelled }

    /// Sends `bytes`, first waiting while the peer is more than `maxBacklog` behind. False once the
    /// stream is cancelled (nothing is sent then).
    @discardableResult
    func write(_ bytes: [UInt8]) -> Bool {
        while stream.backlog.load(ordering: .relaxed) > ResponseStream.maxBacklog {
            if !stream.cancellation.sleep(seconds: 0.05) { return false }
        }
        guard !isCancelled, !bytes.isEmpty else { return !isCancelled }
        stream.backlog.add(bytes.count, ordering: .relaxed)
        deliver(bytes)
        return true
    }

    /// Sleeps, waking early on cancellation; false when cancelled.
    func sleep(seconds: Double) -> Bool { stream.cancellation.sleep(seconds: seconds) }
}

/// A counter of concurrent streams with a limit (429 beyond it).
final class StreamSlots: Sendable {
    private let inUse = Mutex<Int>(0)
    let limit: Int

    init(limit: Int) { self.limit = limit }

    func acquire() -> Bool {
        inUse.withLock { count in
            guard count < limit else { return false }
            count += 1
            return true
        }
    }

    func release() { inUse.withLock { $0 -= 1 } }
}

/// HTTP/1.1 chunk framing: size in hex, CRLF, data, CRLF; the empty chunk ends the body.
func chunkFramed(_ bytes: [UInt8]) -> [UInt8] {
    if bytes.isEmpty { return Array("0\r\n\r\n".utf8) }
    return Array((String(bytes.count, radix: 16) + "\r\n").utf8) + bytes + [13, 10]
}

// The connection's side: starting a stream, framing its pieces, refusing it over HTTP/2.
extension Connection {
    /// Writes the head (chunked for HTTP/1.1; for HTTP/1.0 the body ends at close), then starts the
    /// producer, whose pieces come back through the loop's mailbox as completions for this connection.
    func startStreaming(_ response: HTTPResponse, _ stream: ResponseStream, minorVersion: Int) {
        let chunked = minorVersion >= 1
        enqueueStreamHead(response, chunked: chunked, minorVersion: minorVersion)
        beginStreamingPhase(stream, chunked: chunked)
        let loop = self.loop, id = self.id
        stream.start { piece in
            loop.post(Completion(connectionID: id, streamID: 0, response: HTTPResponse(status: 200, body: piece)))
        }
        flush()
    }

    /// A piece from the producer; the empty piece ends the response and the connection.
    func sendStreamPiece(_ piece: [UInt8], of stream: ResponseStream, chunked: Bool) {
        if piece.isEmpty {
            if chunked { enqueue(chunkFramed([])) }
            endStreamingPhase()
        } else {
            enqueue(chunked ? chunkFramed(piece) : piece)
        }
        flush()
        stream.reportBacklog(pendingOutboundBytes)
    }

    /// Over HTTP/2 a streamed body is not supported yet: drop the stream, answer with an error.
    func refusingStreamOverHTTP2(_ response: HTTPResponse) -> HTTPResponse {
        guard let stream = response.stream else { return response }
        stream.cancel()
        return HTTPResponse(status: 505, headers: plainTextHeaders,
                            text: "this route streams its answer over HTTP/1.1 only; retry without HTTP/2\n")
    }
}
