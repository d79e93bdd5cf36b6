import CStackSwitch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Why a wait on a socket ended without readiness.
enum PollWaitFailure: Error {
    case closed, timeout
}

/// A failed system call's errno.
struct SystemErrno: Error {
    let code: Int32
}

/// One socket registered with the netpoller (Go's pollDesc). Edge-triggered events only say "something
/// changed", so each direction keeps a `ready` flag the poller sets and a waiter consumes: a reader that got
/// EAGAIN either finds the flag set (an event came in between; try again) or parks until the poller, a
/// deadline or `close` takes it off the descriptor. One reader and one writer wait at a time (`readOps` and
/// `writeOps` serialize the rest, as Go's fdMutex does).
///
/// Descriptors are pooled and never freed, so an epoll event still in flight after `close` points at valid
/// memory; the sequence number in its token tells a stale event from one for the descriptor's next socket.
final class PollDescriptor: @unchecked Sendable {
    enum Direction { case read, write }

    private let lock = RuntimeLock()
    private(set) var fd: Int32 = -1
    /// Pointer bits plus a 16-bit reuse sequence (user-space pointers fit in 48 bits).
    private(set) var token: UInt64 = 0
    private var sequence: UInt16 = 0

    private var readReady = false, writeReady = false
    /// Parked goroutines (`G.opaque`), 0 for none.
    private var readWaiter: UInt = 0, writeWaiter: UInt = 0
    /// Absolute monotonic ns; 0 = no deadline, -1 = passed.
    private var readDeadline: Int64 = 0, writeDeadline: Int64 = 0
    private var readTimer: RuntimeTimer?, writeTimer: RuntimeTimer?
    /// Bumped whenever a deadline changes, so a timer armed for an older one does nothing.
    private var readTimerSeq: UInt64 = 0, writeTimerSeq: UInt64 = 0
    private var closing = false
    /// Operations between `beginOperation` and `endOperation`: the fd is closed only when the last ends.
    private var operations = 0

    /// Serialize readers with readers and writers with writers, as Go's fdMutex does.
    let readOps = GoMutex(), writeOps = GoMutex()

    private init() {}

    // MARK: pool

    private static let poolLock = RuntimeLock()
    nonisolated(unsafe) private static var free: [PollDescriptor] = []
    /// Every descriptor ever made: they live for the process.
    nonisolated(unsafe) private static var everyDescriptor: [PollDescriptor] = []

    /// Registers `fd` (non-blocking) with the poller. On failure returns errno and leaves `fd` open.
    static func register(fd: Int32) throws(SystemErrno) -> PollDescriptor {
        let poller = Netpoll.shared
        poolLock.lock()
        let pd: PollDescriptor
        if let reused = free.popLast() {
            pd = reused
        } else {
            pd = PollDescriptor()
            everyDescriptor.append(pd)
        }
        poolLock.unlock()
        pd.lock.lock()
        pd.fd = fd
        pd.token = UInt64(UInt(bitPattern: Unmanaged.passUnretained(pd).toOpaque())) | UInt64(pd.sequence) << 48
        pd.readReady = false
        pd.writeReady = false
        pd.readDeadline = 0
        pd.writeDeadline = 0
        pd.closing = false
        pd.operations = 0
        let token = pd.token
        pd.lock.unlock()
        if gr_netpoll_register(poller.epfd, fd, token) != 0 {
            let failure = SystemErrno(code: errno)
            pd.retire()
            throw failure
        }
        return pd
    }

    static func fromToken(_ token: UInt64) -> PollDescriptor? {
        let bits = UInt(truncatingIfNeeded: token & 0x0000_FFFF_FFFF_FFFF)
        guard let raw = UnsafeRawPointer(bitPattern: bits) else { return nil }
        return Unmanaged<PollDescriptor>.fromOpaque(raw).takeUnretainedValue()
    }

    /// Back to the pool with a new sequence number (the fd is already closed or was never ours).
    private func retire() {
        lock.lock()
        fd = -1
        sequence &+= 1
        token = 0
        lock.unlock()
        Self.poolLock.lock()
        Self.free.append(self)
        Self.poolLock.unlock()
    }

    // MARK: operations and close

    /// Starts a system call on the fd; fails once `close` has begun (or the descriptor was reused).
    func beginOperation(_ owner: UInt64) throws(PollWaitFailure) {
        lock.lock()
        defer { lock.unlock() }
        if closing || token != owner { throw .closed }
        operations += 1
    }

    func endOperation() {
        lock.lock()
        operations -= 1
        let last = closing && operations == 0
        lock.unlock()
        if last { destroy() }
    }

    /// Marks the descriptor closing and wakes every goroutine parked on it; the fd itself is closed when
    /// the last operation in progress ends. Returns false if it was already closing.
    func close(_ owner: UInt64) -> Bool {
        lock.lock()
        if closing || token != owner {
            lock.unlock()
            return false
        }
        closing = true
        readTimerSeq &+= 1
        writeTimerSeq &+= 1
        let timers = [readTimer, writeTimer]
        readTimer = nil
        writeTimer = nil
        let woken = [takeWaiter(.read), takeWaiter(.write)]
        let idle = operations == 0
        lock.unlock()
        for t in timers { if let t { Scheduler.shared.cancelTimer(t) } }
        for g in woken where g != 0 { Scheduler.shared.ready(G.fromOpaque(g), next: false) }
        if idle { destroy() }
        return true
    }

    private func destroy() {
        _ = gr_netpoll_unregister(Netpoll.shared.epfd, fd)
        _ = Glibc.close(fd)
        retire()
    }

    // MARK: waiting

    /// Parks the current goroutine until the fd may be ready in `direction`, it is closed, or the deadline
    /// passes. Callers call this after EAGAIN and then retry the system call.
    func wait(_ direction: Direction, _ owner: UInt64) throws(PollWaitFailure) {
        guard let g = M.current?.curG else { fatalRuntimeError("netpoll wait outside a goroutine") }
        lock.lock()
        while true {
            if closing || token != owner {
                lock.unlock()
                throw .closed
            }
            if direction == .read {
                if readDeadline < 0 { lock.unlock(); throw .timeout }
                if readReady { readReady = false; lock.unlock(); return }
                readWaiter = g.opaque
            } else {
                if writeDeadline < 0 { lock.unlock(); throw .timeout }
                if writeReady { writeReady = false; lock.unlock(); return }
                writeWaiter = g.opaque
            }
            Netpoll.shared.waiters.wrappingAdd(1, ordering: .relaxed)
            Scheduler.shared.park(.ioWait, commit: lock)
            lock.lock()
        }
    }

    /// Fails at once if the deadline for `direction` has passed (Go fails even when data is waiting).
    func checkDeadline(_ direction: Direction) throws(PollWaitFailure) {
        lock.lock()
        let passed = (direction == .read ? readDeadline : writeDeadline) < 0
        lock.unlock()
        if passed { throw .timeout }
    }

    /// Caller holds `lock`. Takes the parked goroutine for `direction` off the descriptor.
    private func takeWaiter(_ direction: Direction) -> UInt {
        let g: UInt
        if direction == .read {
            g = readWaiter
            readWaiter = 0
        } else {
            g = writeWaiter
            writeWaiter = 0
        }
        if g != 0 { Netpoll.shared.waiters.wrappingSubtract(1, ordering: .relaxed) }
        return g
    }

    /// The poller's side: records readiness and hands back the goroutines it releases.
    func deliver(ready bits: UInt32, token event: UInt64, _ release: (G) -> Void) {
        lock.lock()
        if token != event || fd < 0 {
            lock.unlock()
            return
        }
        var woken: (UInt, UInt) = (0, 0)
        if bits & GR_NETPOLL_READABLE != 0 {
            readReady = true
            woken.0 = takeWaiter(.read)
        }
        if bits & GR_NETPOLL_WRITABLE != 0 {
            writeReady = true
            woken.1 = takeWaiter(.write)
        }
        lock.unlock()
        if woken.0 != 0 { release(G.fromOpaque(woken.0)) }
        if woken.1 != 0 { release(G.fromOpaque(woken.1)) }
    }

    // MARK: deadlines

    /// Sets the deadline for `direction` to `when` (monotonic ns; nil: none). A deadline already passed
    /// fails the waiting call at once; a later one re-arms the timer, and a waiting call keeps waiting.
    func setDeadline(_ direction: Direction, _ when: Int64?, _ owner: UInt64) throws(PollWaitFailure) {
        let now = gr_nanotime()
        lock.lock()
        if closing || token != owner {
            lock.unlock()
            throw .closed
        }
        let value: Int64 = when.map { $0 <= now ? -1 : $0 } ?? 0
        let seq: UInt64
        let old: RuntimeTimer?
        var woken: UInt = 0
        if direction == .read {
            readTimerSeq &+= 1
            seq = readTimerSeq
            readDeadline = value
            old = readTimer
            readTimer = nil
        } else {
            writeTimerSeq &+= 1
            seq = writeTimerSeq
            writeDeadline = value
            old = writeTimer
            writeTimer = nil
        }
        if value < 0 { woken = takeWaiter(direction) }
        var armed: RuntimeTimer?
        if value > 0 {
            let timer = RuntimeTimer(action: .run { [self] in self.deadlinePassed(direction, seq) })
            timer.when = value
            if direction == .read { readTimer = timer } else { writeTimer = timer }
            armed = timer
        }
        lock.unlock()
        if let old { Scheduler.shared.cancelTimer(old) }
        if let armed { Scheduler.shared.addTimer(armed) }
        if woken != 0 { Scheduler.shared.ready(G.fromOpaque(woken), next: false) }
    }

    /// A deadline timer fired (on a scheduler thread): fail the waiting call, unless the deadline moved.
    private func deadlinePassed(_ direction: Direction, _ seq: UInt64) {
        lock.lock()
        var woken: UInt = 0
        if direction == .read, seq == readTimerSeq {
            readDeadline = -1
            readTimer = nil
            woken = takeWaiter(.read)
        } else if direction == .write, seq == writeTimerSeq {
            writeDeadline = -1
            writeTimer = nil
            woken = takeWaiter(.write)
        }
        lock.unlock()
        if woken != 0 { Scheduler.shared.ready(G.fromOpaque(woken), next: false) }
    }
}
