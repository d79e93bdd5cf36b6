// One accepted socket, driven by the loop thread: HTTP/1.1 (keep-alive, pipelining answered in
// order, one request handled at a time as Go does) until the client shows it speaks HTTP/2, either
// with the prior-knowledge preface or with `Upgrade: h2c`; then an HTTP2Session takes over the bytes.
//
// Closing: after an error response (or `Connection: close`), the write side is shut down and the
// socket drained for a moment before close, so unread request bytes do not turn into a TCP reset
// that would destroy the answer before the client reads it (Go's closeWriteAndWait does the same).
import CDebugServerSupport
import Glibc

private let http2Preface: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
/// Stop reading new requests (or pulling HTTP/2 frames) while this much output waits for the peer.
private let outboundHighWater = 1 << 20
private let lingerNanoseconds: UInt64 = 1_000_000_000
/// A streamed body is pulled into the output only while less than this waits there.
private let streamLowWater = 256 * 1024
private let crlf: [UInt8] = [13, 10]
/// While the server is crowded (see ServerLoop.isCrowded), how long a connection may wait for a
/// request head before it is closed, whatever readHeaderTimeout says.
private let crowdedHeadNanoseconds: UInt64 = 2_000_000_000
/// How long an HTTP/2 answer may wait on a flow-control window the client keeps shut.
private let windowStallNanoseconds: UInt64 = 5_000_000_000

final class Connection {
    let id: UInt64
    let fd: Int32
    /// The client, for per-client limits (0: a Unix-socket peer).
    let source: UInt64
    unowned let loop: ServerLoop

    private enum BodyReader {
        case length(remaining: Int, body: [UInt8])
        case chunked(ChunkedBodyDecoder)
    }

    private enum Phase {
        case awaitingHead
        case readingBody(HTTP1RequestHead, BodyReader)
        case handling(isHead: Bool, keepAlive: Bool, minorVersion: Int, cancel: CancellationCheck)
        case http2(HTTP2Session)
        case lingering(deadline: UInt64)
    }

    private var phase: Phase = .awaitingHead
    private var inbound: [UInt8] = []
    private var inboundOffset = 0
    private var outbound = OutboundQueue()
    private var headScanOffset = 0
    private var requestDeadline: UInt64?
    private var idleSince: UInt64
    private var lastWriteProgress: UInt64
    private var watchedEvents = EPOLLIN.rawValue | EPOLLRDHUP.rawValue
    private var closeWhenFlushed = false
    private var peerClosed = false
    private var requestsServed = 0
    private(set) var isClosed = false
    /// The HTTP/1.1 response body being streamed, while in `.handling`.
    private var streaming: (pipe: ResponseBodyPipe, chunked: Bool, keepAlive: Bool)?

    init(id: UInt64, fd: Int32, source: UInt64, loop: ServerLoop, now: UInt64) {
        self.id = id
        self.fd = fd
        self.source = source
        self.loop = loop
        idleSince = now
        lastWriteProgress = now
        requestDeadline = now + loop.configuration.readHeaderTimeout.nanoseconds
    }

    var configuration: DebugServerConfiguration { loop.configuration }

    /// Holding nothing but a wait for the next request head (or a slow body, a lingering close, an
    /// HTTP/2 connection with no stream open): the kind of connection closed first when the server is full.
    var isWaitingForRequest: Bool {
        guard !isClosed, pendingOutboundBytes == 0 else { return false }
        switch phase {
        case .awaitingHead, .readingBody, .lingering: return true
        case .http2(let session): return session.isIdle
        case .handling: return false
        }
    }

    /// Since when the connection has waited for its current request (accept, or the last answer).
    var waitingSince: UInt64 {
        if case .http2(let session) = phase { return session.lastActivity }
        return idleSince
    }

    /// Closed to make room for a newcomer (see ServerLoop.makeRoom): an HTTP/2 peer is told with GOAWAY.
    func evict() {
        if case .http2(let session) = phase {
            session.goAway()
            flush()
        }
        close()
    }
    var pendingOutboundBytes: Int { outbound.pendingBytes }

    // MARK: events

    func handleEvents(_ events: UInt32) {
        if events & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 {
            readAvailable()
        }
        if isClosed { return }
        if events & EPOLLOUT.rawValue != 0 { flush() }
        if isClosed { return }
        process()
    }

    private func readAvailable() {
        let chunk = loop.receiveBuffer
        for _ in 0..<16 {
            let count = recv(fd, chunk.baseAddress, chunk.count, 0)
            if count > 0 {
                if case .lingering = phase { continue }
                inbound.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[0..<count]))
                if count < chunk.count { break }
            } else if count == 0 {
                peerClosed = true
                break
            } else {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { break }
                close()
                return
            }
        }
        guard peerClosed else { return }
        // A level-triggered socket at EOF stays readable; stop listening to it.
        updateInterest()
        switch phase {
        case .lingering, .readingBody, .http2:
            close()
        case .handling(_, _, _, let cancel):
            // The client stopped sending (closed, or only half-closed as `nc -N` does). Like Go, tell
            // the handler its client is gone, but still try to deliver the answer (and any requests
            // already pipelined behind it); the connection closes once nothing is left to serve.
            cancel.cancel()
        case .awaitingHead:
            break  // serve what was already pipelined, then close (in process()).
        }
    }

    func checkTimeouts(now: UInt64, crowded: Bool) {
        if pendingOutboundBytes > 0 && now &- lastWriteProgress > configuration.writeTimeout.nanoseconds {
            loop.logger.debug("resetting a connection that stopped reading its response")
            abort()
            return
        }
        switch phase {
        case .lingering(let deadline):
            if now >= deadline { close() }
        case .awaitingHead, .readingBody:
            if let deadline = requestDeadline, now >= deadline {
                close()  // a slow (or slowloris) client: silent close, as Go does
            } else if crowded && pendingOutboundBytes == 0 && now &- idleSince > crowdedHeadNanoseconds {
                close()
            } else if requestDeadline == nil && inboundOffset == inbound.count && pendingOutboundBytes == 0
                        && now &- idleSince > configuration.idleTimeout.nanoseconds {
                close()
            }
        case .handling:
            break
        case .http2(let session):
            // A client that keeps a window shut holds its answers here: seconds, not the write timeout.
            let stallLimit = min(windowStallNanoseconds, configuration.writeTimeout.nanoseconds)
            if !session.checkWindowStalls(now: now, limit: stallLimit) {
                loop.logger.debug("resetting an HTTP/2 connection whose peer keeps its window shut")
                abort()
                return
            }
            flush()
            if isClosed { return }
            if session.hasResponseWaitingForWindow
                && now &- session.lastResponseProgress > configuration.writeTimeout.nanoseconds {
                loop.logger.debug("resetting an HTTP/2 connection whose peer keeps its window shut")
                abort()
                return
            }
            if session.isIdle && pendingOutboundBytes == 0
                && now &- session.lastActivity > configuration.idleTimeout.nanoseconds {
                session.goAway()
                flush()
                close()
            }
        }
    }

    /// Graceful stop: finish what is in flight, then close.
    func beginShutdown() {
        switch phase {
        case .http2(let session):
            session.goAway()
            flush()
        case .handling:
            break  // the response goes out with `Connection: close` (complete() checks isDraining)
        case .awaitingHead where inboundOffset == inbound.count:
            if pendingOutboundBytes == 0 { close() } else { closeWhenFlushed = true }
        case .awaitingHead, .readingBody:
            close()
        case .lingering:
            break
        }
    }

    // MARK: HTTP/1.1

    private func process() {
        while !isClosed {
            switch phase {
            case .http2(let session):
                if inboundOffset < inbound.count {
                    let ok = session.receive(inbound[inboundOffset...])
                    inbound.removeAll(keepingCapacity: inbound.capacity <= 65536)
                    inboundOffset = 0
                    if !ok { flush(); close(); return }
                }
                flush()
                if !isClosed && session.isFinished && pendingOutboundBytes == 0 { close() }
                return
            case .lingering, .handling:
                return
            case .awaitingHead:
                if closeWhenFlushed || pendingOutboundBytes > outboundHighWater { return }
                compactInbound()
                let available = inbound[inboundOffset...]
                if available.isEmpty {
                    if peerClosed || loop.isDraining { closeWhenFlushed = true; flush() }
                    return
                }
                if requestsServed == 0 && available.first == UInt8(ascii: "P") {
                    let prefix = available.prefix(http2Preface.count)
                    if prefix.elementsEqual(http2Preface[0..<prefix.count]) {
                        if prefix.count < http2Preface.count {
                            if peerClosed { close() }
                            return
                        }
                        startHTTP2(upgradedFrom: nil)
                        continue
                    }
                }
                if requestDeadline == nil {
                    requestDeadline = monotonicNanoseconds() + configuration.readHeaderTimeout.nanoseconds
                }
                switch loop.parser.parse(available, scanFrom: &headScanOffset) {
                case .incomplete:
                    if peerClosed { close() }
                    return
                case .failed(let error):
                    sendFinal(error.responseBytes)
                    return
                case .complete(let head, let consumed):
                    inboundOffset += consumed
                    headScanOffset = 0
                    startRequest(head)
                }
            case .readingBody(let head, var reader):
                switch continueBody(&reader) {
                case .needMore:
                    phase = .readingBody(head, reader)
                    if peerClosed { close() }
                    return
                case .done(let body):
                    run(head, body: body)
                case .tooLarge:
                    sendFinal(bodyTooLarge())
                    return
                case .malformed:
                    sendFinal(HTTP1RequestError.badRequest(nil).responseBytes)
                    return
                }
            }
        }
    }

    private enum BodyProgress { case needMore, done([UInt8]), tooLarge, malformed }

    private func continueBody(_ reader: inout BodyReader) -> BodyProgress {
        switch reader {
        case .length(let remaining, var body):
            let take = min(remaining, inbound.count - inboundOffset)
            body.append(contentsOf: inbound[inboundOffset..<(inboundOffset + take)])
            inboundOffset += take
            if take == remaining { return .done(body) }
            reader = .length(remaining: remaining - take, body: body)
            return .needMore
        case .chunked(var decoder):
            let outcome = decoder.feed(inbound, offset: &inboundOffset)
            reader = .chunked(decoder)
            switch outcome {
            case .needMore: return .needMore
            case .done: return .done(decoder.body)
            case .malformed: return .malformed
            case .tooLarge: return .tooLarge
            }
        }
    }

    private func bodyTooLarge() -> [UInt8] {
        let text = "413 Request Entity Too Large: this route takes a body of at most "
            + "\(configuration.maxBodyBytes) bytes, other routes none"
        return Array(("HTTP/1.1 413 Request Entity Too Large\r\nContent-Type: text/plain; charset=utf-8\r\n"
                      + "Connection: close\r\n\r\n" + text).utf8)
    }

    private func startRequest(_ head: HTTP1RequestHead) {
        let bodyLimit = loop.router.bodyLimit(method: head.method, path: head.path)
        let declaredLength = head.contentLength ?? 0
        let hasBody = head.chunked || declaredLength > 0
        if hasBody && (declaredLength > bodyLimit || bodyLimit == 0) {
            sendFinal(bodyTooLarge())
            return
        }
        var sendContinue = false
        if let expect = head.header("Expect") {
            guard expect.equalsIgnoringASCIICase("100-continue"), head.minorVersion >= 1 else {
                sendFinal(Array(("HTTP/1.1 417 Expectation Failed\r\nContent-Type: text/plain; charset=utf-8\r\n"
                                 + "Connection: close\r\n\r\n417 Expectation Failed").utf8))
                return
            }
            sendContinue = hasBody
        }
        if !hasBody && head.tokens("Upgrade").contains("h2c") && head.headerValues("HTTP2-Settings").count == 1 {
            let connectionTokens = head.tokens("Connection")
            if connectionTokens.contains("upgrade") && connectionTokens.contains("http2-settings") {
                guard let settings = decodeBase64URL(head.header("HTTP2-Settings") ?? "") else {
                    sendFinal(HTTP1RequestError.badRequest(nil).responseBytes)
                    return
                }
                upgradeToHTTP2(head, settings: settings)
                return
            }
        }
        if hasBody, let refusal = loop.router.authenticationFailure(headers: head.headers) {
            // Nothing of an unauthenticated client's body is read (or waited for).
            sendFinal(http1Head(refusal, keepAlive: false, minorVersion: head.minorVersion,
                                framing: .length(refusal.body.count)) + refusal.body)
            return
        }
        if hasBody {
            if sendContinue { enqueue(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)); flush() }
            phase = .readingBody(head, head.chunked
                ? .chunked(ChunkedBodyDecoder(limit: bodyLimit))
                : .length(remaining: declaredLength, body: []))
            return
        }
        run(head, body: [])
    }

    private func run(_ head: HTTP1RequestHead, body: [UInt8]) {
        requestDeadline = nil
        let cancel = CancellationCheck()
        phase = .handling(isHead: head.method == "HEAD", keepAlive: head.keepAlive,
                          minorVersion: head.minorVersion, cancel: cancel)
        if head.path == "*" {  // OPTIONS *, answered as Go's server does
            complete(streamID: 0, response: HTTPResponse(status: 200))
            return
        }
        let request = HTTPRequest(method: head.method, path: head.path, rawQuery: head.rawQuery,
                                  headers: head.headers, body: body)
        if let response = loop.dispatch(request, connectionID: id, streamID: 0, cancel: cancel) {
            complete(streamID: 0, response: response)
        }
    }

    /// A response for the request in flight (HTTP/1.1) or for an HTTP/2 stream.
    func complete(streamID: Int32, response: HTTPResponse) {
        if isClosed { response.bodyStream?.detach(); return }
        if case .http2(let session) = phase {
            session.complete(streamID: streamID, response: response)
            flush()
            return
        }
        guard case .handling(let isHead, let requestedKeepAlive, let minorVersion, _) = phase, streaming == nil else {
            response.bodyStream?.detach()
            return
        }
        var keepAlive = requestedKeepAlive && !loop.isDraining
        if let pipe = response.bodyStream {
            // Chunked on HTTP/1.1; an HTTP/1.0 client gets the body up to the connection's close.
            let chunked = minorVersion >= 1
            if !chunked { keepAlive = false }
            enqueue(http1Head(response, keepAlive: keepAlive, minorVersion: minorVersion,
                              framing: chunked ? .chunked : .untilClose))
            if isHead {
                pipe.detach()
                finishResponse(keepAlive: keepAlive)
            } else {
                streaming = (pipe, chunked, keepAlive)
                flush()
            }
            return
        }
        enqueue(http1Head(response, keepAlive: keepAlive, minorVersion: minorVersion, framing: .length(response.body.count)))
        loop.responseBytesSinceTrim += response.body.count
        if !isHead { enqueue(response.body) }
        finishResponse(keepAlive: keepAlive)
    }

    /// A streamed body (HTTP/1.1) has more bytes, or an HTTP/2 stream's has.
    func bodyReady(streamID: Int32) {
        if isClosed { return }
        if case .http2(let session) = phase { session.resumeBody(streamID: streamID) }
        flush()
    }

    private func finishResponse(keepAlive: Bool) {
        requestsServed += 1
        phase = .awaitingHead
        idleSince = monotonicNanoseconds()
        if !keepAlive { closeWhenFlushed = true }
        flush()
        if !isClosed { process() }
    }

    /// Moves streamed body bytes into the output while little output waits, so the connection holds
    /// at most `streamLowWater` plus one take of output, and the pipe its own capacity.
    private func pumpStream() {
        while let current = streaming, pendingOutboundBytes < streamLowWater {
            let (pieces, state) = current.pipe.take(upTo: streamLowWater)
            switch state {
            case .bytes(let count):
                loop.responseBytesSinceTrim += count
                if current.chunked { enqueue(Array((String(count, radix: 16) + "\r\n").utf8)) }
                for piece in pieces { enqueue(Array(piece)) }
                if current.chunked { enqueue(crlf) }
            case .wouldBlock:
                return
            case .finished:
                if current.chunked { enqueue(Array("0\r\n\r\n".utf8)) }
                streaming = nil
                finishResponse(keepAlive: current.keepAlive)
                return
            case .failed:
                // The handler failed halfway: the client must not take a cut body for a whole one.
                streaming = nil
                abort()
                return
            }
        }
    }

    /// Status line and header block, as Go writes them: handler headers sorted by name, then Date
    /// and Content-Length.
    private enum BodyFraming { case length(Int), chunked, untilClose }

    private func http1Head(_ response: HTTPResponse, keepAlive: Bool, minorVersion: Int, framing: BodyFraming) -> [UInt8] {
        var head: [UInt8] = []
        head.reserveCapacity(256)
        head += "HTTP/1.1 ".utf8
        head += String(response.status).utf8
        head.append(32)
        head += reasonPhrase(response.status).utf8
        head += "\r\n".utf8
        let fields = response.headers.count < 2 ? response.headers : response.headers.enumerated().sorted {
            $0.element.name != $1.element.name ? $0.element.name < $1.element.name : $0.offset < $1.offset
        }.map(\.element)
        for field in fields {
            head += field.name.utf8
            head += ": ".utf8
            head += field.value.utf8
            head += "\r\n".utf8
        }
        head += "Date: ".utf8
        head += loop.currentHTTPDate().utf8
        head += "\r\n".utf8
        switch framing {
        case .length(let count): head += "Content-Length: \(count)\r\n".utf8
        case .chunked: head += "Transfer-Encoding: chunked\r\n".utf8
        case .untilClose: break
        }
        if !keepAlive {
            head += "Connection: close\r\n".utf8
        } else if minorVersion == 0 {
            head += "Connection: keep-alive\r\n".utf8
        }
        head += "\r\n".utf8
        return head
    }

    /// Writes a refusal and closes once it is out.
    private func sendFinal(_ bytes: [UInt8]) {
        if case .handling(_, _, _, let cancel) = phase { cancel.cancel() }
        phase = .awaitingHead
        enqueue(bytes)
        closeWhenFlushed = true
        flush()
    }

    // MARK: HTTP/2

    private func startHTTP2(upgradedFrom upgrade: (request: HTTPRequest, settings: [UInt8])?) {
        requestDeadline = nil
        let session = HTTP2Session(connection: self)
        phase = .http2(session)
        if let upgrade, !session.acceptUpgrade(settings: upgrade.settings, request: upgrade.request) {
            close()
        }
    }

    private func upgradeToHTTP2(_ head: HTTP1RequestHead, settings: [UInt8]) {
        enqueue(Array("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n".utf8))
        let request = HTTPRequest(method: head.method, path: head.path, rawQuery: head.rawQuery,
                                  headers: head.headers.filter {
                                      !["connection", "upgrade", "http2-settings", "keep-alive", "te",
                                        "transfer-encoding"].contains($0.name.asciiLowercased)
                                  }, body: [])
        startHTTP2(upgradedFrom: (request, settings))
    }

    func dispatch(_ request: HTTPRequest, streamID: Int32, cancel: CancellationCheck) -> HTTPResponse? {
        loop.dispatch(request, connectionID: id, streamID: streamID, cancel: cancel)
    }

    // MARK: output

    // The write timeout counts from when output starts waiting, not from the last write long ago.
    func enqueue(_ bytes: [UInt8]) {
        if outbound.isEmpty { lastWriteProgress = monotonicNanoseconds() }
        outbound.append(bytes)
    }

    func enqueue(_ bytes: UnsafeRawBufferPointer) {
        if outbound.isEmpty { lastWriteProgress = monotonicNanoseconds() }
        outbound.append(bytes)
    }

    func flush() {
        while !isClosed {
            if streaming != nil { pumpStream() }
            if case .http2(let session) = phase, pendingOutboundBytes < outboundHighWater {
                session.produceOutput(upTo: outboundHighWater - pendingOutboundBytes)
            }
            guard !outbound.isEmpty else { break }
            switch outbound.write(to: fd) {
            case .wrote:
                lastWriteProgress = monotonicNanoseconds()
                continue
            case .wouldBlock:
                break
            case .failed:
                close()
                return
            }
            break
        }
        if isClosed { return }
        updateInterest()
        if outbound.isEmpty && closeWhenFlushed {
            startLingering()
        }
    }

    /// Readable while the peer may still send; writable while output waits.
    private func updateInterest() {
        let wanted = (peerClosed ? 0 : EPOLLIN.rawValue | EPOLLRDHUP.rawValue) | (outbound.isEmpty ? 0 : EPOLLOUT.rawValue)
        if wanted != watchedEvents {
            watchedEvents = wanted
            loop.modify(fd, events: wanted)
        }
    }

    private func startLingering() {
        if case .lingering = phase { return }
        shutdown(fd, Int32(SHUT_WR))
        phase = .lingering(deadline: monotonicNanoseconds() + lingerNanoseconds)
        if peerClosed { close() }
    }

    private func compactInbound() {
        if inboundOffset > 0 && (inboundOffset == inbound.count || inboundOffset > 65536) {
            inbound.removeFirst(inboundOffset)
            inboundOffset = 0
        }
    }

    /// Closes with a TCP reset, dropping unsent bytes: a stalled reader would otherwise keep the
    /// kernel trickling megabytes of queued response to it long after we gave up.
    func abort() {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close()
    }

    func close() {
        guard !isClosed else { return }
        isClosed = true
        streaming?.pipe.detach()
        streaming = nil
        switch phase {
        case .handling(_, _, _, let cancel): cancel.cancel()
        case .http2(let session): session.destroy()
        default: break
        }
        loop.forget(self)
        Glibc.close(fd)
    }
}

extension HTTP1RequestHead {
    func headerValues(_ name: String) -> [String] {
        headers.filter { $0.name.equalsIgnoringASCIICase(name) }.map(\.value)
    }
}

/// The HTTP2-Settings header: base64url without padding (RFC 9113 §3.2.1 of RFC 7540).
func decodeBase64URL(_ text: String) -> [UInt8]? {
    var standard = text.replacingCharacters("-", with: "+").replacingCharacters("_", with: "/")
    while standard.utf8.count % 4 != 0 { standard += "=" }
    guard let data = Foundation.Data(base64Encoded: standard) else { return nil }
    return Array(data)
}

private extension String {
    func replacingCharacters(_ target: Character, with replacement: Character) -> String {
        String(map { $0 == target ? replacement : $0 })
    }
}

import Foundation
