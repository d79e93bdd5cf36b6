// HTTP/2 (h2c) on one connection through libnghttp2, used in "memory" mode: the Connection hands
// it received bytes (`nghttp2_session_mem_recv`) and pulls frames to send (`nghttp2_session_mem_send`),
// so the socket stays with the epoll loop.
//
// Limits the application owns (nghttp2 does not, see ecosystem-and-security.md §3.5):
// * SETTINGS_MAX_CONCURRENT_STREAMS = configuration.maxConcurrentStreams (≤ 100), and a stream
//   beyond that many open ones is refused on its own (RST_STREAM REFUSED_STREAM), before or after the
//   client acknowledged the setting. nghttp2 would end the whole connection (GOAWAY PROTOCOL_ERROR)
//   once the setting is acknowledged, losing every stream in flight; so nghttp2 is given a far larger
//   limit and the advertised value is written into our SETTINGS frame on its way out;
// * a stream whose answer waits on a shut flow-control window for `windowStallNanoseconds` is reset,
//   and a connection whose connection-level window stays shut that long is dropped;
// * header field count and decoded size per request (431, as HTTP/1.1);
// * request bodies only where the route takes one (413);
// * RST_STREAM (or the connection going away) cancels that stream's handler.
import CNghttp2
import Glibc

final class HTTP2Session {
    private struct Stream {
        var headers: [(name: String, value: String)] = []
        var headerBytes = 0
        var headersTooLarge = false
        var method = ""
        var path = ""
        var body: [UInt8] = []
        var bodyTooLarge = false
        var cancel: CancellationCheck? = nil
        var handlerRunning = false
        var responded = false
        var response: [UInt8] = []
        var responseOffset = 0
        /// Since when the answer has waited on a shut window (nil while it moves or is done).
        var windowShutSince: UInt64? = nil

        /// A body still being written by its handler (see ResponseBodyPipe).
        var bodyStream: ResponseBodyPipe? = nil
        var hasBodyToSend: Bool { !response.isEmpty || bodyStream != nil }
        /// When its HEADERS began: a request must be complete within readHeaderTimeout.
        var openedAt = monotonicNanoseconds()
    }

    /// The limit nghttp2 enforces itself (with a connection error); ours is enforced per stream.
    private static let nghttp2StreamLimit: UInt32 = 1 << 20
    private var advertisedSettingsPatched = false

    private var session: OpaquePointer?
    private unowned let connection: Connection
    private var streams: [Int32: Stream] = [:]
    private var runningHandlers = 0
    /// After `Upgrade: h2c`, frames wait until the client's preface arrives. A curl 7.88 `--http2`
    /// run once failed (exit 16) on a 200 KiB answer that was already streaming before curl had sent
    /// its preface; not racing the client's switch-over costs nothing.
    private var holdingOutputForClientPreface = false
    private(set) var lastActivity = monotonicNanoseconds()
    /// Last time response data moved (or a response was submitted); a peer that keeps its flow
    /// control window shut leaves it behind while answers wait.
    private(set) var lastResponseProgress = monotonicNanoseconds()

    /// Some stream has a submitted response whose body is not fully handed to nghttp2 yet.
    var hasResponseWaitingForWindow: Bool {
        streams.values.contains { $0.hasBodyToSend }
    }

    init(connection: Connection) {
        self.connection = connection
        var callbacks: OpaquePointer?
        nghttp2_session_callbacks_new(&callbacks)
        defer { nghttp2_session_callbacks_del(callbacks) }
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks) { _, frame, user in
            HTTP2Session.from(user).beginHeaders(frame!)
        }
        nghttp2_session_callbacks_set_on_header_callback(callbacks) { _, frame, name, nameLength, value, valueLength, _, user in
            HTTP2Session.from(user).header(frame!, name: UnsafeBufferPointer(start: name, count: nameLength),
                                          value: UnsafeBufferPointer(start: value, count: valueLength))
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, user in
            HTTP2Session.from(user).frameReceived(frame!)
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { _, _, streamID, data, length, user in
            HTTP2Session.from(user).dataReceived(streamID, UnsafeBufferPointer(start: data, count: length))
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, streamID, _, user in
            HTTP2Session.from(user).streamClosed(streamID)
        }
        var options: OpaquePointer?
        nghttp2_option_new(&options)
        defer { nghttp2_option_del(options) }
        // CONTINUATION flood cap (CVE-2024-28182); Debian's 1.52.0+deb12u2 and later export it.
        nghttp2_option_set_max_continuations(options, 8)
        nghttp2_session_server_new2(&session, callbacks, Unmanaged.passUnretained(self).toOpaque(), options)

        let configuration = connection.configuration
        var settings = [
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue),
                                   value: Self.nghttp2StreamLimit),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue),
                                   value: UInt32(configuration.maxHeaderBytes)),
        ]
        nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), &settings, settings.count)
    }

    private static func from(_ user: UnsafeMutableRawPointer?) -> HTTP2Session {
        Unmanaged<HTTP2Session>.fromOpaque(user!).takeUnretainedValue()
    }

    func destroy() {
        for stream in streams.values {
            stream.cancel?.cancel()
            stream.bodyStream?.detach()
        }
        streams.removeAll()
        if let session { nghttp2_session_del(session) }
        session = nil
    }

    /// No streams open: the connection may be closed for idleness.
    var isIdle: Bool { streams.isEmpty }

    /// Both sides are done (GOAWAY exchanged, or a fatal protocol error).
    var isFinished: Bool {
        guard let session else { return true }
        return nghttp2_session_want_read(session) == 0 && nghttp2_session_want_write(session) == 0
    }

    /// `Upgrade: h2c`: the HTTP/1.1 request becomes stream 1.
    func acceptUpgrade(settings: [UInt8], request: HTTPRequest) -> Bool {
        let result = settings.withUnsafeBufferPointer {
            nghttp2_session_upgrade2(session, $0.baseAddress, $0.count, request.method == "HEAD" ? 1 : 0, nil)
        }
        guard result == 0 else { return false }
        holdingOutputForClientPreface = true
        var stream = Stream()
        stream.method = request.method
        stream.path = request.path
        streams[1] = stream
        run(streamID: 1, request: request)
        return true
    }

    /// Feeds received bytes; false on a fatal protocol error.
    func receive(_ bytes: ArraySlice<UInt8>) -> Bool {
        guard let session else { return false }
        lastActivity = monotonicNanoseconds()
        let result = bytes.withUnsafeBufferPointer { nghttp2_session_mem_recv(session, $0.baseAddress, $0.count) }
        if !bytes.isEmpty { holdingOutputForClientPreface = false }
        return result >= 0
    }

    /// Moves up to about `limit` bytes of frames into the connection's output buffer.
    func produceOutput(upTo limit: Int) {
        guard let session, !holdingOutputForClientPreface else { return }
        var produced = 0
        while produced < limit {
            var data: UnsafePointer<UInt8>?
            let length = nghttp2_session_mem_send(session, &data)
            if length <= 0 { break }
            if advertisedSettingsPatched {
                connection.enqueue(UnsafeRawBufferPointer(start: data, count: length))
            } else {
                var bytes = Array(UnsafeBufferPointer(start: data, count: length))
                advertiseStreamLimit(in: &bytes)
                connection.enqueue(bytes)
            }
            produced += length
        }
    }

    /// Our first frame is our SETTINGS: its MAX_CONCURRENT_STREAMS entry is nghttp2's large limit,
    /// replaced here by the one the client must honour (see the top of this file).
    private func advertiseStreamLimit(in bytes: inout [UInt8]) {
        advertisedSettingsPatched = true
        guard bytes.count >= 9, bytes[3] == 4, bytes[4] & 1 == 0 else { return }
        let length = Int(bytes[0]) << 16 | Int(bytes[1]) << 8 | Int(bytes[2])
        var entry = 9
        while entry + 6 <= min(bytes.count, 9 + length) {
            if bytes[entry] == 0 && bytes[entry + 1] == 3 {
                let limit = UInt32(connection.configuration.maxConcurrentStreams)
                for index in 0..<4 { bytes[entry + 2 + index] = UInt8(truncatingIfNeeded: limit >> (24 - 8 * index)) }
            }
            entry += 6
        }
    }

    private var connectionWindowShutSince: UInt64?

    /// Resets each stream whose answer has waited on its shut flow-control window for `limit`
    /// nanoseconds (freeing what it holds); false when the connection-level window has been shut
    /// that long, and the caller should drop the connection.
    func checkWindowStalls(now: UInt64, limit: UInt64) -> Bool {
        guard let session else { return true }
        let waiting = streams.filter { $0.value.responded && $0.value.hasBodyToSend }
        if waiting.isEmpty || nghttp2_session_get_remote_window_size(session) > 0 {
            connectionWindowShutSince = nil
        } else if let since = connectionWindowShutSince {
            if now &- since >= limit { return false }
        } else {
            connectionWindowShutSince = now
        }
        // A request still incomplete after readHeaderTimeout (headers without END_STREAM, a body
        // that stopped) holds a stream slot for nothing.
        let requestDeadline = connection.configuration.readHeaderTimeout.nanoseconds
        for (streamID, stream) in streams where stream.cancel == nil && !stream.responded
            && now &- stream.openedAt > requestDeadline {
            nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, NGHTTP2_CANCEL.rawValue)
            streams[streamID]?.responded = true
        }
        for (streamID, stream) in waiting {
            guard nghttp2_session_get_stream_remote_window_size(session, streamID) <= 0 else {
                streams[streamID]?.windowShutSince = nil
                continue
            }
            guard let since = stream.windowShutSince else {
                streams[streamID]?.windowShutSince = now
                continue
            }
            if now &- since >= limit {
                nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID,
                                          NGHTTP2_CANCEL.rawValue)
                streams[streamID]?.response = []
                streams[streamID]?.bodyStream?.detach()
                streams[streamID]?.bodyStream = nil
            }
        }
        return true
    }

    /// A streamed body that ran dry has bytes again.
    func resumeBody(streamID: Int32) {
        guard let session, streams[streamID]?.bodyStream != nil else { return }
        nghttp2_session_resume_data(session, streamID)
    }

    /// Graceful stop: GOAWAY naming the last stream we will still answer.
    func goAway() {
        guard let session else { return }
        nghttp2_submit_goaway(session, UInt8(NGHTTP2_FLAG_NONE.rawValue),
                              nghttp2_session_get_last_proc_stream_id(session),
                              NGHTTP2_NO_ERROR.rawValue, nil, 0)
    }

    // MARK: callbacks

    private func beginHeaders(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 {
        guard frame.pointee.hd.type == UInt8(NGHTTP2_HEADERS.rawValue),
              frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST else { return 0 }
        let streamID = frame.pointee.hd.stream_id
        if streams.count >= connection.configuration.maxConcurrentStreams {
            // Untracked from here on: its header fields and body are ignored.
            nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID,
                                      NGHTTP2_REFUSED_STREAM.rawValue)
            return 0
        }
        streams[streamID] = Stream()
        return 0
    }

    private func header(_ frame: UnsafePointer<nghttp2_frame>, name: UnsafeBufferPointer<UInt8>,
                        value: UnsafeBufferPointer<UInt8>) -> Int32 {
        let streamID = frame.pointee.hd.stream_id
        guard var stream = streams[streamID] else { return 0 }
        let configuration = connection.configuration
        stream.headerBytes += name.count + value.count + 32
        if stream.headerBytes > configuration.maxHeaderBytes || stream.headers.count >= configuration.maxHeaderCount + 4 {
            stream.headersTooLarge = true
            stream.headers.removeAll()
        }
        if !stream.headersTooLarge {
            let nameText = String(decoding: name, as: UTF8.self)
            let valueText = String(decoding: value, as: UTF8.self)
            switch nameText {
            case ":method": stream.method = valueText
            case ":path": stream.path = valueText
            default: stream.headers.append((nameText, valueText))
            }
        }
        streams[streamID] = stream
        return 0
    }

    private func dataReceived(_ streamID: Int32, _ data: UnsafeBufferPointer<UInt8>) -> Int32 {
        guard var stream = streams[streamID], !stream.responded else { return 0 }
        let limit = connection.loop.router.bodyLimit(method: stream.method, path: pathOnly(stream.path))
        if stream.body.count + data.count > limit {
            stream.bodyTooLarge = true
        } else {
            stream.body.append(contentsOf: data)
        }
        streams[streamID] = stream
        return 0
    }

    private func frameReceived(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 {
        let type = frame.pointee.hd.type
        let streamID = frame.pointee.hd.stream_id
        let endStream = frame.pointee.hd.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
        guard type == UInt8(NGHTTP2_HEADERS.rawValue) || type == UInt8(NGHTTP2_DATA.rawValue),
              let stream = streams[streamID], stream.cancel == nil, !stream.responded else { return 0 }
        if type == UInt8(NGHTTP2_HEADERS.rawValue) && stream.headersTooLarge {
            respond(streamID, HTTPResponse(status: 431, headers: plainTextHeaders,
                                           text: "431 Request Header Fields Too Large"))
            return 0
        }
        if type == UInt8(NGHTTP2_HEADERS.rawValue) && !endStream,
           let refusal = connection.loop.router.authenticationFailure(headers: stream.headers) {
            respond(streamID, refusal)  // before any of the body is taken in
            return 0
        }
        if stream.bodyTooLarge {
            respond(streamID, HTTPResponse(
                status: 413, headers: plainTextHeaders,
                text: "413 Request Entity Too Large: this route takes a body of at most "
                    + "\(connection.configuration.maxBodyBytes) bytes, other routes none"))
            return 0
        }
        guard endStream else { return 0 }
        let (path, query) = splitPathAndQuery(stream.path)
        guard let decodedPath = percentDecode(path, plusIsSpace: false) else {
            respond(streamID, HTTPResponse(status: 400, headers: plainTextHeaders, text: "400 Bad Request"))
            return 0
        }
        run(streamID: streamID, request: HTTPRequest(method: stream.method, path: decodedPath, rawQuery: query,
                                                     headers: stream.headers, body: stream.body))
        return 0
    }

    private func streamClosed(_ streamID: Int32) -> Int32 {
        if let stream = streams.removeValue(forKey: streamID) {
            stream.bodyStream?.detach()
            if stream.handlerRunning {
                stream.cancel?.cancel()
                runningHandlers -= 1
            }
        }
        return 0
    }

    // MARK: requests and responses

    private func run(streamID: Int32, request: HTTPRequest) {
        guard runningHandlers < connection.configuration.maxConcurrentStreams else {
            nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID,
                                      NGHTTP2_REFUSED_STREAM.rawValue)
            return
        }
        let cancel = CancellationCheck()
        streams[streamID]?.cancel = cancel
        streams[streamID]?.handlerRunning = true
        runningHandlers += 1
        if let response = connection.dispatch(request, streamID: streamID, cancel: cancel) {
            complete(streamID: streamID, response: response)
        }
    }

    /// The handler for `streamID` finished; a reset stream's answer is dropped.
    func complete(streamID: Int32, response: HTTPResponse) {
        guard let stream = streams[streamID], stream.handlerRunning else {
            response.bodyStream?.detach()
            return
        }
        streams[streamID]?.handlerRunning = false
        runningHandlers -= 1
        respond(streamID, response, isHead: stream.method == "HEAD")
    }

    private func respond(_ streamID: Int32, _ response: HTTPResponse, isHead: Bool = false) {
        guard let session else { return }
        lastActivity = monotonicNanoseconds()
        var fields: [(String, String)] = [(":status", String(response.status))]
        for field in response.headers { fields.append((field.name.asciiLowercased, field.value)) }
        fields.append(("date", connection.loop.currentHTTPDate()))
        var pipe = response.bodyStream
        if isHead || streams[streamID] == nil { pipe?.detach(); pipe = nil }
        if pipe == nil { fields.append(("content-length", String(response.body.count))) }
        let sendsBody = pipe != nil || (!isHead && !response.body.isEmpty)
        lastResponseProgress = monotonicNanoseconds()
        streams[streamID]?.responded = true
        streams[streamID]?.response = sendsBody && pipe == nil ? response.body : []
        streams[streamID]?.responseOffset = 0
        streams[streamID]?.bodyStream = pipe
        connection.loop.responseBytesSinceTrim += response.body.count

        // nghttp2 copies names and values during submit, so they only need to live for the call.
        var storage: [UInt8] = []
        var offsets: [(Int, Int, Int, Int)] = []
        for (name, value) in fields {
            let nameStart = storage.count
            storage += Array(name.utf8)
            let valueStart = storage.count
            storage += Array(value.utf8)
            offsets.append((nameStart, name.utf8.count, valueStart, value.utf8.count))
        }
        storage.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            var nvs = offsets.map { nameStart, nameLength, valueStart, valueLength in
                nghttp2_nv(name: base + nameStart, value: base + valueStart, namelen: nameLength,
                           valuelen: valueLength, flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
            }
            if sendsBody {
                var provider = nghttp2_data_provider()
                provider.read_callback = { _, streamID, buffer, length, flags, _, user in
                    HTTP2Session.from(user).readBody(streamID, into: buffer!, capacity: length, flags: flags!)
                }
                nghttp2_submit_response(session, streamID, &nvs, nvs.count, &provider)
            } else {
                nghttp2_submit_response(session, streamID, &nvs, nvs.count, nil)
            }
        }
    }

    private func readBody(_ streamID: Int32, into buffer: UnsafeMutablePointer<UInt8>, capacity: Int,
                          flags: UnsafeMutablePointer<UInt32>) -> Int {
        guard let stream = streams[streamID] else {
            return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue)
        }
        if let pipe = stream.bodyStream {
            switch pipe.read(into: UnsafeMutableRawBufferPointer(start: buffer, count: capacity)) {
            case .bytes(let count):
                lastActivity = monotonicNanoseconds()
                lastResponseProgress = lastActivity
                connection.loop.responseBytesSinceTrim += count
                return count
            case .wouldBlock:
                return Int(NGHTTP2_ERR_DEFERRED.rawValue)  // resumed by resumeBody when bytes arrive
            case .finished:
                streams[streamID]?.bodyStream = nil
                flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
                return 0
            case .failed:
                streams[streamID]?.bodyStream = nil
                return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue)  // RST_STREAM INTERNAL_ERROR
            }
        }
        let count = min(capacity, stream.response.count - stream.responseOffset)
        stream.response.withUnsafeBufferPointer {
            buffer.update(from: $0.baseAddress! + stream.responseOffset, count: count)
        }
        let newOffset = stream.responseOffset + count
        streams[streamID]?.responseOffset = newOffset
        if newOffset == stream.response.count {
            flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
            streams[streamID]?.response = []
        }
        lastActivity = monotonicNanoseconds()
        lastResponseProgress = lastActivity
        return count
    }
}

private func splitPathAndQuery(_ target: String) -> (String, String) {
    guard let mark = target.firstIndex(of: "?") else { return (target, "") }
    return (String(target[..<mark]), String(target[target.index(after: mark)...]))
}

private func pathOnly(_ target: String) -> String {
    percentDecode(splitPathAndQuery(target).0, plusIsSpace: false) ?? ""
}
