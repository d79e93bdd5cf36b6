// CPU profiler overhead: the same CPU-bound work (FNV-1a hashing of a buffer that changes every round,
// three calls deep) with profiling off and at 100 Hz, interleaved so machine noise hits both alike.
// Prints one JSON line per pair and a summary line; Tests/GoPeers/cpu is the Go peer doing the same.
//
//   swift run -c release CPUProfileBench [pairs] [rate]
import Foundation
import Glibc
import Profiling

func threadCPUNanos() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
    return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
}

func processCPUNanos() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now)
    return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
}

@inline(never) func fnv1a(_ buffer: UnsafeMutableBufferPointer<UInt8>) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in buffer {
        hash ^= UInt64(byte)
        hash &*= 0x100_0000_01b3
    }
    return hash
}

@inline(never) func mutateAndHash(_ buffer: UnsafeMutableBufferPointer<UInt8>, round: Int) -> UInt64 {
    buffer[round % buffer.count] &+= UInt8(truncatingIfNeeded: round)
    return fnv1a(buffer)
}

@inline(never) func workload(rounds: Int) -> UInt64 {
    let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 4096)
    defer { buffer.deallocate() }
    for i in 0..<buffer.count { buffer[i] = UInt8(truncatingIfNeeded: i &* 31) }
    var checksum: UInt64 = 0
    for round in 0..<rounds { checksum ^= mutateAndHash(buffer, round: round) }
    return checksum
}

struct Measurement {
    var wallNanos: Int64
    var threadCPUNanos: Int64
    var processCPUNanos: Int64
}

func measure(rounds: Int, profiled: Bool, rate: Int) throws -> (Measurement, Int64) {
    let recording = profiled ? try CPUProfiler.start(rate: rate) : nil
    let wall0 = DispatchTime.now().uptimeNanoseconds, thread0 = threadCPUNanos(), process0 = processCPUNanos()
    let checksum = workload(rounds: rounds)
    let thread1 = threadCPUNanos(), process1 = processCPUNanos(), wall1 = DispatchTime.now().uptimeNanoseconds
    var samples: Int64 = 0
    if let recording {
        let profile = recording.stop()
        samples = profile.samples.reduce(0) { $0 + $1.count }
        // Keep the last profile for a look at where the profiler's own time goes.
        if let path = ProcessInfo.processInfo.environment["CPU_PROFILE_BENCH_OUT"] {
            try? Data(try profile.render(.gzippedProto)).write(to: URL(fileURLWithPath: path))
        }
    }
    precondition(checksum != 42)
    return (Measurement(wallNanos: Int64(wall1 - wall0), threadCPUNanos: thread1 - thread0,
                        processCPUNanos: process1 - process0), samples)
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
}

let arguments = CommandLine.arguments
let pairs = arguments.count > 1 ? Int(arguments[1]) ?? 7 : 7
let rate = arguments.count > 2 ? Int(arguments[2]) ?? 100 : 100
let rounds = 120_000   // about half a second per run in a release build

_ = workload(rounds: rounds / 4)   // warm up
var cpuOverheads: [Double] = [], processOverheads: [Double] = [], wallOverheads: [Double] = []
for pair in 0..<pairs {
    // Alternate which goes first, so drift in machine load does not favour one side.
    let offFirst = pair % 2 == 0
    var off = Measurement(wallNanos: 0, threadCPUNanos: 0, processCPUNanos: 0), on = off, samples: Int64 = 0
    for profiled in offFirst ? [false, true] : [true, false] {
        let (m, s) = try measure(rounds: rounds, profiled: profiled, rate: rate)
        if profiled { on = m; samples = s } else { off = m }
    }
    let cpu = Double(on.threadCPUNanos - off.threadCPUNanos) / Double(off.threadCPUNanos) * 100
    let process = Double(on.processCPUNanos - off.processCPUNanos) / Double(off.processCPUNanos) * 100
    let wall = Double(on.wallNanos - off.wallNanos) / Double(off.wallNanos) * 100
    cpuOverheads.append(cpu)
    processOverheads.append(process)
    wallOverheads.append(wall)
    print("{\"name\":\"cpu_profile_overhead_pair\",\"impl\":\"swift\",\"rate\":\(rate),\"off_cpu_ms\":\(Double(off.threadCPUNanos) / 1e6),\"on_cpu_ms\":\(Double(on.threadCPUNanos) / 1e6),\"off_wall_ms\":\(Double(off.wallNanos) / 1e6),\"on_wall_ms\":\(Double(on.wallNanos) / 1e6),\"samples\":\(samples),\"thread_cpu_overhead_pct\":\(cpu),\"process_cpu_overhead_pct\":\(process),\"wall_overhead_pct\":\(wall)}")
}
print("{\"name\":\"cpu_profile_overhead\",\"impl\":\"swift\",\"rate\":\(rate),\"pairs\":\(pairs),\"median_thread_cpu_overhead_pct\":\(median(cpuOverheads)),\"median_process_cpu_overhead_pct\":\(median(processOverheads)),\"median_wall_overhead_pct\":\(median(wallOverheads))}")

// The profiler's own cost with nothing to sample: the collector's ticks (thread rescans, ring drains).
let idleSeconds = Double(ProcessInfo.processInfo.environment["CPU_PROFILE_BENCH_IDLE_SECONDS"] ?? "2") ?? 2
let idle0 = processCPUNanos()
let idleRecording = try CPUProfiler.start(rate: rate)
Thread.sleep(forTimeInterval: idleSeconds)
let idleProfile = idleRecording.stop()
let idleCPU = Double(processCPUNanos() - idle0) / 1e6
if let path = ProcessInfo.processInfo.environment["CPU_PROFILE_BENCH_IDLE_OUT"] {
    try? Data(try idleProfile.render(.gzippedProto)).write(to: URL(fileURLWithPath: path))
}
print("{\"name\":\"cpu_profile_idle_cost\",\"impl\":\"swift\",\"rate\":\(rate),\"seconds\":\(idleSeconds),\"process_cpu_ms\":\(idleCPU),\"process_cpu_ms_per_s\":\(idleCPU / idleSeconds)}")
