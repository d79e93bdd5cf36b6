import CSampling
import CStackSwitch
#if canImport(Glibc)
import Glibc
#endif

/// Return addresses of the calling code, leaf first (frame-pointer walk, bounded by the current stack:
/// the goroutine's, or the thread's as pthread reports it). Not for signal handlers.
@inline(never)
func captureCallerStack(maxDepth: Int = 64) -> [UInt] {
    var lo: UInt = 0, hi: UInt = 0
    gr_tls_goroutine_stack(&lo, &hi)
    if lo == 0 { (lo, hi) = currentThreadStackBounds() }
    var buffer = [UInt](repeating: 0, count: maxDepth)
    let fp = gr_current_frame_address()
    let n = buffer.withUnsafeMutableBufferPointer { gr_walk_frame_pointers(fp, lo, hi, $0.baseAddress, maxDepth) }
    return Array(buffer.prefix(n))
}

/// [low, high) of the calling thread's native stack.
func currentThreadStackBounds() -> (UInt, UInt) {
    var lo: UInt = 0, hi: UInt = 0
    gr_thread_stack_bounds(&lo, &hi)
    return (lo, hi)
}

/// Walks a parked or blocked goroutine from its saved registers. The caller holds the G's scan lock.
func walkGoroutineStack(_ g: G, maxDepth: Int) -> [UInt] {
    if g.status == .syscall && g.syscallFP != 0 {
        var buffer = [UInt](repeating: 0, count: maxDepth)
        // The walk from `blockingCall`'s frame starts at its caller: the user code that blocks.
        let n = buffer.withUnsafeMutableBufferPointer {
            gr_walk_frame_pointers(g.syscallFP, g.stack.low, g.stack.high, $0.baseAddress!, maxDepth)
        }
        return Array(buffer.prefix(n))
    }
    // Walking touches a cold stack page per goroutine; a goroutine still parked since the last walk has
    // the same stack, so profiles of many idle goroutines reuse it.
    if g.cachedStackRunCount == g.runCount && g.cachedStackDepth == maxDepth { return g.cachedStack }
    var buffer = [UInt](repeating: 0, count: maxDepth)
    let pc = g.context.pointee.rip, fp = g.context.pointee.rbp
    if pc == 0 || fp == 0 { return [] }  // never ran: only the trampoline is set up
    buffer[0] = pc
    let n = buffer.withUnsafeMutableBufferPointer {
        gr_walk_frame_pointers(fp, g.stack.low, g.stack.high, $0.baseAddress! + 1, maxDepth - 1)
    }
    let stack = Array(buffer.prefix(n + 1))
    g.cachedStack = stack
    g.cachedStackRunCount = g.runCount
    g.cachedStackDepth = maxDepth
    return stack
}
