import Foundation
import Glibc

// CPU-bound work whose share of CPU time is known exactly: each function measures the CPU time of the
// thread it runs on, in chunks short enough that a goroutine never changes threads inside one.

nonisolated(unsafe) var cpuProfileTestSink: UInt64 = 0

func threadCPUNanos() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
    return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
}

/// Burns `cpuSeconds` of CPU in its own loop (so it is the leaf of its samples).
@inline(never) func cpuProfileTestAlpha(cpuSeconds: Double) {
    var spent: Int64 = 0
    var x: UInt64 = 0x9E37_79B9_7F4A_7C15
    while spent < Int64(cpuSeconds * 1e9) {
        let start = threadCPUNanos()
        var i = 0
        while i < 20_000 {   // a plain loop: a range's iterator is not inlined in debug builds
            x = x &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            x ^= x >> 29
            i &+= 1
        }
        spent += threadCPUNanos() - start
    }
    cpuProfileTestSink &+= x
}

/// The same work under another name.
@inline(never) func cpuProfileTestBeta(cpuSeconds: Double) {
    var spent: Int64 = 0
    var x: UInt64 = 0xD1B5_4A32_D192_ED03
    while spent < Int64(cpuSeconds * 1e9) {
        let start = threadCPUNanos()
        var i = 0
        while i < 20_000 {
            x = x &* 2_862_933_555_777_941_757 &+ 3_037_000_493
            x ^= x >> 31
            i &+= 1
        }
        spent += threadCPUNanos() - start
    }
    cpuProfileTestSink &+= x
}

/// Spends `cpuSeconds` of CPU inside read(2) of /dev/zero, in the kernel.
@inline(never) func cpuProfileTestReadZero(cpuSeconds: Double) {
    let fd = open("/dev/zero", O_RDONLY)
    precondition(fd >= 0, "cannot open /dev/zero")
    defer { close(fd) }
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: 1 << 20, alignment: 4096)
    defer { buffer.deallocate() }
    let start = threadCPUNanos()
    var total = 0
    while threadCPUNanos() - start < Int64(cpuSeconds * 1e9) {
        total &+= read(fd, buffer, 1 << 20)
    }
    cpuProfileTestSink &+= UInt64(truncatingIfNeeded: total)
}
