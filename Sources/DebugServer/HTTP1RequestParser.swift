// Parsing an HTTP/1.x request head with the limits and the answers of Go's net/http server:
// 431 for too many bytes or fields, 505 for a version other than 1.x, 501 for a transfer coding
// other than chunked, 400 for the rest (with Go's `400 Bad Request: <text>` only where Go gives a
// text). Content-Length together with Transfer-Encoding is refused with 400 (Go drops the length;
// refusing is the safer answer to request smuggling).

struct HTTP1RequestHead {
    var method: String
    /// Percent-decoded path.
    var path: String
    var rawQuery: String
    var minorVersion: Int
    var headers: [(name: String, value: String)]
    var contentLength: Int?
    var chunked: Bool

    func header(_ name: String) -> String? {
        headers.first { $0.name.equalsIgnoringASCIICase(name) }?.value
    }

    /// Comma-separated tokens of every field named `name`, lowercased.
    func tokens(_ name: String) -> [String] {
        headers.filter { $0.name.equalsIgnoringASCIICase(name) }
            .flatMap { $0.value.split(separator: ",") }
            .map { String($0).trimmingSpaces.asciiLowercased }
    }

    var keepAlive: Bool {
        let connection = tokens("Connection")
        if minorVersion >= 1 { return !connection.contains("close") }
        return connection.contains("keep-alive")
    }
}

/// A request the server refuses before routing, with the exact bytes Go's server writes (it closes
/// the connection afterwards and sends no Content-Length).
enum HTTP1RequestError: Error, Equatable {
    case headerTooLarge
    case unsupportedTransferEncoding
    case versionNotSupported
    case badRequest(String?)

    var responseBytes: [UInt8] {
        let errorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
        switch self {
        case .headerTooLarge:
            let publicError = "431 Request Header Fields Too Large"
            return Array(("HTTP/1.1 " + publicError + errorHeaders + publicError).utf8)
        case .unsupportedTransferEncoding:
            return Array(("HTTP/1.1 501 Not Implemented" + errorHeaders + "Unsupported transfer encoding").utf8)
        case .versionNotSupported:
            let text = "505 HTTP Version Not Supported: unsupported protocol version"
            return Array(("HTTP/1.1 " + text + errorHeaders + text).utf8)
        case .badRequest(let detail):
            let text = detail.map { "400 Bad Request: " + $0 } ?? "400 Bad Request"
            return Array(("HTTP/1.1 " + text + errorHeaders + text).utf8)
        }
    }
}

enum HTTP1HeadParseResult {
    case incomplete
    case complete(HTTP1RequestHead, consumed: Int)
    case failed(HTTP1RequestError)
}

struct HTTP1RequestParser {
    let maxHeaderBytes: Int
    let maxHeaderCount: Int

    /// Looks for a complete head at the start of `bytes`. `scanFrom` remembers how far a previous
    /// call already searched, so a head arriving a byte at a time costs linear, not quadratic, time.
    func parse(_ bytes: ArraySlice<UInt8>, scanFrom: inout Int) -> HTTP1HeadParseResult {
        // Empty lines before a request line are ignored (RFC 9112 §2.2).
        var start = bytes.startIndex
        while start < bytes.endIndex, bytes[start] == 13 || bytes[start] == 10 { start += 1 }
        let limit = min(bytes.endIndex, start + maxHeaderBytes + 4)
        var index = max(start, bytes.startIndex + scanFrom)
        var end: Int? = nil
        while index < limit {
            if bytes[index] == 10 {
                // "\n\n" or "\n\r\n" ends the head.
                if index + 1 < bytes.endIndex, bytes[index + 1] == 10 { end = index + 2; break }
                if index + 2 < bytes.endIndex, bytes[index + 1] == 13, bytes[index + 2] == 10 { end = index + 3; break }
            }
            index += 1
        }
        guard let end else {
            scanFrom = max(0, index - bytes.startIndex - 2)
            if bytes.endIndex - start >= maxHeaderBytes + 4 {
                return .failed(.headerTooLarge)
            }
            return .incomplete
        }
        if end - start > maxHeaderBytes + 4 { return .failed(.headerTooLarge) }
        switch parseHead(bytes[start..<end]) {
        case .success(let head): return .complete(head, consumed: end - bytes.startIndex)
        case .failure(let error): return .failed(error)
        }
    }

    private func parseHead(_ head: ArraySlice<UInt8>) -> Result<HTTP1RequestHead, HTTP1RequestError> {
        var lines: [ArraySlice<UInt8>] = []
        for var line in head.split(separator: 10, omittingEmptySubsequences: false) {
            if line.last == 13 { line = line.dropLast() }
            if line.contains(13) { return .failure(.badRequest(nil)) }
            lines.append(line)
        }
        while lines.last?.isEmpty == true { lines.removeLast() }
        guard let requestLine = lines.first else { return .failure(.badRequest(nil)) }

        // Go: method, target, version split at the first two spaces; anything odd is a bad version.
        let parts = requestLine.split(separator: 32, maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else { return .failure(.badRequest(nil)) }
        let method = String(decoding: parts[0], as: UTF8.self)
        let target = String(decoding: parts[1], as: UTF8.self)
        let version = String(decoding: parts[2], as: UTF8.self)
        guard let (major, minor) = parseVersion(version) else { return .failure(.badRequest(nil)) }
        guard !method.isEmpty, method.utf8.allSatisfy(isTokenByte) else { return .failure(.badRequest(nil)) }
        if major != 1 { return .failure(.versionNotSupported) }

        guard let (path, rawQuery) = parseTarget(target, method: method) else { return .failure(.badRequest(nil)) }

        var headers: [(name: String, value: String)] = []
        for line in lines.dropFirst() {
            if line.first == 32 || line.first == 9 { return .failure(.badRequest(nil)) }  // obs-fold
            guard let colon = line.firstIndex(of: 58) else { return .failure(.badRequest(nil)) }
            let name = line[line.startIndex..<colon]
            guard !name.isEmpty, name.allSatisfy(isTokenByte) else { return .failure(.badRequest(nil)) }
            var value = line[(colon + 1)...]
            while let first = value.first, first == 32 || first == 9 { value = value.dropFirst() }
            while let last = value.last, last == 32 || last == 9 { value = value.dropLast() }
            if value.contains(where: { ($0 < 32 && $0 != 9) || $0 == 127 }) {
                return .failure(.badRequest("invalid header value"))
            }
            headers.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
            if headers.count > maxHeaderCount { return .failure(.headerTooLarge) }
        }

        var request = HTTP1RequestHead(method: method, path: path, rawQuery: rawQuery, minorVersion: minor,
                                       headers: headers, contentLength: nil, chunked: false)
        let hosts = headers.filter { $0.name.equalsIgnoringASCIICase("Host") }
        if hosts.count > 1 { return .failure(.badRequest(nil)) }
        if minor >= 1 && hosts.isEmpty { return .failure(.badRequest("missing required Host header")) }
        if let host = hosts.first?.value, !host.utf8.allSatisfy(isHostByte) {
            return .failure(.badRequest("malformed Host header"))
        }

        let encodings = headers.filter { $0.name.equalsIgnoringASCIICase("Transfer-Encoding") }
        if !encodings.isEmpty && minor >= 1 {
            guard encodings.count == 1, encodings[0].value.equalsIgnoringASCIICase("chunked") else {
                return .failure(.unsupportedTransferEncoding)
            }
            request.chunked = true
        }
        let lengths = headers.filter { $0.name.equalsIgnoringASCIICase("Content-Length") }.map(\.value)
        if let first = lengths.first {
            guard lengths.allSatisfy({ $0 == first }), !first.isEmpty, first.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
                  let length = Int(first) else {
                return .failure(.badRequest(nil))
            }
            if request.chunked { return .failure(.badRequest(nil)) }
            request.contentLength = length
        }
        return .success(request)
    }

    private func parseVersion(_ text: String) -> (Int, Int)? {
        if text == "HTTP/1.1" { return (1, 1) }
        if text == "HTTP/1.0" { return (1, 0) }
        let bytes = Array(text.utf8)
        guard bytes.count == 8, text.hasPrefix("HTTP/"), bytes[6] == UInt8(ascii: "."),
              (48...57).contains(bytes[5]), (48...57).contains(bytes[7]) else { return nil }
        return (Int(bytes[5] - 48), Int(bytes[7] - 48))
    }

    /// Origin form (`/path?query`), absolute form (`http://host/path`), or `*` for OPTIONS.
    private func parseTarget(_ target: String, method: String) -> (String, String)? {
        if target == "*" { return method == "OPTIONS" ? ("*", "") : nil }
        var rest = Substring(target)
        if !rest.hasPrefix("/") {
            let lower = rest.lowercased()
            guard lower.hasPrefix("http://") || lower.hasPrefix("https://") else { return nil }
            rest = rest.drop(while: { $0 != ":" }).dropFirst(3)
            rest = rest.drop(while: { $0 != "/" && $0 != "?" })
            if rest.isEmpty || rest.hasPrefix("?") { rest = "/" + rest }
        }
        guard rest.utf8.allSatisfy({ $0 > 32 && $0 != 127 }) else { return nil }
        let pieces = rest.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        guard let path = percentDecode(pieces[0], plusIsSpace: false) else { return nil }
        return (path, pieces.count > 1 ? String(pieces[1]) : "")
    }
}

private func isTokenByte(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
         UInt8(ascii: "0")...UInt8(ascii: "9"):
        return true
    default:
        return "!#$%&'*+-.^_`|~".utf8.contains(byte)
    }
}

private func isHostByte(_ byte: UInt8) -> Bool {
    byte > 32 && byte != 127 && byte != UInt8(ascii: "/") && byte != UInt8(ascii: "\\")
}

/// Incremental decoder of a chunked request body (RFC 9112 §7.1), trailers read and dropped.
struct ChunkedBodyDecoder {
    enum State { case size, data(remaining: Int), dataEnd, trailer, done }
    enum Outcome { case needMore, done, malformed, tooLarge }

    private(set) var state: State = .size
    private(set) var body: [UInt8] = []
    let limit: Int

    init(limit: Int) { self.limit = limit }

    /// Consumes what it can from `input` starting at `offset`, advancing `offset`.
    mutating func feed(_ input: [UInt8], offset: inout Int) -> Outcome {
        while true {
            switch state {
            case .done:
                return .done
            case .size, .trailer, .dataEnd:
                guard let newline = input[offset...].firstIndex(of: 10) else {
                    return input.count - offset > 4096 ? .malformed : .needMore
                }
                var line = input[offset..<newline]
                if line.last == 13 { line = line.dropLast() }
                offset = newline + 1
                switch state {
                case .dataEnd:
                    guard line.isEmpty else { return .malformed }
                    state = .size
                case .trailer:
                    if line.isEmpty { state = .done }
                default:
                    let sizeText = line.prefix { $0 != UInt8(ascii: ";") }
                    guard !sizeText.isEmpty, sizeText.count <= 16,
                          let size = Int(String(decoding: sizeText, as: UTF8.self), radix: 16), size >= 0 else {
                        return .malformed
                    }
                    if size == 0 { state = .trailer; continue }
                    // Compare against what is left of the budget: `body.count + size` can overflow
                    // (a size of 7fffffffffffffff after one byte of body traps the process).
                    if size > limit - body.count { return .tooLarge }
                    state = .data(remaining: size)
                }
            case .data(let remaining):
                let available = min(remaining, input.count - offset)
                if available == 0 { return .needMore }
                body.append(contentsOf: input[offset..<(offset + available)])
                offset += available
                state = remaining == available ? .dataEnd : .data(remaining: remaining - available)
            }
        }
    }
}
