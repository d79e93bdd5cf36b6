// Starting a real server in-process on an ephemeral port, and running real clients (curl, nghttp)
// against it.
import DebugServer
import Foundation
import XCTest

class ServerTestCase: XCTestCase {
    var provider: FakePprofProvider!
    var server: DebugServer!
    var port: Int { server.boundTCPPort! }

    func startServer(provider: FakePprofProvider = FakePprofProvider(),
                     _ adjust: (inout DebugServerConfiguration) -> Void = { _ in }) throws {
        self.provider = provider
        var configuration = DebugServerConfiguration(address: "127.0.0.1:0")
        configuration.readHeaderTimeout = .seconds(2)
        configuration.shutdownGracePeriod = .seconds(3)
        adjust(&configuration)
        server = DebugServer(configuration: configuration, provider: provider)
        try server.start()
    }

    override func tearDown() {
        provider?.holdSlow.store(false, ordering: .releasing)
        server?.stop()
        server = nil
        super.tearDown()
    }

    /// The header block of every error the server refuses a request with (the status line comes before).
    let errorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

    /// Sends `request` and expects exactly `expected` back, followed by the server closing the connection.
    func assertRefusal(_ request: String, _ expected: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let connection = try RawConnection(port: port)
        connection.send(request)
        let (bytes, closed) = connection.readToEnd()
        XCTAssertEqual(String(decoding: bytes, as: UTF8.self), expected, file: file, line: line)
        XCTAssertTrue(closed, "the server kept the connection open after an error", file: file, line: line)
    }

    /// One request on a fresh connection with `Connection: close`.
    func get(_ target: String, method: String = "GET", headers: [String] = [], body: String? = nil) throws -> ParsedResponse {
        let connection = try RawConnection(port: port)
        var request = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        for header in headers { request += header + "\r\n" }
        if let body { request += "Content-Length: \(body.utf8.count)\r\n" }
        request += "\r\n" + (body ?? "")
        connection.send(request)
        let (bytes, _) = connection.readToEnd()
        return try XCTUnwrap(ParsedResponse(bytes), "no HTTP response to \(method) \(target): \(String(decoding: bytes, as: UTF8.self))")
    }

    struct ToolResult {
        var status: Int32
        var stdout: [UInt8]
        var stderr: String
    }

    /// Runs a client program (curl, nghttp) and collects its output.
    func runTool(_ path: String, _ arguments: [String]) throws -> ToolResult {
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw XCTSkip("\(path) is not installed")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let outData = output.fileHandleForReading.readDataToEndOfFile()
        let errData = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return ToolResult(status: process.terminationStatus, stdout: Array(outData),
                          stderr: String(decoding: errData, as: UTF8.self))
    }

    func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }
}
