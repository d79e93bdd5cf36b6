import CStackSwitch

/// Go's time.Ticker: sends the time on `channel` every `interval`. A receiver that falls behind misses
/// ticks rather than queueing them (the channel holds one), as in Go. Stop it when done; one the program
/// no longer references stops by itself (Go 1.23). See GoTimer.swift for the design.
public final class GoTicker: @unchecked Sendable {
    /// Receives the tick times (Go's `t.C`).
    public let channel: Channel<ContinuousClock.Instant>
    private let lock = RuntimeLock()
    private var generation: UInt64 = 0
    private var runtimeTimer: RuntimeTimer?

    /// Go's time.NewTicker. A non-positive interval is a panic, as in Go.
    public init(every interval: Duration) {
        if interval <= .zero { goroutinePanic("non-positive interval for NewTicker") }
        channel = Channel(capacity: 1)
        lock.withLock { arm(interval) }
    }

    deinit {
        if let runtimeTimer { Scheduler.shared.cancelTimer(runtimeTimer) }
    }

    /// Turns the ticker off: no more ticks are sent, and a tick sent but not yet received is discarded.
    /// It can be started again with `reset`.
    public func stop() {
        lock.withLock { disarm() }
    }

    /// Stops the ticker and restarts it with `interval`: the next tick comes `interval` from now. A
    /// non-positive interval is a panic, as in Go.
    public func reset(_ interval: Duration) {
        if interval <= .zero { goroutinePanic("non-positive interval for Ticker.Reset") }
        lock.withLock {
            disarm()
            arm(interval)
        }
    }

    /// Caller holds `lock`.
    private func disarm() {
        generation &+= 1
        if let runtimeTimer {
            Scheduler.shared.cancelTimer(runtimeTimer)
            self.runtimeTimer = nil
        }
        _ = channel.tryReceive()
    }

    /// Caller holds `lock`.
    private func arm(_ interval: Duration) {
        let armed = generation
        let timer = RuntimeTimer(action: .run({ [weak self] in self?.tick(armed) }))
        let period = max(1, interval.nanoseconds)
        timer.when = runtimeDeadline(after: .nanoseconds(period))
        timer.period = period
        runtimeTimer = timer
        Scheduler.shared.ensureStarted()
        Scheduler.shared.addTimer(timer)
    }

    /// On a scheduler thread: must not block, so a tick the receiver has no room for is dropped.
    private func tick(_ firedGeneration: UInt64) {
        lock.lock()
        if firedGeneration == generation { _ = channel.trySend(.now) }
        lock.unlock()
    }
}
