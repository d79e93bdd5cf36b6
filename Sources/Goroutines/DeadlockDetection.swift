// "all goroutines are asleep": decided under the scheduler lock when an M goes idle, reported after it.

extension Scheduler {
    enum DeadlockVerdict { case none, noGoroutines, allAsleep }

    /// Caller holds `lock`. Decides whether nothing can ever run again; the caller reports after unlocking
    /// (the report itself takes the scheduler lock to print thread states).
    func checkDeadlock() -> DeadlockVerdict {
        guard ownsProcess.load(ordering: .relaxed), MainGoroutine.id.load(ordering: .relaxed) > 0,
              !panicking.load(ordering: .relaxed), !DeadlockState.reported.load(ordering: .relaxed) else { return .none }
        let running = mcount.load(ordering: .relaxed) - nmidle.load(ordering: .relaxed)
            - nmidlelocked.load(ordering: .relaxed) - nmsys.load(ordering: .relaxed)
        if running > 0 { return .none }
        if blockingCalls.load(ordering: .relaxed) > 0 || externalWaiters.load(ordering: .relaxed) > 0 { return .none }
        if globalCount.load(ordering: .relaxed) > 0 || anyPWithWork() != nil { return .none }
        if armedTimerCount > 0 { return .none }
        // A goroutine in IO wait can be woken by a peer (Go prints no deadlock while a listener waits).
        if Netpoll.hasWaiters { return .none }
        let gs = goroutinesCopy()
        var waiting = 0
        for g in gs {
            switch g.status {
            case .waiting: waiting += 1
            case .runnable, .running, .syscall: return .none
            default: break
            }
        }
        return waiting == 0 ? .noGoroutines : .allAsleep
    }
    /// Reports a deadlock found by `checkDeadlock`: Go's report and exit, or (`DeadlockBehavior`) the same
    /// report once, after which the process keeps running for inspection.
    func report(_ verdict: DeadlockVerdict) {
        switch verdict {
        case .none: return
        case .noGoroutines: fatalDeadlock(message: "no goroutines (main called runtime.Goexit) - deadlock!", withGoroutines: false)
        case .allAsleep:
            if DeadlockState.keepsRunning {
                reportDeadlockAndKeepRunning(message: "all goroutines are asleep - deadlock!")
            } else {
                fatalDeadlock(message: "all goroutines are asleep - deadlock!", withGoroutines: true)
            }
        }
    }
}
