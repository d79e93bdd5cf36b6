import CStackSwitch

// Blocking calls (Go's entersyscall/exitsyscall) and sysmon's retaking of Ps from goroutines stuck in one.
// (A goroutine that computes without yielding is handled in SchedulerDisplacement.swift.)

extension Scheduler {
    func enterBlockingCall(_ m: M, _ g: G, fp: UInt) {
        if gr_p_section_enter() != 0 { dropGivenAwayP(m) }
        defer { gr_p_section_exit() }
        g.syscallFP = fp
        g.syscallSince = gr_nanotime()
        blockingCalls.wrappingAdd(1, ordering: .relaxed)
        g.status = .syscall
        // A displaced goroutine has no P to leave behind; it asks for one on the way out.
        m.oldP = m.p
        if let p = m.p {
            p.m = nil
            m.setP(nil)
            p.syscalltick.wrappingAdd(1, ordering: .relaxed)
            p.status = .syscall
        }
        g.scanLock.store(false, ordering: .releasing)
    }

    func exitBlockingCall(_ g: G) {
        let m = M.current!
        while !g.scanLock.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged {
            gr_cpu_relax()
        }
        blockingCalls.wrappingSubtract(1, ordering: .relaxed)
        g.syscallFP = 0
        if reacquireP(m) {
            g.status = .running
            return
        }
        m.pending = .exitBlockingCallWithoutP
        switchToScheduler(g, m)
    }

    /// Leaving a blocking call: the P left behind if nobody took it, else an idle one. A P section, so the
    /// thread cannot be asked to give the P away while it is being installed.
    private func reacquireP(_ m: M) -> Bool {
        if gr_p_section_enter() != 0 { dropGivenAwayP(m) }
        defer { gr_p_section_exit() }
        if let p = m.oldP {
            m.oldP = nil
            if p.statusWord.compareExchange(expected: PStatus.syscall.rawValue, desired: PStatus.running.rawValue,
                                            ordering: .acquiringAndReleasing).exchanged {
                m.setP(p)
                p.m = m
                p.syscalltick.wrappingAdd(1, ordering: .relaxed)
                return true
            }
        }
        lock.lock()
        let idle = pidleget()
        lock.unlock()
        guard let idle else { return false }
        acquireP(m, idle)
        return true
    }

    /// sysmon: takes Ps away from goroutines stuck in blocking calls for more than `after` ns.
    func retakeBlockedPs(now: Int64, after: Int64) -> Int {
        var retaken = 0
        for i in 0..<procs {
            let p = self.p(i)
            guard p.status == .syscall else { continue }
            let blocked = p.sysmonSyscallWatch.unchangedFor(p.syscalltick.load(ordering: .relaxed), now: now)
            if blocked == 0 || blocked < after { continue }
            let hasWork = p.hasRunnableWork || globalCount.load(ordering: .relaxed) > 0
                || p.timers.count.load(ordering: .relaxed) > 0
            if !hasWork && nmspinning.load(ordering: .relaxed) + npidle.load(ordering: .relaxed) > 0
                && blocked < 10_000_000 { continue }
            if p.statusWord.compareExchange(expected: PStatus.syscall.rawValue, desired: PStatus.idle.rawValue,
                                            ordering: .acquiringAndReleasing).exchanged {
                p.syscalltick.wrappingAdd(1, ordering: .relaxed)
                handOffP(p)
                retaken += 1
            }
        }
        return retaken
    }

    var anyPInBlockingCall: Bool {
        for i in 0..<procs where p(i).status == .syscall { return true }
        return false
    }
}
