import CStackSwitch
import Synchronization

/// A P's local run queue: a 256-slot ring written only by its owner at the tail, consumed at the head by
/// the owner and by thieves (compare-and-swap on head). Thieves take half, so work spreads in few steals.
/// Slots hold unretained G pointers (G objects live for the whole process).
final class RunQueue: @unchecked Sendable {
    static let capacity: UInt32 = 256
    private let head = Atomic<UInt32>(0)
    private let tail = Atomic<UInt32>(0)
    private let slots: UnsafeMutablePointer<UInt>

    init() {
        slots = .allocate(capacity: Int(Self.capacity))
        slots.initialize(repeating: 0, count: Int(Self.capacity))
    }

    var count: Int {
        while true {
            let h = head.load(ordering: .acquiring)
            let t = tail.load(ordering: .acquiring)
            if h == head.load(ordering: .acquiring) { return Int(t &- h) }
        }
    }

    var isEmpty: Bool { count == 0 }

    @inline(__always) private func slot(_ index: UInt32) -> UnsafeMutablePointer<UInt> {
        slots + Int(index % Self.capacity)
    }

    /// Owner only. Returns false when full (the caller then moves half to the global queue).
    @inline(__always) func push(_ g: G) -> Bool {
        let h = head.load(ordering: .acquiring)
        let t = tail.load(ordering: .relaxed)
        if t &- h >= Self.capacity { return false }
        gr_store_relaxed(slot(t), g.opaque)
        tail.store(t &+ 1, ordering: .releasing)
        return true
    }

    /// Owner only.
    @inline(__always) func pop() -> G? {
        while true {
            let h = head.load(ordering: .acquiring)
            let t = tail.load(ordering: .relaxed)
            if t == h { return nil }
            let word = gr_load_relaxed(slot(h))
            if head.compareExchange(expected: h, desired: h &+ 1, ordering: .acquiringAndReleasing).exchanged {
                return G.fromOpaque(word)
            }
        }
    }

    /// Owner only: takes half of the queue (plus `extra`) for the global queue when the ring is full.
    func popHalf(into batch: inout [G]) -> Bool {
        let h = head.load(ordering: .acquiring)
        let t = tail.load(ordering: .relaxed)
        let n = (t &- h) / 2
        if n == 0 { return false }
        var taken: [UInt] = []
        taken.reserveCapacity(Int(n))
        for i in 0..<n { taken.append(gr_load_relaxed(slot(h &+ i))) }
        if !head.compareExchange(expected: h, desired: h &+ n, ordering: .acquiringAndReleasing).exchanged {
            return false
        }
        for word in taken { batch.append(G.fromOpaque(word)) }
        return true
    }

    /// Thief: moves half of `victim`'s queue into this (empty, owned) queue and returns one of them to run.
    func steal(from victim: RunQueue) -> G? {
        let myTail = tail.load(ordering: .relaxed)
        while true {
            let h = victim.head.load(ordering: .acquiring)
            let t = victim.tail.load(ordering: .acquiring)
            var n = t &- h
            n = n - n / 2
            if n == 0 { return nil }
            if n > Self.capacity / 2 { continue }  // inconsistent read while the victim moved on
            for i in 0..<n {
                gr_store_relaxed(slot(myTail &+ i), gr_load_relaxed(victim.slot(h &+ i)))
            }
            if victim.head.compareExchange(expected: h, desired: h &+ n, ordering: .acquiringAndReleasing).exchanged {
                // Keep the last stolen G to run now; publish the rest.
                let last = gr_load_relaxed(slot(myTail &+ n &- 1))
                if n > 1 { tail.store(myTail &+ n &- 1, ordering: .releasing) }
                return G.fromOpaque(last)
            }
        }
    }

    /// Owner only: everything, for moving a dying P's work to the global queue.
    func drain() -> [G] {
        var all: [G] = []
        while let g = pop() { all.append(g) }
        return all
    }
}
