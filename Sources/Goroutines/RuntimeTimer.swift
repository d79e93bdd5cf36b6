import CStackSwitch
import Synchronization

/// What a runtime timer does when it fires. Both run on a scheduler thread and must not block.
enum TimerAction {
    /// Make a sleeping goroutine runnable.
    case wake(G)
    /// Run a short callback (spawning a goroutine, a non-blocking channel send).
    case run(@Sendable () -> Void)
}

/// A timer in one P's heap. `when` and the heap position are guarded by that heap's lock.
final class RuntimeTimer: @unchecked Sendable, ParkCommit {
    var when: Int64 = 0
    /// Nanoseconds between firings for repeating timers; 0 for one-shot.
    var period: Int64 = 0
    var action: TimerAction
    fileprivate(set) var heapIndex = -1
    /// The heap holding this timer (nil when not armed). An atomic, unretained word: `cancelTimer` reads
    /// it without any lock to learn which heap's lock to take, and heaps live as long as their P.
    fileprivate(set) var heap: TimerHeap? {
        get {
            let word = heapWord.load(ordering: .acquiring)
            return word == 0 ? nil : Unmanaged<TimerHeap>.fromOpaque(UnsafeRawPointer(bitPattern: word)!).takeUnretainedValue()
        }
        set { heapWord.store(newValue.map { UInt(bitPattern: Unmanaged.passUnretained($0).toOpaque()) } ?? 0, ordering: .releasing) }
    }
    private let heapWord = Atomic<UInt>(0)

    init(action: TimerAction) { self.action = action }

    var isArmed: Bool { heap != nil }

    /// Arms the timer on the current P once the sleeping goroutine is safely parked.
    func commitPark(_ g: G) -> Bool {
        Scheduler.shared.addTimer(self)
        return true
    }
}

/// A P's timers: a binary min-heap on `when`, with positions tracked so cancel is O(log n).
final class TimerHeap: @unchecked Sendable {
    let lock = RuntimeLock()
    private var timers: [RuntimeTimer] = []
    /// Earliest `when`, readable without the lock (Int64.max when empty).
    let earliest = Atomic<Int64>(Int64.max)
    let count = Atomic<Int>(0)

    /// Caller holds `lock`.
    func insert(_ t: RuntimeTimer) {
        t.heap = self
        t.heapIndex = timers.count
        timers.append(t)
        siftUp(t.heapIndex)
        published()
    }

    /// Caller holds `lock`. Returns false if the timer was not in this heap.
    @discardableResult
    func remove(_ t: RuntimeTimer) -> Bool {
        guard t.heap === self, t.heapIndex >= 0, t.heapIndex < timers.count, timers[t.heapIndex] === t else { return false }
        let i = t.heapIndex
        let last = timers.removeLast()
        if i < timers.count {
            timers[i] = last
            last.heapIndex = i
            siftDown(i)
            siftUp(last.heapIndex)
        }
        t.heap = nil
        t.heapIndex = -1
        published()
        return true
    }

    /// Caller holds `lock`: removes timers due at `now` (re-arming repeating ones) and returns them.
    func takeExpired(now: Int64, into fired: inout [RuntimeTimer]) {
        while let first = timers.first, first.when <= now {
            if first.period > 0 {
                fired.append(first)
                let missed = (now - first.when) / first.period
                first.when += (missed + 1) * first.period
                siftDown(0)
            } else {
                remove(first)
                fired.append(first)
            }
        }
        published()
    }

    /// Caller holds `lock`: every timer, for moving a dying P's timers elsewhere.
    func removeAll() -> [RuntimeTimer] {
        let all = timers
        for t in all { t.heap = nil; t.heapIndex = -1 }
        timers.removeAll()
        published()
        return all
    }

    private func published() {
        earliest.store(timers.first?.when ?? Int64.max, ordering: .releasing)
        count.store(timers.count, ordering: .relaxed)
    }

    private func siftUp(_ start: Int) {
        var i = start
        while i > 0 {
            let parent = (i - 1) / 2
            if timers[parent].when <= timers[i].when { break }
            swapAt(i, parent)
            i = parent
        }
    }

    private func siftDown(_ start: Int) {
        var i = start
        while true {
            let l = 2 * i + 1, r = l + 1
            var smallest = i
            if l < timers.count && timers[l].when < timers[smallest].when { smallest = l }
            if r < timers.count && timers[r].when < timers[smallest].when { smallest = r }
            if smallest == i { return }
            swapAt(i, smallest)
            i = smallest
        }
    }

    private func swapAt(_ a: Int, _ b: Int) {
        timers.swapAt(a, b)
        timers[a].heapIndex = a
        timers[b].heapIndex = b
    }
}
