// Configuration from the environment, defaults that keep the server private, the non-loopback
// warning, start/stop from code and as a swift-service-lifecycle Service.
import DebugServer
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import XCTest

final class ConfigurationTests: ServerTestCase {
    func testDefaultsAreLoopbackAndBounded() {
        let configuration = DebugServerConfiguration()
        XCTAssertEqual(configuration.address, "127.0.0.1:6060")
        XCTAssertNil(configuration.bearerToken)
        XCTAssertLessThanOrEqual(configuration.maxConcurrentStreams, 100)
        XCTAssertGreaterThan(configuration.readHeaderTimeout, .zero)
    }

    func testEnvironmentOverrides() throws {
        let configuration = try DebugServerConfiguration(environment: [
            "GOROUTINES_DEBUG_ADDR": "[::1]:7070",
            "GOROUTINES_DEBUG_UNIX": "/tmp/app.sock",
            "GOROUTINES_DEBUG_TOKEN": "t0k",
            "GOROUTINES_DEBUG_MAX_CONNECTIONS": "8",
            "GOROUTINES_DEBUG_MAX_CONNECTIONS_PER_CLIENT": "4",
            "GOROUTINES_DEBUG_READ_HEADER_TIMEOUT": "3",
            "GOROUTINES_DEBUG_IDLE_TIMEOUT": "30",
            "GOROUTINES_DEBUG_WRITE_TIMEOUT": "20",
            "GOROUTINES_DEBUG_MAX_HEADER_BYTES": "8192",
            "GOROUTINES_DEBUG_MAX_BODY_BYTES": "4096",
            "GOROUTINES_DEBUG_MAX_PROFILE_SECONDS": "60",
            "GOROUTINES_DEBUG_MAX_STREAMS": "10",
        ])
        XCTAssertEqual(configuration.address, "[::1]:7070")
        XCTAssertEqual(configuration.unixSocketPath, "/tmp/app.sock")
        XCTAssertEqual(configuration.bearerToken, "t0k")
        XCTAssertEqual(configuration.maxConnections, 8)
        XCTAssertEqual(configuration.maxConnectionsPerClient, 4)
        XCTAssertEqual(configuration.readHeaderTimeout, .seconds(3))
        XCTAssertEqual(configuration.idleTimeout, .seconds(30))
        XCTAssertEqual(configuration.writeTimeout, .seconds(20))
        XCTAssertEqual(configuration.maxHeaderBytes, 8192)
        XCTAssertEqual(configuration.maxBodyBytes, 4096)
        XCTAssertEqual(configuration.maxProfileSeconds, 60)
        XCTAssertEqual(configuration.maxConcurrentStreams, 10)
        XCTAssertNil(try DebugServerConfiguration(environment: ["GOROUTINES_DEBUG_ADDR": "off"]).address)
    }

    func testBadEnvironmentValuesNameTheVariable() {
        XCTAssertThrowsError(try DebugServerConfiguration(environment: ["GOROUTINES_DEBUG_MAX_STREAMS": "500"])) {
            XCTAssertTrue("\($0)".contains("GOROUTINES_DEBUG_MAX_STREAMS=500"), "\($0)")
        }
        XCTAssertThrowsError(try DebugServerConfiguration(environment: ["GOROUTINES_DEBUG_IDLE_TIMEOUT": "soon"]))
    }

    func testBadAddressesFailToStartWithClearErrors() {
        for (address, fragment) in [("localhost", "needs a port"), ("::1:80", "must be bracketed"),
                                    ("127.0.0.1:99999", "not in 0...65535")] {
            let server = DebugServer(configuration: DebugServerConfiguration(address: address), provider: FakePprofProvider())
            XCTAssertThrowsError(try server.start()) { XCTAssertTrue("\($0)".contains(fragment), "\($0)") }
        }
        // No listener at all (GOROUTINES_DEBUG_ADDR=off) means "do not serve", quietly.
        let nothing = DebugServer(configuration: DebugServerConfiguration(address: nil), provider: FakePprofProvider())
        XCTAssertNoThrow(try nothing.start())
        XCTAssertFalse(nothing.isRunning)
    }

    func testPortInUseIsReported() throws {
        try startServer()
        let second = DebugServer(configuration: DebugServerConfiguration(address: "127.0.0.1:\(port)"),
                                 provider: FakePprofProvider())
        XCTAssertThrowsError(try second.start()) { XCTAssertTrue("\($0)".contains("cannot listen"), "\($0)") }
    }

    func testIPv6LoopbackListener() throws {
        try startServer { $0.address = "[::1]:0" }
        let result = try runTool("/usr/bin/curl", ["-s", "http://[::1]:\(port)/debug/pprof/heap?debug=1"])
        XCTAssertEqual(result.stdout, FakePprofProvider.body("heap", debug: 1))
    }

    func testNonLoopbackAddressLogsAWarningAndLoopbackDoesNot() throws {
        let records = LogRecorder()
        var logger = Logger(label: "test") { _ in records }
        logger.logLevel = .info
        let exposed = DebugServer(configuration: DebugServerConfiguration(address: "0.0.0.0:0"),
                                  provider: FakePprofProvider(), logger: logger)
        try exposed.start()
        exposed.stop()
        XCTAssertTrue(records.messages.contains { $0.level == .warning && $0.text.contains("non-loopback") })

        let quiet = LogRecorder()
        let loopback = DebugServer(configuration: DebugServerConfiguration(address: "127.0.0.1:0"),
                                   provider: FakePprofProvider(), logger: Logger(label: "test") { _ in quiet })
        try loopback.start()
        loopback.stop()
        XCTAssertFalse(quiet.messages.contains { $0.level == .warning })
    }

    func testStartStopRestartAndDoubleStart() throws {
        try startServer()
        XCTAssertTrue(server.isRunning)
        XCTAssertThrowsError(try server.start()) { XCTAssertEqual($0 as? DebugServerError, .alreadyStarted) }
        server.stop()
        XCTAssertFalse(server.isRunning)
        server.stop()  // idempotent
        try server.start()
        XCTAssertEqual(try get("/debug/pprof/heap").status, 200)
    }

    func testRunsAsServiceAndStopsOnGracefulShutdown() async throws {
        let server = DebugServer(configuration: DebugServerConfiguration(address: "127.0.0.1:0"),
                                 provider: FakePprofProvider())
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [.init(service: server)], logger: Logger(label: "test")))
        let runner = Task { try await group.run() }
        for _ in 0..<200 where server.boundTCPPort == nil { try await Task.sleep(for: .milliseconds(10)) }
        let port = try XCTUnwrap(server.boundTCPPort)
        let connection = try RawConnection(port: port)
        connection.send("GET /debug/pprof/heap HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(connection.readResponse()?.status, 200)
        await group.triggerGracefulShutdown()
        try await runner.value
        XCTAssertFalse(server.isRunning)
        XCTAssertThrowsError(try RawConnection(port: port))
    }
}

/// Collects log messages for assertions.
final class LogRecorder: LogHandler, @unchecked Sendable {
    struct Message { var level: Logger.Level; var text: String }
    private let storage = Mutex<[Message]>([])
    var messages: [Message] { storage.withLock { $0 } }
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        storage.withLock { $0.append(Message(level: event.level, text: "\(event.message)")) }
    }
}
