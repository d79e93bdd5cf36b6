// The debug HTTP server's public face: start, stop, where it listens. See DESIGN.md rule 1: it runs
// on its own OS thread with its own epoll loop and worker threads, never on the goroutine scheduler,
// so it answers while every P is busy or the program is deadlocked.
import CDebugServerSupport
import Foundation
import Goroutines
import Logging

/// Serves `/debug/pprof/*` as Go 1.27's net/http/pprof does, over HTTP/1.1 and h2c, on TCP and/or
/// a Unix socket. Beyond Go's routes (see `OperatorRoutes.swift`): `/metrics` (Prometheus text or
/// OpenMetrics, client_golang's names), `/debug/pprof/delta_heap|delta_block|delta_mutex` (Grafana's
/// godeltaprof: changes since the previous call, one consumer per endpoint), `/debug/flamegraph?profile=…`
/// (a self-contained flame-graph page) and `/debug/schedtrace?interval=MS[&detail=1]` (schedtrace lines
/// streamed, chunked on HTTP/1.1 or as DATA frames on HTTP/2, until the client leaves; at most 4 at once).
///
/// Where it deliberately differs from Go 1.27 (see `PprofRouter.swift` for the full list):
/// `POST /debug/pprof/symbol` works (Go ≥1.23 answers 405 and breaks `go tool pprof`);
/// `profile` and `trace` answer 404 `Unknown profile` until the provider offers them;
/// `seconds` above `maxProfileSeconds` is a 400; a request with both Content-Length and
/// Transfer-Encoding is a 400. Expensive work is bounded: per profile at most
/// `maxConcurrentRendersPerProfile` renders run and `maxQueuedPerProfile` wait (more get 429), one
/// `seconds=N` delta per profile (429), one CPU profile (Go's 500), `maxConnections` connections and
/// `maxConnectionsPerClient` per client (the one waiting longest for a request is closed for a
/// newcomer; 503 only when all are busy), `maxConcurrentStreams` HTTP/2 streams (REFUSED_STREAM per
/// excess stream). Large bodies stream through a bounded buffer per connection (DESIGN.md rule 11).
///
/// A started server keeps itself alive until `stop()`: the one-liner
/// `try DebugServer(configuration: .init(environment: env), provider: RuntimePprofProvider()).start()`
/// serves for the life of the process. Keep the object if you want to stop it.
///
/// ```swift
/// let server = DebugServer(configuration: try DebugServerConfiguration(environment: ProcessInfo.processInfo.environment),
///                          provider: RuntimePprofProvider())
/// try server.start()
/// // …
/// server.stop()
/// ```
public final class DebugServer: Sendable {
    /// Where and how it listens, and its limits.
    public let configuration: DebugServerConfiguration
    private let provider: any PprofProvider
    private let logger: Logger
    private let state = NSLock()
    private nonisolated(unsafe) var loop: ServerLoop?
    private nonisolated(unsafe) var boundPort: Int?
    /// Set while running: a started server owns itself, so dropping the last reference does not stop it.
    private nonisolated(unsafe) var selfWhileRunning: DebugServer?

    /// A stopped server; `start()` makes it listen.
    /// - Parameters:
    ///   - provider: where the profiles come from (`RuntimePprofProvider()` for this process's).
    ///   - logger: for start/stop and warnings (e.g. a non-loopback address).
    public init(configuration: DebugServerConfiguration = DebugServerConfiguration(),
                provider: any PprofProvider,
                logger: Logger = Logger(label: "goroutines.debug-server")) {
        self.configuration = configuration
        self.provider = provider
        self.logger = logger
    }

    /// The TCP port actually bound (the configured one, or the one the kernel picked for port 0);
    /// nil before `start()` or without TCP.
    public var boundTCPPort: Int? {
        state.lock()
        defer { state.unlock() }
        return boundPort
    }

    /// Whether it listens (between `start()` and `stop()`).
    public var isRunning: Bool {
        state.lock()
        defer { state.unlock() }
        return loop != nil
    }

    /// Binds the listeners and starts the loop thread. Throws when an address cannot be bound or the
    /// configuration is invalid; nothing is left open then. With neither a TCP address nor a Unix
    /// socket (`GOROUTINES_DEBUG_ADDR=off` and no `GOROUTINES_DEBUG_UNIX`) it serves nothing and
    /// returns quietly (`isRunning` stays false).
    public func start() throws {
        state.lock()
        defer { state.unlock() }
        guard loop == nil else { throw DebugServerError.alreadyStarted }
        if configuration.address == nil && configuration.unixSocketPath == nil {
            logger.info("debug server disabled: no TCP address (GOROUTINES_DEBUG_ADDR=off) and no Unix socket")
            return
        }
        let configuration = try self.configuration.validated()
        var listeners: [Listener] = []
        do {
            if let address = configuration.address {
                listeners.append(try openTCPListener(address: address, logger: logger))
            }
            if let path = configuration.unixSocketPath {
                listeners.append(try openUnixListener(path: path))
            }
        } catch {
            for listener in listeners {
                close(listener.fd)
                if let path = listener.unixPath { unlink(path) }
            }
            throw error
        }
        let loop = try ServerLoop(configuration: configuration, listeners: listeners, provider: provider, logger: logger)
        let thread = Thread {
            cdebugserver_name_current_thread("pprof-http")
            loop.run()
        }
        thread.start()
        self.loop = loop
        selfWhileRunning = self
        DebugServerPresence.serverStarted()   // a deadlock now keeps the process up (DeadlockBehavior)
        boundPort = listeners.first(where: { $0.port != nil })?.port
        logger.info("debug server listening",
                    metadata: ["addresses": "\(listeners.map(\.description).joined(separator: ", "))"])
    }

    /// Graceful stop: stops accepting, lets in-flight requests finish for up to
    /// `shutdownGracePeriod`, then closes every connection (cancelling what still runs). Returns when
    /// the loop thread has exited. Calling it when stopped does nothing.
    public func stop() {
        state.lock()
        let loop = self.loop
        self.loop = nil
        boundPort = nil
        let keptAlive = selfWhileRunning
        selfWhileRunning = nil
        state.unlock()
        defer { withExtendedLifetime(keptAlive) {} }
        guard let loop else { return }
        DebugServerPresence.serverStopped()
        loop.requestStop()
        loop.waitUntilExited()
        logger.info("debug server stopped")
    }

    deinit {
        loop?.requestStop()
    }
}
