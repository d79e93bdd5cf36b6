// The socket loop: one OS thread, one epoll set (level-triggered) holding the listeners, every
// connection and an eventfd through which worker threads hand back finished responses. It never
// runs user code or goroutines; the only things it waits on are sockets, and at most 100 ms at a
// time so timeouts are checked even when nothing happens.
import Foundation
import CDebugServerSupport
import Glibc
import Logging
import Synchronization

/// A finished response on its way from a worker thread to the loop.
struct Completion: Sendable {
    var connectionID: UInt64
    /// HTTP/2 stream, or 0 for HTTP/1.1.
    var streamID: Int32
    /// The answer, or nil when a streamed body it already delivered has more bytes to send.
    var response: HTTPResponse?
}

func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

extension Duration {
    var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        // Clamped to ~136 years so a huge configured timeout cannot overflow.
        return UInt64(min(max(0, seconds), 1 << 32)) * 1_000_000_000 + UInt64(max(0, attoseconds) / 1_000_000_000)
    }
}

final class ServerLoop: @unchecked Sendable {
    let configuration: DebugServerConfiguration
    let router: PprofRouter
    let pool: HandlerPool
    let logger: Logger
    let parser: HTTP1RequestParser

    private let epollFD: Int32
    private let wakeFD: Int32
    private var listeners: [Int32: Listener] = [:]
    // Loop-thread state.
    private var connections: [Int32: Connection] = [:]
    private var connectionsByID: [UInt64: Connection] = [:]
    private var nextConnectionID: UInt64 = 1
    private var drainDeadline: UInt64? = nil

    // Shared with other threads.
    /// All streamed response bytes buffered at once (see ResponseBodyPipe).
    let responseBudget = ResponseMemoryBudget(limit: 32 << 20)
    private let mailbox = Mutex<[Completion]>([])
    private let stopRequested = Atomic<Bool>(false)
    /// Set (under the mailbox lock) once the loop has stopped reading the mailbox.
    private nonisolated(unsafe) var loopEnded = false
    private let exited = NSCondition()
    private var hasExited = false  // guarded by `exited`

    init(configuration: DebugServerConfiguration, listeners: [Listener], provider: any PprofProvider, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        self.router = PprofRouter(provider: provider, bearerToken: configuration.bearerToken,
                                  maxProfileSeconds: configuration.maxProfileSeconds,
                                  maxBodyBytes: configuration.maxBodyBytes)
        self.parser = HTTP1RequestParser(maxHeaderBytes: configuration.maxHeaderBytes,
                                         maxHeaderCount: configuration.maxHeaderCount)
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        wakeFD = eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC))
        guard epollFD >= 0, wakeFD >= 0 else {
            throw DebugServerError.cannotListen(address: "epoll", reason: posixError())
        }
        pool = HandlerPool(workerThreads: configuration.workerThreads,
                           maxRunningPerKey: configuration.maxConcurrentRendersPerProfile,
                           maxQueuedPerKey: configuration.maxQueuedPerProfile,
                           budget: responseBudget)
        for listener in listeners {
            self.listeners[listener.fd] = listener
        }
        register(wakeFD, events: EPOLLIN.rawValue)
        for listener in listeners { register(listener.fd, events: EPOLLIN.rawValue) }
        // Each connection holds a descriptor; keep some for the listeners, the workers and the host.
        let descriptorLimit = cdebugserver_raise_descriptor_limit()
        connectionCap = configuration.maxConnections
        if descriptorLimit > 0 && connectionCap > Int(descriptorLimit) / 2 {
            connectionCap = max(16, Int(descriptorLimit) / 2)
            logger.warning("debug server: \(configuration.maxConnections) connections do not fit the descriptor limit of \(descriptorLimit); capping at \(connectionCap)")
        }
    }

    deinit {
        // Closed only here: handlers still running after stop() hold the loop and may post (and so
        // write the eventfd) until they return; closing earlier could hit a reused descriptor.
        close(epollFD)
        close(wakeFD)
        receiveBuffer.deallocate()
    }

    // MARK: called from other threads

    func post(_ completion: Completion) {
        let delivered = mailbox.withLock { pending -> Bool in
            guard !loopEnded else { return false }
            pending.append(completion)
            return true
        }
        // After the loop ended nobody would ever read a streamed body: let its producer stop.
        if !delivered { completion.response?.bodyStream?.detach() }
        wake()
    }

    func requestStop() {
        stopRequested.store(true, ordering: .releasing)
        wake()
    }

    func waitUntilExited() {
        exited.lock()
        while !hasExited { exited.wait() }
        exited.unlock()
    }

    private func wake() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    // MARK: the loop thread

    func run() {
        var events = [epoll_event](repeating: epoll_event(), count: 64)
        var lastTimerCheck = monotonicNanoseconds()
        while true {
            let ready = epoll_wait(epollFD, &events, Int32(events.count), 100)
            if ready < 0 && errno != EINTR { logger.error("epoll_wait failed: \(posixError())"); break }
            for index in 0..<max(0, Int(ready)) {
                let fd = events[index].data.fd
                let flags = events[index].events
                if fd == wakeFD {
                    var counter: UInt64 = 0
                    _ = read(wakeFD, &counter, 8)
                    deliverCompletions()
                } else if listeners[fd] != nil {
                    acceptConnections(on: fd)
                } else if let connection = connections[fd] {
                    connection.handleEvents(flags)
                }
            }
            let now = monotonicNanoseconds()
            if now &- lastTimerCheck >= 50_000_000 {
                lastTimerCheck = now
                releaseFreedResponseMemory(now: now)
                let crowded = isCrowded
                for connection in Array(connections.values) { connection.checkTimeouts(now: now, crowded: crowded) }
                if let until = listenersPausedUntil, now >= until, drainDeadline == nil {
                    listenersPausedUntil = nil
                    for fd in listeners.keys { register(fd, events: EPOLLIN.rawValue) }
                }
            }
            if stopRequested.load(ordering: .acquiring) {
                if drainDeadline == nil { beginDrain(now: now) }
                if connections.isEmpty || now >= drainDeadline! {
                    for connection in Array(connections.values) { connection.abort() }
                    break
                }
            }
        }
        pool.stop()
        let undelivered = mailbox.withLock { pending -> [Completion] in
            loopEnded = true
            defer { pending.removeAll() }
            return pending
        }
        for completion in undelivered { completion.response?.bodyStream?.detach() }
        exited.lock()
        hasExited = true
        exited.broadcast()
        exited.unlock()
    }

    private func beginDrain(now: UInt64) {
        drainDeadline = now + configuration.shutdownGracePeriod.nanoseconds
        for (fd, listener) in listeners {
            epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, nil)
            close(fd)
            if let path = listener.unixPath { unlink(path) }
        }
        listeners.removeAll()
        for connection in Array(connections.values) { connection.beginShutdown() }
        router.operators.schedTraceStreams.endAll()
    }

    func deliverCompletions() {
        let completions = mailbox.withLock { pending -> [Completion] in
            let taken = pending
            pending.removeAll(keepingCapacity: true)
            return taken
        }
        for completion in completions {
            // The connection may be gone (client left); its fd may even be reused, hence the id check.
            guard let connection = connectionsByID[completion.connectionID] else {
                completion.response?.bodyStream?.detach()
                continue
            }
            if let response = completion.response {
                connection.complete(streamID: completion.streamID, response: response)
            } else {
                connection.bodyReady(streamID: completion.streamID)
            }
        }
    }

    private func acceptConnections(on listenerFD: Int32) {
        // A bounded batch per wakeup: the level-triggered listener comes back, and in between the
        // connections already accepted get their heads read, before newcomers could evict them.
        for _ in 0..<64 {
            var source: UInt64 = 0
            let fd = cdebugserver_accept_nonblocking(listenerFD, &source)
            if fd < 0 {
                if errno == EINTR { continue }
                let code = errno
                if code == EMFILE || code == ENFILE || code == ENOBUFS || code == ENOMEM {
                    // Out of descriptors: a level-triggered listener would spin the loop. Stop
                    // watching the listeners for a moment; queued clients wait in the backlog.
                    logger.warning("debug server cannot accept connections: \(posixError(code)); pausing accept for 100 ms")
                    pauseListeners()
                } else if code != EAGAIN && code != EWOULDBLOCK {
                    logger.debug("accept failed: \(posixError(code))")
                }
                return
            }
            guard makeRoom(for: source) else {
                let refusal = Array((
                    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
                    + "Connection: close\r\n\r\ntoo many open connections to the debug server\n").utf8)
                _ = refusal.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                shutdown(fd, Int32(SHUT_WR))
                close(fd)
                logger.debug("refused a connection: \(connections.count) open, every one busy with a request")
                continue
            }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let connection = Connection(id: nextConnectionID, fd: fd, source: source, loop: self, now: monotonicNanoseconds())
            nextConnectionID += 1
            connections[fd] = connection
            connectionsByID[connection.id] = connection
            if source != 0 { connectionsPerSource[source, default: 0] += 1 }
            register(fd, events: EPOLLIN.rawValue | EPOLLRDHUP.rawValue)
            // The head often arrives with the connection: take it now, while this one is newest.
            connection.handleEvents(EPOLLIN.rawValue)
        }
    }

    /// At the connection cap (overall, or for this client) a newcomer does not get a 503 while some
    /// connection is only waiting for a request head: the one that has waited longest is closed
    /// instead, so clients that never finish a head (slowloris) cannot lock out those that do.
    /// False when every connection at the cap is busy with a request.
    private func makeRoom(for source: UInt64) -> Bool {
        let sourceFull = source != 0 && connectionsPerSource[source, default: 0] >= configuration.maxConnectionsPerClient
        guard sourceFull || connections.count >= connectionCap else { return true }
        var victim: Connection?
        for connection in connectionsByID.values where connection.isWaitingForRequest {
            if sourceFull && connection.source != source { continue }
            if victim == nil || connection.waitingSince < victim!.waitingSince { victim = connection }
        }
        guard let victim else { return false }
        evictions += 1
        victim.evict()  // silent for HTTP/1.1, as for a header timeout
        return true
    }

    /// The connection cap in force: the configured one, lowered to fit the descriptor limit.
    private(set) var connectionCap: Int = 0
    private var connectionsPerSource: [UInt64: Int] = [:]
    /// Connections closed to make room for new ones (for tests and logs).
    private(set) var evictions = 0

    /// Near the cap, heads must arrive sooner (see Connection.checkTimeouts).
    var isCrowded: Bool { connections.count * 4 >= connectionCap * 3 }

    var isDraining: Bool { drainDeadline != nil }

    /// Response bytes handed to connections since memory was last given back to the system.
    var responseBytesSinceTrim = 0
    private var lastTrim: UInt64 = 0

    /// glibc keeps freed response buffers in its arenas (and raises its mmap threshold after large
    /// frees), so after big answers RSS stayed hundreds of MB above need (issue 11). Once enough was
    /// served and the buffers are gone, hand free memory back, at most every 5 s.
    private func releaseFreedResponseMemory(now: UInt64) {
        guard responseBytesSinceTrim >= 16 << 20, now &- lastTrim >= 5_000_000_000,
              responseBudget.usedBytes == 0 else { return }
        responseBytesSinceTrim = 0
        lastTrim = now
        cdebugserver_release_free_memory()
    }

    private var listenersPausedUntil: UInt64?

    private func pauseListeners() {
        guard listenersPausedUntil == nil else { return }
        listenersPausedUntil = monotonicNanoseconds() + 100_000_000
        for fd in listeners.keys { epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, nil) }
    }

    private var cachedDate: (second: Int, text: String) = (-1, "")

    /// One receive buffer for every connection: reads happen one at a time on the loop thread.
    let receiveBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)

    /// The Date header value, formatted once per second (loop thread only).
    func currentHTTPDate() -> String {
        let second = time(nil)
        if second != cachedDate.second { cachedDate = (second, httpDate()) }
        return cachedDate.text
    }

    // MARK: services for connections

    func register(_ fd: Int32, events: UInt32) {
        var event = epoll_event()
        event.events = events
        event.data.fd = fd
        epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event)
    }

    func modify(_ fd: Int32, events: UInt32) {
        var event = epoll_event()
        event.events = events
        event.data.fd = fd
        epoll_ctl(epollFD, EPOLL_CTL_MOD, fd, &event)
    }

    func forget(_ connection: Connection) {
        epoll_ctl(epollFD, EPOLL_CTL_DEL, connection.fd, nil)
        connections[connection.fd] = nil
        connectionsByID[connection.id] = nil
        if connection.source != 0, let count = connectionsPerSource[connection.source] {
            connectionsPerSource[connection.source] = count > 1 ? count - 1 : nil
        }
    }

    /// Runs a routed request: answers inline or hands it to the pool, whose answer comes back
    /// through the mailbox. Returns the inline answer, or nil when the work was queued.
    func dispatch(_ request: HTTPRequest, connectionID: UInt64, streamID: Int32,
                  cancel: CancellationCheck) -> HTTPResponse? {
        switch router.route(request) {
        case .respond(let response):
            return response
        case .run(let item):
            return pool.submit(item, cancel: cancel) { [self] response in
                // A streamed body wakes the loop whenever it has bytes again for a consumer that ran dry.
                response.bodyStream?.attach { [self] in
                    post(Completion(connectionID: connectionID, streamID: streamID, response: nil))
                }
                post(Completion(connectionID: connectionID, streamID: streamID, response: response))
            }
        }
    }
}

/// `Sun, 22 Nov 2026 00:05:28 GMT`, as Go's Date header.
func httpDate() -> String {
    var now = time(nil)
    var parts = tm()
    gmtime_r(&now, &parts)
    let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
    return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
        + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
}
