/// A timer that runs a function in its own goroutine when it fires, once (Go's `time.AfterFunc`) or
/// repeatedly (a ticker). Stopping releases it from the scheduler's timer heap at once.
public final class GoTimer: @unchecked Sendable {
    private let timer: RuntimeTimer

    private init(delay: Duration, period: Duration?, body: @escaping @Sendable () -> Void) {
        timer = RuntimeTimer(action: .run({ go { body() } }))
        timer.when = gr_nanotimeSwift() + max(0, delay.nanoseconds)
        timer.period = period.map { max(1, $0.nanoseconds) } ?? 0
        Scheduler.shared.ensureStarted()
        Scheduler.shared.addTimer(timer)
    }

    /// Runs `body` in a new goroutine after `delay`.
    public static func after(_ delay: Duration, _ body: @escaping @Sendable () -> Void) -> GoTimer {
        GoTimer(delay: delay, period: nil, body: body)
    }

    /// Runs `body` in a new goroutine every `interval` (missed ticks are skipped, not queued).
    public static func repeating(every interval: Duration, _ body: @escaping @Sendable () -> Void) -> GoTimer {
        GoTimer(delay: interval, period: interval, body: body)
    }

    /// Stops the timer. Returns true if this call stopped it, false if it had already fired (one-shot)
    /// or been stopped.
    @discardableResult
    public func stop() -> Bool { Scheduler.shared.cancelTimer(timer) }
}
