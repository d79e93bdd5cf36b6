import CStackSwitch
import Synchronization

/// One goroutine stack: [guardLow, low) is the guard region, [low, high) usable, growing down from high.
struct GoroutineStack {
    var guardLow: UInt
    var low: UInt
    var high: UInt

    var size: Int { Int(high - low) }

    /// A G that has not run yet has no stack: it gets one when it first runs (`Scheduler.execute`), so
    /// goroutines queued faster than they run cost their G and closure only, not a touched stack page.
    static let none = GoroutineStack(guardLow: 0, low: 0, high: 0)
    var isNone: Bool { high == 0 }
}

/// Hands out goroutine stacks carved from large MAP_NORESERVE reservations (pages are committed only when
/// touched). Each stack has a guard region below it installed with MADV_GUARD_INSTALL, which edits page
/// tables instead of creating VMAs, so a million stacks stay far under vm.max_map_count. Where the kernel
/// lacks it, mprotect guards are used for the first `mprotectGuardBudget` stacks (2 VMAs each) and later
/// stacks go unguarded, with a canary word checked at every switch instead.
final class StackAllocator: @unchecked Sendable {
    static let pageSize = 4096
    static let stacksPerReservation = 64
    static let mprotectGuardBudget = 24_000
    /// Written at the lowest usable word of unguarded stacks; a changed canary means the stack overflowed.
    static let canary: UInt = 0x9E37_79B9_7F4A_7C15

    let stackSize: Int
    let guardSize = StackAllocator.pageSize
    private let lock = RuntimeLock()
    private var fresh: [GoroutineStack] = []
    private var reservations = 0
    private var mprotectGuards = 0
    private(set) var guardMode = GuardMode.unknown

    enum GuardMode: String { case unknown, madviseGuard = "MADV_GUARD_INSTALL", mprotect, canary }

    init(stackSize: Int) {
        let pages = max(4, (stackSize + Self.pageSize - 1) / Self.pageSize)
        self.stackSize = pages * Self.pageSize
    }

    /// A new stack, or a fatal error naming the limit when address space runs out.
    func allocate() -> GoroutineStack {
        lock.lock()
        if fresh.isEmpty { reserveMore() }
        let stack = fresh.removeLast()
        lock.unlock()
        return stack
    }

    private func reserveMore() {
        let slot = guardSize + stackSize
        let bytes = slot * Self.stacksPerReservation
        guard let base = gr_stack_reserve(bytes) else {
            fatalRuntimeError("out of memory: cannot reserve \(bytes) bytes for goroutine stacks (stack size \(stackSize) bytes; lower it with GOROUTINES_STACK_SIZE)")
        }
        reservations += 1
        let start = UInt(bitPattern: base)
        for i in (0..<Self.stacksPerReservation).reversed() {
            let guardLow = start + UInt(i * slot)
            var stack = GoroutineStack(guardLow: guardLow, low: guardLow + UInt(guardSize), high: guardLow + UInt(slot))
            installGuard(&stack)
            fresh.append(stack)
        }
    }

    private func installGuard(_ stack: inout GoroutineStack) {
        let allowMprotect = mprotectGuards < Self.mprotectGuardBudget
        switch gr_stack_guard(UnsafeMutableRawPointer(bitPattern: stack.guardLow), guardSize, allowMprotect) {
        case 1:
            guardMode = .madviseGuard
        case 2:
            mprotectGuards += 1
            if guardMode != .madviseGuard { guardMode = .mprotect }
        default:
            // No guard: the region below `low` is ordinary memory; the canary catches overflows late.
            guardMode = .canary
            stack.guardLow = stack.low
            UnsafeMutablePointer<UInt>(bitPattern: stack.low)!.pointee = Self.canary
        }
    }

    /// Address space reserved for stacks (usable part, without guards) and the part handed to goroutines
    /// (live ones and those cached for reuse).
    func usage() -> (inUse: UInt64, reserved: UInt64) {
        lock.lock()
        defer { lock.unlock() }
        let reserved = UInt64(reservations * Self.stacksPerReservation * stackSize)
        return (reserved - UInt64(fresh.count * stackSize), reserved)
    }

    /// Returns the pages of dead goroutines' stacks to the kernel, keeping the address ranges (and the
    /// guards below them) for the goroutines that reuse the Gs. Neighbours in one reservation go in one
    /// madvise: MADV_DONTNEED leaves MADV_GUARD_INSTALL markers and mprotect guards in place.
    static func releasePages(_ stacks: [GoroutineStack]) {
        let sorted = stacks.filter { !$0.isNone }.sorted { $0.low < $1.low }
        var i = 0
        while i < sorted.count {
            var j = i
            while j + 1 < sorted.count && sorted[j + 1].guardLow == sorted[j].high && sorted[j + 1].guardLow != sorted[j + 1].low {
                j += 1
            }
            gr_stack_release(UnsafeMutableRawPointer(bitPattern: sorted[i].low), Int(sorted[j].high - sorted[i].low))
            i = j + 1
        }
        // Unguarded stacks keep their overflow canary in the lowest word, which now reads zero.
        for stack in sorted where stack.guardLow == stack.low {
            UnsafeMutablePointer<UInt>(bitPattern: stack.low)!.pointee = canary
        }
    }

    static func canaryIntact(_ stack: GoroutineStack) -> Bool {
        stack.guardLow != stack.low || UnsafeMutablePointer<UInt>(bitPattern: stack.low)!.pointee == canary
    }
}

/// Goroutine stack figures for the heap profile's `Stack = inuse / sys` line (address space, not resident
/// memory: stack pages are committed by the kernel on first touch).
package enum GoroutineStackUsage {
    package static func current() -> (inUse: UInt64, reserved: UInt64) {
        Scheduler.shared.stacks.usage()
    }
}
