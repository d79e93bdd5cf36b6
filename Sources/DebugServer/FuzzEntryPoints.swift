// Entry points for the libFuzzer targets in Tests/Fuzz (scripts/fuzz.sh): each feeds arbitrary bytes
// from the network side to one parser, with the server's own limits. They live in the module so the
// parsers stay internal; a fuzz run fails on any trap (overflow, bounds, force-unwrap) or sanitizer
// report, which is what DESIGN.md rule 8 forbids.
import CDebugServerSupport
import Glibc
import Logging

package enum DebugServerFuzzing {
    /// The targets by name, as scripts/fuzz.sh and the corpus directories call them.
    package static let targets: [String: @Sendable (UnsafeRawBufferPointer) -> Void] = [
        "http1": http1Request,
        "chunked": chunkedBody,
        "connection": connectionBytes,
        "query": queryString,
    ]

    /// A request head, then (if it announces one) its chunked body; the input is also fed in two
    /// pieces split where its first byte says, to cover the incremental scan.
    static func http1Request(_ input: UnsafeRawBufferPointer) {
        let bytes = Array(input)
        let parser = HTTP1RequestParser(maxHeaderBytes: 4096, maxHeaderCount: 100)
        let split = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
        var scanFrom = 0
        _ = parser.parse(bytes[0..<split], scanFrom: &scanFrom)
        guard case .complete(let head, let consumed) = parser.parse(bytes[...], scanFrom: &scanFrom) else { return }
        _ = head.keepAlive
        _ = head.tokens("Upgrade")
        if head.chunked {
            var decoder = ChunkedBodyDecoder(limit: 1 << 20)
            var offset = consumed
            _ = decoder.feed(bytes, offset: &offset)
        }
    }

    /// A chunked body fed in pieces whose sizes come from the input's first bytes.
    static func chunkedBody(_ input: UnsafeRawBufferPointer) {
        let bytes = Array(input)
        guard bytes.count > 2 else { return }
        let step = max(1, Int(bytes[0]))
        let limit = Int(bytes[1]) << 8
        let body = Array(bytes[2...])
        var decoder = ChunkedBodyDecoder(limit: limit)
        var available: [UInt8] = []
        var offset = 0
        var fed = 0
        while fed < body.count {
            let next = min(body.count, fed + step)
            available += body[fed..<next]
            fed = next
            switch decoder.feed(available, offset: &offset) {
            case .needMore: continue
            case .done, .malformed, .tooLarge: return
            }
        }
    }

    /// Everything a client can send on a connection (HTTP/1.1, pipelining, `Upgrade: h2c`, the HTTP/2
    /// preface and frames through nghttp2), through a real Connection on a socket pair.
    static func connectionBytes(_ input: UnsafeRawBufferPointer) {
        var pair: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0 else { return }
        let server = pair[0], client = pair[1]
        _ = fcntl(server, F_SETFL, fcntl(server, F_GETFL) | O_NONBLOCK)
        _ = fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK)
        _ = send(client, input.baseAddress, input.count, Int32(MSG_NOSIGNAL))
        if input.first.map({ $0 & 1 == 1 }) ?? false { shutdown(client, Int32(SHUT_WR)) }
        let loop = fuzzLoop
        let connection = Connection(id: 0, fd: server, source: 0, loop: loop, now: monotonicNanoseconds())
        loop.register(server, events: EPOLLIN.rawValue)
        connection.handleEvents(EPOLLIN.rawValue)
        connection.checkTimeouts(now: monotonicNanoseconds() + 1_000_000_000_000, crowded: true)
        loop.deliverCompletions()  // answers already made for this (unregistered) connection are dropped
        if !connection.isClosed { connection.abort() }  // also closes `server`
        close(client)
    }

    /// A query string through Go's form decoding, the integer parsers and the routes that read it.
    static func queryString(_ input: UnsafeRawBufferPointer) {
        let text = String(decoding: input, as: UTF8.self)
        let query = QueryParameters(rawQuery: text)
        _ = goAtoiIgnoringErrors(query["debug"])
        _ = goParseInt(query["seconds"] ?? text)
        _ = goParseUintBaseZero(text)
        _ = percentDecode(text, plusIsSpace: false)
        _ = decodeBase64URL(text)
        for path in ["/debug/pprof/profile", "/debug/pprof/heap", "/debug/pprof/symbol"] {
            _ = fuzzLoop.router.route(HTTPRequest(method: "GET", path: path, rawQuery: text, headers: [], body: []))
        }
    }

    /// One loop (never run) for every iteration: its epoll set and pool are reused; answers that
    /// the pool posts for fuzzed connections find no connection and are dropped.
    private static let fuzzLoop: ServerLoop = {
        var configuration = DebugServerConfiguration(address: "127.0.0.1:0")
        configuration.maxHeaderBytes = 4096
        configuration.workerThreads = 1
        return try! ServerLoop(configuration: configuration, listeners: [], provider: FuzzProvider(),
                               logger: Logger(label: "fuzz"))
    }()
}

/// Small fixed bodies: the fuzz targets test the protocol layers, not the profiles.
private struct FuzzProvider: PprofProvider {
    var profiles: [PprofProfileInfo] {
        [PprofProfileInfo(name: "heap", count: 1, description: "heap", supportsDelta: true)]
    }

    func render(_ name: String, debug: Int, gcFirst: Bool, cancel: CancellationCheck) throws -> [UInt8] {
        Array("fuzz \(name) \(debug)\n".utf8)
    }

    func delta(_ name: String, seconds: Int, cancel: CancellationCheck) throws -> [UInt8] {
        throw PprofError.deltaFailed
    }

    func symbolize(_ pcs: [UInt]) -> [(pc: UInt, name: String)] { [] }
}
