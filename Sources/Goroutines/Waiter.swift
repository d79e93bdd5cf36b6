import CStackSwitch

/// Someone blocked on a runtime object: a goroutine (parked, woken with `ready`) or a plain thread
/// (sleeping on a futex note). Channels, wait groups and locks keep queues of these, so goroutines and
/// ordinary threads can wait on the same objects.
struct Waiter {
    let g: G?
    let note: UnsafeMutablePointer<gr_note>?

    /// Blocks the caller on `lock`'s object: registers via `enqueue` (called with `lock` held), then sleeps,
    /// releasing `lock` only once the goroutine is parked (or, on a thread, just before sleeping).
    static func block(on lock: RuntimeLock, reason: WaitReason, owner: AnyObject? = nil, enqueue: (Waiter) -> Void) {
        if let m = M.current, let g = m.curG {
            enqueue(Waiter(g: g, note: nil))
            Scheduler.shared.park(reason, commit: lock, target: owner)
            return
        }
        let note = UnsafeMutablePointer<gr_note>.allocate(capacity: 1)
        note.initialize(to: gr_note())
        defer { note.deallocate() }
        enqueue(Waiter(g: nil, note: note))
        let sched = Scheduler.shared
        sched.externalWaiters.wrappingAdd(1, ordering: .relaxed)
        lock.unlock()
        _ = gr_note_sleep(note, -1)
        sched.externalWaiters.wrappingSubtract(1, ordering: .relaxed)
    }

    /// Makes the waiter run again. Safe to call with the object's lock held.
    func wake() {
        if let g {
            Scheduler.shared.ready(g, next: true)
        } else if let note {
            gr_note_wakeup(note)
        }
    }
}
