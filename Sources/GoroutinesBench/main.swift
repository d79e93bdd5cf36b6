import Goroutines
import Profiling
#if canImport(Glibc)
import Glibc
#endif

// Usage: goroutines-bench <benchmark> [size]. Prints one JSON line per result.
let args = CommandLine.arguments
let name = args.count > 1 ? args[1] : "help"
let size = args.count > 2 ? Int(args[2]) : nil

let benchmarks: [String: @Sendable () -> [BenchResult]] = [
    "raw_switch": { [benchRawSwitch(iterations: size ?? 10_000_000)] },
    "spawn_join": { [benchSpawnJoin(iterations: size ?? 200_000)] },
    "fib": { [benchFib(goroutines: size ?? 100_000, n: 20)] },
    "parked": { benchParked(goroutines: size ?? 100_000) },
    "gosched_ping": { [benchGoschedPing(iterations: size ?? 2_000_000)] },
    "sleep": { [benchSleep(goroutines: size ?? 10_000)] },
    "hog_sleep": { [benchHogSleepLag(sleeps: size ?? 50)] },
    "goroutine_profile": {
        benchGoroutineProfile(goroutines: size ?? 10_000, diverse: false)
            + benchGoroutineProfile(goroutines: size ?? 10_000, diverse: true)
    },
    "goroutine_profile_1024": { benchGoroutineProfileDistinctStacks(goroutines: size ?? 20_000) },
    "chan_pingpong": { [benchPingPong(iterations: size ?? 1_000_000, procs: 1), benchPingPong(iterations: size ?? 1_000_000, procs: 2)] },
    "chan_buffered": { [benchBufferedThroughput(items: size ?? 10_000_000, capacity: 1024)] },
    "select_fanin": { [benchSelectFanIn(items: size ?? 1_000_000)] },
    "mutex_contended": { [benchContendedMutex(perGoroutine: size ?? 1_000_000)] },
    "waitgroup_fanout": { [benchWaitGroupFanOut(rounds: size ?? 10_000, width: 100)] },
    "blockprofile_cost": { benchPingPongBlockProfile(iterations: size ?? 1_000_000) },
    "asyncstream_pingpong": { [benchAsyncStreamPingPong(iterations: size ?? 200_000)] },
    "asyncstream_throughput": { [benchAsyncStreamThroughput(items: size ?? 2_000_000)] },
    "net_echo_rtt": { [try! benchEchoRoundTrip(roundTrips: size ?? 100_000)] },
    "net_echo_throughput": { [try! benchEchoThroughput(connections: 100, perConnection: size ?? 1_000)] },
    "net_accept_rate": { [try! benchAcceptRate(connections: size ?? 5_000)] },
    "net_idle_conns": { [try! benchIdleConnections(count: size ?? 10_000)] },
]

// The client process of net_idle_conns (not a benchmark of its own).
if name == "net_idle_client", args.count == 4, let port = Int(args[2]), let count = Int(args[3]) {
    runIdleClients(port: port, count: count)
}

guard let bench = benchmarks[name] else {
    print("usage: goroutines-bench <\(benchmarks.keys.sorted().joined(separator: "|"))> [size]")
    exit(name == "help" ? 0 : 64)
}
Go.main {
    // GOROUTINES_BENCH_CPU_PROFILE=path: a CPU profile of the run (our own profiler), for `go tool pprof`.
    let profilePath = getenv("GOROUTINES_BENCH_CPU_PROFILE").map { String(cString: $0) }
    let recording = try profilePath.map { _ in try CPUProfiler.start(rate: 1000) }
    for result in bench() { print(result.json) }
    if let recording, let profilePath, let file = fopen(profilePath, "w") {
        let bytes = try recording.stop().render(.gzippedProto)
        fwrite(bytes, 1, bytes.count, file)
        fclose(file)
    }
}
