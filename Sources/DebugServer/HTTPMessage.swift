// Request and response values shared by the HTTP/1.1 and HTTP/2 front ends and the router, so both
// protocols run the same handlers and send the same bodies.

/// A request as the router sees it, whichever protocol carried it.
struct HTTPRequest: Sendable {
    var method: String
    /// Decoded path (`/debug/pprof/heap`), without the query.
    var path: String
    /// The raw query after `?` (not decoded: `/symbol` reads it as is, as Go does).
    var rawQuery: String
    /// Header fields in arrival order; names as sent.
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    func header(_ name: String) -> String? {
        headers.first { $0.name.equalsIgnoringASCIICase(name) }?.value
    }

    func headerValues(_ name: String) -> [String] {
        headers.filter { $0.name.equalsIgnoringASCIICase(name) }.map(\.value)
    }
}

/// A response: status, header fields (without Date, Content-Length and Connection, which the
/// protocol layers add), and the whole body or a producer of it.
struct HTTPResponse: Sendable {
    var status: Int
    var headers: [(name: String, value: String)]
    var body: [UInt8]
    /// Set instead of `body` by a handler that writes its body as it goes: run on the handler thread
    /// (see runStreamingResponse); returns an error answer if it failed.
    var producer: (@Sendable (ResponseBodyWriter) -> HTTPResponse?)? = nil
    /// The body still being written, once a streamed answer reaches the connection.
    var bodyStream: ResponseBodyPipe? = nil

    init(status: Int, headers: [(name: String, value: String)] = [],
         producer: @escaping @Sendable (ResponseBodyWriter) -> HTTPResponse?) {
        self.status = status
        self.headers = headers
        self.body = []
        self.producer = producer
    }

    init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    init(status: Int, headers: [(name: String, value: String)] = [], text: String) {
        self.init(status: status, headers: headers, body: Array(text.utf8))
    }
}

/// Status texts as Go's `http.StatusText` spells them.
func reasonPhrase(_ status: Int) -> String {
    switch status {
    case 100: return "Continue"
    case 101: return "Switching Protocols"
    case 200: return "OK"
    case 301: return "Moved Permanently"
    case 307: return "Temporary Redirect"
    case 400: return "Bad Request"
    case 401: return "Unauthorized"
    case 404: return "Not Found"
    case 405: return "Method Not Allowed"
    case 408: return "Request Timeout"
    case 413: return "Request Entity Too Large"
    case 417: return "Expectation Failed"
    case 429: return "Too Many Requests"
    case 431: return "Request Header Fields Too Large"
    case 500: return "Internal Server Error"
    case 501: return "Not Implemented"
    case 503: return "Service Unavailable"
    case 505: return "HTTP Version Not Supported"
    default: return "Status \(status)"
    }
}

extension String {
    func equalsIgnoringASCIICase(_ other: String) -> Bool {
        let a = utf8, b = other.utf8
        guard a.count == b.count else { return false }
        for (x, y) in zip(a, b) where x != y {
            let lx = (x >= 65 && x <= 90) ? x | 0x20 : x
            let ly = (y >= 65 && y <= 90) ? y | 0x20 : y
            if lx != ly { return false }
        }
        return true
    }

    var asciiLowercased: String {
        String(decoding: utf8.map { ($0 >= 65 && $0 <= 90) ? $0 | 0x20 : $0 }, as: UTF8.self)
    }
}
