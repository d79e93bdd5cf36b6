import CStackSwitch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The network poller, as Go's netpoll_epoll.go arranges it: every goroutine socket is registered once,
/// edge-triggered, with one epoll instance; a goroutine whose read or write would block parks with
/// `[IO wait]` on its socket's `PollDescriptor`, and whoever polls turns readiness events into runnable
/// goroutines. Three places poll:
///
/// - `findRunnable`, without blocking, when its P's own queues are empty (before stealing);
/// - the last M to go idle, which blocks in `epoll_wait` (without a P) instead of sleeping on its note when
///   goroutines wait for I/O: at most one M blocks there, until the earliest timer at the latest;
/// - sysmon, without blocking, when nobody has polled for 10 ms (a busy system still wakes I/O waiters).
///
/// Timers and the poller wake each other: a timer armed earlier than the blocked poller's deadline writes
/// the eventfd, and the poller's timeout is the earliest timer, so a sleeping goroutine and one waiting on a
/// socket never delay each other.
final class Netpoll: @unchecked Sendable {
    static let shared = Netpoll()

    let epfd: Int32
    private let wakerFD: Int32
    /// Goroutines parked in `IO wait` (they can make progress: the deadlock check counts them).
    let waiters = Atomic<Int>(0)
    /// Deadline of the M blocked in `epoll_wait` (Int64.max: no timeout), 0 when no M is blocked there.
    let blockedUntil = Atomic<Int64>(0)
    /// Set while an M owns the blocking poll, so that only one M blocks there.
    private let pollerClaimed = Atomic<Bool>(false)
    /// A wake-up is already in the eventfd: no need to write another.
    private let wakeSent = Atomic<Bool>(false)
    /// When the poller was last consulted (ns), for sysmon's 10 ms rule.
    let lastPoll = Atomic<Int64>(0)

    private init() {
        epfd = gr_netpoll_create()
        if epfd < 0 { fatalRuntimeError("netpoll: epoll_create1 failed: errno \(errno)") }
        wakerFD = gr_netpoll_create_waker(epfd)
        if wakerFD < 0 { fatalRuntimeError("netpoll: eventfd failed: errno \(errno)") }
        lastPoll.store(gr_nanotime(), ordering: .relaxed)
        Netpoll.initialized.store(true, ordering: .releasing)
    }

    /// True once a socket has been registered: until then the scheduler never looks at the poller.
    static let initialized = Atomic<Bool>(false)

    /// Whether polling can find anything: some goroutine waits on a socket.
    @inline(__always) static var hasWaiters: Bool {
        initialized.load(ordering: .relaxed) && shared.waiters.load(ordering: .relaxed) > 0
    }

    // MARK: polling

    /// Polls once, waiting up to `timeoutNanos` (-1: until an event or a wake-up; 0: just look).
    /// Returns the goroutines made runnable, linked through `schedLink`, and how many.
    func poll(timeoutNanos: Int64) -> (first: G?, count: Int) {
        var head: G?
        var count = 0
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 128) { tokens in
            withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 128) { ready in
                let n = gr_netpoll_wait(epfd, tokens.baseAddress!, ready.baseAddress!, 128, timeoutNanos)
                lastPoll.store(gr_nanotime(), ordering: .relaxed)
                if n <= 0 { return }
                for i in 0..<Int(n) {
                    let token = tokens[i]
                    if token == 0 {
                        drainWaker()
                        continue
                    }
                    PollDescriptor.fromToken(token)?.deliver(ready: ready[i], token: token) { g in
                        g.schedLink = head
                        head = g
                        count += 1
                    }
                }
            }
        }
        return (head, count)
    }

    /// Claims the right to block in `epoll_wait`; false if another M already does.
    func claimBlockingPoll(until deadline: Int64) -> Bool {
        if pollerClaimed.load(ordering: .relaxed) { return false }
        if !pollerClaimed.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged { return false }
        blockedUntil.store(deadline, ordering: .releasing)
        return true
    }

    func releaseBlockingPoll() {
        blockedUntil.store(0, ordering: .releasing)
        pollerClaimed.store(false, ordering: .releasing)
    }

    /// Interrupts the M blocked in `epoll_wait`, if any (once per wake-up).
    func wakeBlockedPoller() {
        if wakeSent.load(ordering: .relaxed) { return }
        if !wakeSent.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged { return }
        var one: UInt64 = 1
        _ = withUnsafeBytes(of: &one) { write(wakerFD, $0.baseAddress, 8) }
    }

    private func drainWaker() {
        var value: UInt64 = 0
        _ = withUnsafeMutableBytes(of: &value) { read(wakerFD, $0.baseAddress, 8) }
        wakeSent.store(false, ordering: .releasing)
    }
}
