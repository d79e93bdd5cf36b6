// A plain blocking TCP client for sending exact bytes (malformed requests, pipelining, slowloris) and
// reading exactly what the server sends back, including whether it closes.
import Foundation
import Glibc
import XCTest

final class RawConnection {
    let fd: Int32

    init(port: Int, receiveTimeout: Double = 5) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            close(fd)
            throw NSError(domain: "RawConnection", code: Int(errno),
                          userInfo: [NSLocalizedDescriptionKey: "connect failed: errno \(errno)"])
        }
        setReceiveTimeout(receiveTimeout)
    }

    func setReceiveTimeout(_ seconds: Double) {
        var timeout = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func send(_ text: String) { send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if sent <= 0 { return }
            offset += sent
        }
    }

    /// Reads until the peer closes (or the receive timeout). `closed` tells which.
    func readToEnd() -> (bytes: [UInt8], closed: Bool) {
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 { result += buffer[0..<count]; continue }
            if count == 0 { return (result, true) }
            if errno == EINTR { continue }
            return (result, errno == ECONNRESET)
        }
    }

    /// Reads one HTTP/1.1 response with a Content-Length body (for keep-alive exchanges).
    func readResponse() -> ParsedResponse? {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            if let parsed = ParsedResponse(data), data.count >= parsed.totalLength {
                pending = Array(data[parsed.totalLength...])
                return parsed
            }
            if !pending.isEmpty { data += pending; pending = []; continue }
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { return nil }
            data += buffer[0..<count]
        }
    }

    private var pending: [UInt8] = []
}

/// Status, headers and body of one HTTP/1.1 response.
struct ParsedResponse {
    var statusLine: String
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]
    var totalLength: Int

    init?(_ data: [UInt8]) {
        guard let headEnd = data.firstRange(of: [13, 10, 13, 10]) else { return nil }
        let headText = String(decoding: data[..<headEnd.lowerBound], as: UTF8.self)
        var lines = headText.components(separatedBy: "\r\n")
        statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ")
        status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
        headers = lines.compactMap { line in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces))
        }
        let bodyStart = headEnd.upperBound
        if let lengthText = headers.first(where: { $0.0.lowercased() == "content-length" })?.1, let length = Int(lengthText) {
            totalLength = bodyStart + length
            body = data.count >= totalLength ? Array(data[bodyStart..<totalLength]) : []
        } else if headers.contains(where: { $0.0.lowercased() == "transfer-encoding" && $0.1.lowercased() == "chunked" }) {
            // Streamed answers (larger than the server's pipe) are chunked; decoded when complete.
            guard let (decoded, end) = Self.decodeChunked(data, from: bodyStart) else {
                totalLength = Int.max
                body = []
                return
            }
            body = decoded
            totalLength = end
        } else {
            totalLength = data.count
            body = Array(data[bodyStart...])
        }
    }

    /// The body of a complete chunked message and where it ends; nil while incomplete.
    static func decodeChunked(_ data: [UInt8], from start: Int) -> ([UInt8], Int)? {
        var body: [UInt8] = []
        var index = start
        while true {
            guard let lineEnd = data[index...].firstRange(of: [13, 10]) else { return nil }
            let sizeText = String(decoding: data[index..<lineEnd.lowerBound], as: UTF8.self)
            guard let size = Int(sizeText.split(separator: ";").first ?? "", radix: 16) else { return nil }
            index = lineEnd.upperBound
            if size == 0 {
                guard data.count >= index + 2 else { return nil }
                return (body, index + 2)
            }
            guard data.count >= index + size + 2 else { return nil }
            body += data[index..<(index + size)]
            index += size + 2
        }
    }

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    var text: String { String(decoding: body, as: UTF8.self) }
}
