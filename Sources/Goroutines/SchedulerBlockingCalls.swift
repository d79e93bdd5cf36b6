import CStackSwitch

// Blocking calls (Go's entersyscall/exitsyscall) and sysmon's retaking of Ps: from goroutines stuck in a
// blocking call, and from behind a goroutine that computes without yielding.

extension Scheduler {
    func enterBlockingCall(_ m: M, _ g: G, fp: UInt) {
        guard let p = m.p else { return }
        g.syscallFP = fp
        g.syscallSince = gr_nanotime()
        blockingCalls.wrappingAdd(1, ordering: .relaxed)
        g.status = .syscall
        m.oldP = p
        p.m = nil
        m.setP(nil)
        p.syscalltick.wrappingAdd(1, ordering: .relaxed)
        p.status = .syscall
        g.scanLock.store(false, ordering: .releasing)
    }

    func exitBlockingCall(_ g: G) {
        let m = M.current!
        while !g.scanLock.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged {
            gr_cpu_relax()
        }
        blockingCalls.wrappingSubtract(1, ordering: .relaxed)
        g.syscallFP = 0
        if let p = m.oldP {
            m.oldP = nil
            if p.statusWord.compareExchange(expected: PStatus.syscall.rawValue, desired: PStatus.running.rawValue,
                                            ordering: .acquiringAndReleasing).exchanged {
                m.setP(p)
                p.m = m
                p.syscalltick.wrappingAdd(1, ordering: .relaxed)
                g.status = .running
                return
            }
        }
        lock.lock()
        let idle = pidleget()
        lock.unlock()
        if let idle {
            acquireP(m, idle)
            g.status = .running
            return
        }
        m.pending = .exitBlockingCallWithoutP
        switchToScheduler(g, m)
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

    /// sysmon: with no preemption, a goroutine that computes without yielding keeps its P, and whatever
    /// waits in that P's `runnext` would wait with it (thieves leave a running P's `runnext` alone, since
    /// it normally runs next within microseconds). After `after` ns without a schedule on that P, move
    /// its `runnext` to the global queue, where an idle or other P picks it up. Returns how many moved.
    func rescueRunnextFromBusyPs(now: Int64, after: Int64) -> Int {
        var moved = 0
        for i in 0..<procs {
            let p = self.p(i)
            guard p.status == .running else { continue }
            let busy = p.sysmonScheduleWatch.unchangedFor(p.schedtick.load(ordering: .relaxed), now: now)
            if busy == 0 || busy < after { continue }
            let next = p.runnext.load(ordering: .acquiring)
            if next != 0 && p.runnext.compareExchange(expected: next, desired: 0, ordering: .acquiringAndReleasing).exchanged {
                globalRunqPut(G.fromOpaque(next))
                moved += 1
            }
        }
        if moved > 0 { wakep() }
        return moved
    }

    var anyPInBlockingCall: Bool {
        for i in 0..<procs where p(i).status == .syscall { return true }
        return false
    }
}
