import CStackSwitch

// Displacement: what the runtime does about a goroutine that runs for more than 10 ms without calling into
// the scheduler (Go's forcePreemptNS), so that one tight loop cannot stop timers, sleepers, channel
// partners and every other goroutine queued on its P.
//
// The mechanism. Go preempts such a goroutine: since 1.14 a signal makes the goroutine call into the
// scheduler at the interrupted instruction, which Go's compiler makes safe by keeping stack maps at every
// instruction and by keeping runtime locks out of user code. Swift gives us neither. A goroutine stopped
// at an arbitrary instruction may hold malloc's arena lock, the Swift runtime's metadata or conformance
// cache locks, a `Synchronization.Mutex` or `NSLock` inlined into the program's own code (invisible by PC),
// or a thread-local address computed before the stop; switching another goroutine onto that thread, or
// resuming this one on another thread, deadlocks or corrupts. No PC test proves any of that absent. So we
// do not switch the hog: we take its P away and let it keep its thread, exactly as Go does with a
// goroutine in a system call.
//
//  1. sysmon watches every running P. If the P's `schedtick + syscalltick` has not moved for 10 ms, its
//     M runs a goroutine and that thread is on a CPU (/proc says running, not asleep in a system call),
//     sysmon marks the P's displacement word REQUESTED and sends SIGURG to that thread (again every 10 ms
//     until answered; a stale request is withdrawn once the P schedules).
//  2. The signal handler (Displacement.c) runs on the hog's own thread. It accepts (REQUESTED -> ACCEPTED)
//     only if a goroutine is running there and the thread is not inside a *P section*, and then forgets
//     the P at once. Otherwise it does nothing and sysmon asks again later. Because it only flips two
//     words, any instruction is a safe place for it: it takes no lock and switches nothing.
//  3. sysmon sees ACCEPTED, resets the word and hands the P (run queue, `runnext`, timers) to another M with
//     `handOffP`, as it does for a blocking call. The hog keeps running on its own thread, with no P.
//  4. The hog's thread drops its P pointer the next time it needs the P: at the next P section or when
//     the goroutine switches back to the scheduler. From then on it behaves like a thread that left a
//     blocking call and found no P: goroutines it wakes or spawns go to the global queue, and when it
//     parks, yields or enters a blocking call it gives its place back (its M stops; the goroutine gets a
//     P again through the run queues).
//
// P sections. The only state a thread may not touch once it has accepted is its P's: the local run
// queue's producer side, `runnext` as owner, the free-G cache. Code that uses them from a goroutine's
// stack runs between `gr_p_section_enter` and `gr_p_section_exit` (a thread-local depth, no atomics):
// `ready`, taking a G from the cache, entering and leaving a blocking call. The scheduler's own stack
// never accepts (the handler checks that a goroutine's stack is installed). A section never spans a
// switch. Timers need no section: timer heaps have their own locks.
//
// What users see. The displaced goroutine is still `[running]` (it is), with its labels, and the CPU
// profile still charges it (samples read the thread's current goroutine). Thread count grows by at most
// one per hog: the hog's M gets no P back until it gives its place back. schedtrace counts that M as
// running without a P (`p=-1` in scheddetail). The deadlock detector counts it as running, so a hog never
// makes the program look asleep. The signal uses SA_RESTART and goes only to threads that /proc shows on
// a CPU, so a goroutine asleep in a system call it did not wrap in `Go.blockingCall` is left alone (it
// keeps its P, as before); only a call entered between that check and the signal's arrival can see EINTR
// (nanosleep, epoll_wait and the like are never restarted), as under Go. `Go.yield()` is untouched and
// remains the cheap way to share a P.
//
// Runnext inherits the time slice (as in Go): a goroutine run from `runnext` does not count as a new
// schedule, so a pair ping-ponging through `runnext` counts as one hog after 10 ms and its P goes to the
// goroutines queued behind it (Go's TestPingPongHog).

extension Scheduler {
    /// Go's forcePreemptNS.
    static let displaceAfterNanos: Int64 = 10_000_000

    /// The calling thread gave its P away (the signal handler accepted); forget it. Call in a P section or
    /// on the scheduler's stack.
    func dropGivenAwayP(_ m: M) {
        // Clear the mark too: a P this thread acquires later is its own.
        _ = gr_displace_take_given_away()
        m.setP(nil)
    }

    /// sysmon: asks threads that have held a P for more than 10 ms with one goroutine to give it up, and
    /// hands over the Ps they gave. Returns true while a request is outstanding or a P moved, so sysmon
    /// keeps polling fast.
    func displaceHogs(now: Int64) -> Bool {
        var busy = false
        let active = procs
        // Ps beyond GOMAXPROCS too: one given away just as GOMAXPROCS shrank must still be handed on (the
        // new holder retires it).
        for i in 0..<procsCreated.load(ordering: .acquiring) {
            let p = self.p(i)
            let word = p.displaceWord
            let state = gr_displace_load(word)
            if state == UInt32(GR_DISPLACE_ACCEPTED) {
                handOverDisplacedP(p)
                busy = true
                continue
            }
            guard i < active, p.status == .running, let m = p.m, !m.isSystem else {
                if state == UInt32(GR_DISPLACE_REQUESTED) {
                    _ = gr_displace_cas(word, UInt32(GR_DISPLACE_REQUESTED), UInt32(GR_DISPLACE_NONE))
                }
                continue
            }
            let tick = p.schedtick.load(ordering: .relaxed) &+ p.syscalltick.load(ordering: .relaxed)
            let ran = p.sysmonScheduleWatch.unchangedFor(tick, now: now)
            if state == UInt32(GR_DISPLACE_REQUESTED) {
                if ran == 0 {
                    // It scheduled meanwhile: the goroutine we asked about is no longer hogging.
                    _ = gr_displace_cas(word, UInt32(GR_DISPLACE_REQUESTED), UInt32(GR_DISPLACE_NONE))
                } else if now - p.displaceRequestedAt >= Self.displaceAfterNanos, gr_thread_is_on_cpu(m.tid) {
                    p.displaceRequestedAt = now
                    _ = gr_displace_signal_thread(m.tid)
                }
                busy = true
                continue
            }
            guard ran >= Self.displaceAfterNanos, m.curGID.load(ordering: .relaxed) != 0 else { continue }
            // A thread asleep in the kernel (a blocking call made without `Go.blockingCall`) is not
            // computing: a signal would only make its call fail with EINTR. It keeps its P, as before.
            guard gr_thread_is_on_cpu(m.tid) else { continue }
            if gr_displace_cas(word, UInt32(GR_DISPLACE_NONE), UInt32(GR_DISPLACE_REQUESTED)) {
                p.displaceRequestedAt = now
                _ = gr_displace_signal_thread(m.tid)
                busy = true
            }
        }
        return busy
    }

    /// The thread holding `p` accepted: it will not touch `p` again, so `p` is ours to give away.
    private func handOverDisplacedP(_ p: P) {
        let hog = p.m
        p.m = nil
        // Until the hog's thread drops its pointer, its mirror would still name `p`.
        if let hog { _ = hog.pID.compareExchange(expected: p.id, desired: -1, ordering: .relaxed) }
        displacements.wrappingAdd(1, ordering: .relaxed)
        // Reset before anyone else can hold `p`, so a later request is about its next holder.
        _ = gr_displace_cas(p.displaceWord, UInt32(GR_DISPLACE_ACCEPTED), UInt32(GR_DISPLACE_NONE))
        handOffP(p)
    }
}
