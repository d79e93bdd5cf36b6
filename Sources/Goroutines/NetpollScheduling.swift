import CStackSwitch

// Where the scheduler consults the netpoller (see Netpoll.swift): a look before stealing, the blocking
// poll of the last M to go idle, sysmon's 10 ms check, and the wake-up when a timer is armed earlier than
// the blocked poller's deadline.

extension Scheduler {
    enum NetpollBlockOutcome {
        /// Nothing waits on sockets, or another M already blocks in the poller: sleep as usual.
        case notNeeded
        /// Run this goroutine (the M holds a P again).
        case run(G)
        /// Look for work again (the M may or may not hold a P).
        case retry
    }

    /// findRunnable, with the P's own queues empty: collect ready sockets' goroutines without blocking.
    /// Done even while another M blocks in the poller: this M already holds a P and runs what it finds at
    /// once, where the blocked one would first need the OS to schedule it (slow on a busy machine). Each
    /// edge-triggered event goes to one caller; a timer wake-up taken here is served by this M, which
    /// runs timers on its next round or sleeps until the earliest one.
    @inline(__always) func pollNetworkWithoutBlocking() -> G? {
        guard Netpoll.hasWaiters else { return nil }
        return runFirstReadyOthers(Netpoll.shared.poll(timeoutNanos: 0).first)
    }

    /// findRunnable, after giving up the P with nothing to run: when goroutines wait on sockets, block in
    /// `epoll_wait` (until the earliest timer) instead of sleeping, unless another M already does.
    func blockInNetpoll(_ m: M) -> NetpollBlockOutcome {
        guard Netpoll.hasWaiters else { return .notNeeded }
        let poller = Netpoll.shared
        var deadline = earliestTimer()
        guard poller.claimBlockingPoll(until: deadline) else { return .notNeeded }
        // A timer armed before the claim was visible woke someone else, but take it into account anyway.
        deadline = min(deadline, earliestTimer())
        let timeout = deadline == Int64.max ? -1 : max(0, deadline - gr_nanotime())
        let polled = poller.poll(timeoutNanos: timeout)
        poller.releaseBlockingPoll()
        lock.lock()
        let p = pidleget()
        lock.unlock()
        guard let p else {
            // Every P is busy: the woken goroutines wait in the global queue.
            var next = polled.first
            while let g = next {
                next = g.schedLink
                g.schedLink = nil
                ready(g, next: false)
            }
            return .retry
        }
        acquireP(m, p)
        if let g = runFirstReadyOthers(polled.first) { return .run(g) }
        return .retry
    }

    /// sysmon: when goroutines wait on sockets and nobody has polled for 10 ms, poll and queue what is ready.
    func sysmonPollNetwork(now: Int64) -> Bool {
        guard Netpoll.hasWaiters else { return false }
        let poller = Netpoll.shared
        if poller.blockedUntil.load(ordering: .relaxed) != 0 { return false }
        if now - poller.lastPoll.load(ordering: .relaxed) < 10_000_000 { return false }
        var next = poller.poll(timeoutNanos: 0).first
        let any = next != nil
        while let g = next {
            next = g.schedLink
            g.schedLink = nil
            ready(g, next: false)
        }
        return any
    }

    /// A timer due at `when` was armed: wake the M blocked in the poller if it would sleep past it.
    /// Returns true if that M will take care of it.
    @inline(__always) func wakeNetpollForTimer(_ when: Int64) -> Bool {
        guard Netpoll.initialized.load(ordering: .relaxed) else { return false }
        let until = Netpoll.shared.blockedUntil.load(ordering: .acquiring)
        if until == 0 || when >= until { return false }
        Netpoll.shared.wakeBlockedPoller()
        return true
    }

    /// Readies every polled goroutine but the first (on this M's P when it has one), which it returns
    /// for the caller to run.
    private func runFirstReadyOthers(_ first: G?) -> G? {
        guard let first else { return nil }
        var next = first.schedLink
        first.schedLink = nil
        while let g = next {
            next = g.schedLink
            g.schedLink = nil
            ready(g, next: false)
        }
        first.waitReason = .zero
        first.status = .runnable
        return first
    }
}
