import CStackSwitch

// Go's time.Timer, time.AfterFunc and (in GoTicker.swift) time.Ticker, with Go 1.23's semantics.
//
// Each arming (creation or `reset`) gets a fresh runtime timer and a generation number; `stop` and `reset`
// take the timer's lock, bump the generation and cancel the runtime timer. A firing runs under the same
// lock and does nothing unless its generation is current, so a firing that was already under way when
// `stop` or `reset` ran cannot deliver a stale value afterwards. A channel timer's channel has room for one
// value (the timer never blocks); `stop` and `reset` drain it, so after either returns no value from
// before can be received, as with Go 1.23's unbuffered-like timer channels.
//
// A timer is held by the runtime until it fires or is stopped, so it fires whether or not its handle is
// kept (`GoTimer(after: d).channel` alone works, as Go's `NewTimer(d).C`). A ticker is held weakly: one
// the program no longer references stops, as Go 1.23 collects unreferenced tickers; keep the GoTicker,
// not only its channel.

/// Go's time.Timer: fires once after a delay, either by sending the time on `channel` (`GoTimer(after:)`,
/// Go's NewTimer) or by running a function in a new goroutine (`GoTimer.afterFunc`, Go's AfterFunc).
public final class GoTimer: @unchecked Sendable {
    /// Receives the time at which the timer fired (Go's `t.C`). nil for `afterFunc` timers, as in Go:
    /// receiving from it, or selecting on it, then waits forever.
    public let channel: Channel<ContinuousClock.Instant>?
    private let body: (@Sendable () -> Void)?
    private let lock = RuntimeLock()
    private var generation: UInt64 = 0
    /// Armed and not yet fired.
    private var active = false
    private var runtimeTimer: RuntimeTimer?

    /// Go's time.NewTimer: sends the current time on `channel` once `delay` has passed.
    public init(after delay: Duration) {
        channel = Channel(capacity: 1)
        body = nil
        lock.withLock { arm(delay) }
    }

    private init(delay: Duration, body: @escaping @Sendable () -> Void) {
        channel = nil
        self.body = body
        lock.withLock { arm(delay) }
    }

    /// Go's time.AfterFunc: runs `body` in a new goroutine once `delay` has passed, unless stopped first.
    public static func afterFunc(_ delay: Duration, _ body: @escaping @Sendable () -> Void) -> GoTimer {
        GoTimer(delay: delay, body: body)
    }

    @available(*, deprecated, renamed: "afterFunc")
    public static func after(_ delay: Duration, _ body: @escaping @Sendable () -> Void) -> GoTimer {
        afterFunc(delay, body)
    }

    /// Runs `body` in a new goroutine every `interval` (missed runs are skipped, not queued), until
    /// stopped. A function-running ticker; `GoTicker` is Go's channel one.
    public static func repeating(every interval: Duration, _ body: @escaping @Sendable () -> Void) -> GoTimer {
        GoTimer(repeating: interval, body: body)
    }

    private init(repeating interval: Duration, body: @escaping @Sendable () -> Void) {
        channel = nil
        self.body = body
        lock.withLock { arm(interval, period: max(1, interval.nanoseconds)) }
    }

    /// Stops the timer. Returns true if this call stopped it before it fired: for a channel timer, also
    /// when it had fired but its value was not received yet (that value is discarded, Go 1.23). False if
    /// it had already fired and been received (or run), or been stopped.
    @discardableResult
    public func stop() -> Bool {
        lock.withLock { disarm() }
    }

    /// Re-arms the timer to fire after `delay` (for an `afterFunc` timer: to run its function again), and
    /// returns what `stop` would have. No value from before the reset can be received afterwards.
    @discardableResult
    public func reset(_ delay: Duration) -> Bool {
        lock.withLock {
            let wasActive = disarm()
            arm(delay)
            return wasActive
        }
    }

    /// Caller holds `lock`.
    private func disarm() -> Bool {
        var pending = active
        active = false
        generation &+= 1
        if let runtimeTimer {
            Scheduler.shared.cancelTimer(runtimeTimer)
            self.runtimeTimer = nil
        }
        if let channel, case .value = channel.tryReceive() { pending = true }
        return pending
    }

    /// Caller holds `lock`.
    private func arm(_ delay: Duration, period: Int64 = 0) {
        let armed = generation
        let timer = RuntimeTimer(action: .run({ [self] in fire(armed) }))
        timer.when = runtimeDeadline(after: delay)
        timer.period = period
        runtimeTimer = timer
        active = true
        Scheduler.shared.ensureStarted()
        Scheduler.shared.addTimer(timer)
    }

    /// On a scheduler thread: must not block.
    private func fire(_ firedGeneration: UInt64) {
        lock.lock()
        guard firedGeneration == generation, active else {
            lock.unlock()
            return
        }
        if let channel {
            active = false
            runtimeTimer = nil
            _ = channel.trySend(.now)
            lock.unlock()
        } else {
            if runtimeTimer?.period == 0 {
                active = false
                runtimeTimer = nil
            }
            lock.unlock()
            if let body { go { body() } }
        }
    }
}

/// The runtime-clock time `delay` from now; a negative delay is now, and one too long to represent is
/// the end of time (Go: a sleep or timer whose deadline overflows never fires, rather than firing at once).
func runtimeDeadline(after delay: Duration) -> Int64 {
    let now = gr_nanotime()
    if delay <= .zero { return now }
    if delay >= .seconds(Int64.max / 1_000_000_000) { return Int64.max }
    let (sum, overflow) = now.addingReportingOverflow(delay.nanoseconds)
    return overflow ? Int64.max : sum
}
