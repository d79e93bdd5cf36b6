import CStackSwitch

// Timers on per-P heaps, the timed sleeper that wakes for the earliest one, and running due timers of any P.

extension Scheduler {
    func earliestTimer() -> Int64 {
        var earliest = Int64.max
        for i in 0..<procsCreated.load(ordering: .acquiring) {
            earliest = min(earliest, p(i).timers.earliest.load(ordering: .relaxed))
        }
        return earliest
    }

    var armedTimerCount: Int {
        var n = 0
        for i in 0..<procsCreated.load(ordering: .acquiring) { n += p(i).timers.count.load(ordering: .relaxed) }
        return n
    }

    func addTimer(_ t: RuntimeTimer, to target: P? = nil) {
        let p = target ?? M.current?.p ?? p(0)
        p.timers.lock.lock()
        p.timers.insert(t)
        // Read under the lock: once it is released the timer may fire and its goroutine re-arm it.
        let when = t.when
        p.timers.lock.unlock()
        if when < timedSleeperDeadlineMirror.load(ordering: .relaxed) { notifyTimer(when) }
    }

    /// Removes an armed timer. Returns true if it was armed (so it will not fire).
    @discardableResult
    func cancelTimer(_ t: RuntimeTimer) -> Bool {
        while true {
            guard let heap = t.heap else { return false }
            heap.lock.lock()
            let removed = heap.remove(t)
            heap.lock.unlock()
            if removed { return true }
            if t.heap == nil { return false }
        }
    }

    /// A timer due at `when` was added: make sure some idle M will wake for it.
    func notifyTimer(_ when: Int64) {
        if wakeNetpollForTimer(when) { return }
        lock.lock()
        if let sleeper = timedSleeper {
            if when < timedSleeperDeadline {
                timedSleeper = nil
                timedSleeperDeadline = Int64.max
                timedSleeperDeadlineMirror.store(Int64.max, ordering: .relaxed)
                lock.unlock()
                gr_note_wakeup(sleeper.note)
                return
            }
            lock.unlock()
            return
        }
        lock.unlock()
        wakep()
    }

    /// Fires `p`'s due timers on this M (whose own P receives any goroutines they wake).
    @inline(__always) func runTimers(_ p: P, now: Int64) {
        if p.timers.earliest.load(ordering: .relaxed) > now { return }
        var fired: [RuntimeTimer] = []
        p.timers.lock.lock()
        p.timers.takeExpired(now: now, into: &fired)
        p.timers.lock.unlock()
        for t in fired {
            switch t.action {
            case .wake(let g): ready(g, next: false)
            case .run(let body): body()
            }
        }
    }

    /// Due timers of other Ps (idle ones, or busy ones whose goroutine does not yield) are run here.
    func runOtherPsTimers(_ mine: P, now: Int64) -> G? {
        for i in 0..<procsCreated.load(ordering: .acquiring) {
            let q = p(i)
            if q !== mine && q.timers.earliest.load(ordering: .relaxed) <= now { runTimers(q, now: now) }
        }
        return runqget(mine)
    }
}
