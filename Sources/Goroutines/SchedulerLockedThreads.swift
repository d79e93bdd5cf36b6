import CStackSwitch

// LockOSThread: a locked goroutine runs only on its M, and that M runs nothing else (Go's handoff: whoever
// dequeues the goroutine gives its P to the locked M and stops).

extension Scheduler {
    /// `m`'s locked goroutine is not running (parked, queued, or leaving a blocking call): give the P away and
    /// sleep until someone dequeues the goroutine and hands this M a P to run it.
    func waitForLockedG(_ m: M) {
        if m.p != nil { handOffP(releaseP(m)) }
        nmidlelocked.wrappingAdd(1, ordering: .relaxed)
        lock.lock()
        let verdict = checkDeadlock()
        lock.unlock()
        report(verdict)
        while true {
            lock.lock()
            if let p = m.nextP {
                m.nextP = nil
                lock.unlock()
                nmidlelocked.wrappingSubtract(1, ordering: .relaxed)
                acquireP(m, p)
                return
            }
            // Cleared under the lock: a hand-over sets nextP under it and wakes us after, so none is lost.
            gr_note_clear(m.note)
            lock.unlock()
            m.blocked.store(true, ordering: .relaxed)
            _ = gr_note_sleep(m.note, -1)
            m.blocked.store(false, ordering: .relaxed)
        }
    }

    /// `g` is locked to `owner`: give our P to the owner, which runs it, and stop this M.
    func handOffToLockedM(_ owner: M, _ g: G, from m: M) {
        let p = releaseP(m)
        g.status = .runnable
        lock.lock()
        owner.nextP = p
        lock.unlock()
        gr_note_wakeup(owner.note)
        stopM(m, until: earliestTimer())
    }

    func lockOSThread() {
        guard let m = M.current, let g = m.curG else { return }
        g.lockedM = m
        m.lockedG = g
        m.lockedGID.store(g.id, ordering: .relaxed)
    }

    func unlockOSThread() {
        guard let m = M.current, let g = m.curG else { return }
        g.lockedM = nil
        m.lockedG = nil
        m.lockedGID.store(0, ordering: .relaxed)
    }
}
