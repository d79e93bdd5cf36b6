// The families `/metrics` serves, read at scrape time from the runtime's read-only snapshot API,
// glibc's malloc statistics and /proc. Names, types and help texts are client_golang's (its Go and
// process collectors, with `/sched/gomaxprocs:threads` and `/sched/latencies:seconds` enabled) so
// dashboards built for Go services work unchanged; what has no honest counterpart here is left out
// rather than faked: no `go_gc_duration_seconds` or `go_memstats_*gc*` (there is no collector), no
// `go_memstats_mallocs_total`/`frees_total`/`alloc_bytes_total` (the malloc interposer samples, it does
// not count every call), no `go_memstats_sys_bytes` (no single figure for everything obtained from the
// system). Our own figures carry the `goroutines_` prefix.
import Goroutines
import Profiling

struct RuntimeMetrics {
    let requestCounters: RequestCounters

    func families() -> [MetricFamily] {
        var families: [MetricFamily] = []
        let summary = RuntimeSnapshot.summary()
        families.append(gauge("go_goroutines", "Number of goroutines that currently exist.",
                              Double(RuntimeSnapshot.goroutineCount)))
        families.append(gauge("go_threads", "Number of OS threads created.", Double(summary.threads)))
        families.append(MetricFamily(name: "go_info", help: "Information about the Go environment.", kind: .gauge,
                                     samples: [MetricSample(labels: [("version", runtimeVersion)], value: 1)]))
        families.append(gauge(
            "go_sched_gomaxprocs_threads",
            "The current runtime.GOMAXPROCS setting, or the number of operating system threads that can execute user-level Go code simultaneously. Sourced from /sched/gomaxprocs:threads.",
            Double(summary.gomaxprocs)))
        families.append(schedulingLatencyFamily())
        families += memoryFamilies()
        families += processFamilies()
        families += goroutineFamilies()
        families += contentionFamilies()
        families.append(requestFamily())
        return families
    }

    /// Go's histogram folded to client_golang's buckets: upper bounds are the next double below each
    /// lower edge (6.399999999999999e-08 for 64 ns), as client_golang turns exclusive edges inclusive.
    private func schedulingLatencyFamily() -> MetricFamily {
        let latencies = RuntimeSnapshot.schedulingLatencies()
        var cumulative: UInt64 = 0
        var buckets: [(upperBound: Double, cumulativeCount: UInt64)] = []
        for (index, edge) in latencies.bucketEdgesNanoseconds.enumerated() {
            cumulative += latencies.counts[index]
            buckets.append((upperBound: (Double(edge) / 1e9).nextDown, cumulativeCount: cumulative))
        }
        let total = latencies.counts.reduce(0, +)
        return MetricFamily(
            name: "go_sched_latencies_seconds",
            help: "Distribution of the time goroutines have spent in the scheduler in a runnable state before actually running. Bucket counts increase monotonically. Sourced from /sched/latencies:seconds.",
            kind: .histogram,
            histograms: [MetricHistogram(buckets: buckets, count: total, sum: Double(latencies.sumNanoseconds) / 1e9)])
    }

    /// glibc malloc's figures under the MemStats names whose meaning carries over (HeapMemoryStatistics).
    private func memoryFamilies() -> [MetricFamily] {
        let heap = HeapMemoryStatistics.current()
        return [
            gauge("go_memstats_alloc_bytes", "Number of bytes allocated in heap and currently in use. Here: bytes in live malloc blocks (glibc mallinfo2 uordblks + hblkhd).",
                  Double(heap.heapInUse)),
            gauge("go_memstats_heap_alloc_bytes", "Number of heap bytes allocated and currently in use, same as go_memstats_alloc_bytes. Here: bytes in live malloc blocks.",
                  Double(heap.heapInUse)),
            gauge("go_memstats_heap_inuse_bytes", "Number of heap bytes that are in use. Here: bytes in live malloc blocks.",
                  Double(heap.heapInUse)),
            gauge("go_memstats_heap_sys_bytes", "Number of heap bytes obtained from system. Here: malloc arenas plus mmapped blocks.",
                  Double(heap.heapSystem)),
            gauge("go_memstats_heap_idle_bytes", "Number of heap bytes waiting to be used. Here: free bytes inside malloc arenas.",
                  Double(heap.heapIdle)),
        ]
    }

    private func processFamilies() -> [MetricFamily] {
        guard let process = ProcessStatistics.current() else { return [] }
        return [
            MetricFamily(name: "process_cpu_seconds_total", help: "Total user and system CPU time spent in seconds.",
                         kind: .counter, samples: [MetricSample(value: process.cpuSeconds)]),
            gauge("process_open_fds", "Number of open file descriptors.", Double(process.openFileDescriptors)),
            gauge("process_max_fds", "Maximum number of open file descriptors.", process.maxFileDescriptors),
            gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", process.virtualBytes),
            gauge("process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes.",
                  process.maxVirtualBytes),
            gauge("process_resident_memory_bytes", "Resident memory size in bytes.", process.residentBytes),
            gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
                  process.startTimeSeconds),
        ]
    }

    /// Goroutines by state, and waiting ones by Go's wait-reason string (a quick look: no stacks walked).
    private func goroutineFamilies() -> [MetricFamily] {
        var byState: [String: Int] = [:]
        var byReason: [String: Int] = [:]
        for goroutine in RuntimeSnapshot.goroutines(withStacks: false) {
            byState[goroutine.status.metricsLabel, default: 0] += 1
            if goroutine.status == .waiting { byReason[goroutine.waitReason.description, default: 0] += 1 }
        }
        for state in ["runnable", "running", "syscall", "waiting"] where byState[state] == nil { byState[state] = 0 }
        return [
            MetricFamily(name: "goroutines_state_goroutines", help: "Live goroutines by scheduling state.", kind: .gauge,
                         samples: byState.sorted { $0.key < $1.key }.map {
                             MetricSample(labels: [("state", $0.key)], value: Double($0.value))
                         }),
            MetricFamily(name: "goroutines_waiting_goroutines",
                         help: "Waiting goroutines by wait reason, as goroutine dumps print it.", kind: .gauge,
                         samples: byReason.sorted { $0.key < $1.key }.map {
                             MetricSample(labels: [("reason", $0.key)], value: Double($0.value))
                         }),
            MetricFamily(name: "goroutines_created_total", help: "Goroutines started since the program began.",
                         kind: .counter, samples: [MetricSample(value: Double(RuntimeSnapshot.goroutinesCreated))]),
        ]
    }

    /// Totals of the block and mutex profiles' records (what their rate and fraction let through).
    private func contentionFamilies() -> [MetricFamily] {
        func totals(_ records: [ContentionBucketRecord]) -> (events: Double, seconds: Double) {
            records.reduce((0, 0)) { ($0.events + Double($1.count), $0.seconds + Double($1.delayNanoseconds) / 1e9) }
        }
        let block = totals(Go.blockProfileRecords()), mutex = totals(Go.mutexProfileRecords())
        func counter(_ name: String, _ help: String, _ value: Double) -> MetricFamily {
            MetricFamily(name: name, help: help, kind: .counter, samples: [MetricSample(value: value)])
        }
        return [
            counter("goroutines_block_events_total",
                    "Blocking events recorded by the block profile (see Go.setBlockProfileRate).", block.events),
            counter("goroutines_block_delay_seconds_total", "Time spent blocked in the block profile's events.",
                    block.seconds),
            counter("goroutines_mutex_events_total",
                    "Contended unlocks recorded by the mutex profile (see Go.setMutexProfileFraction).", mutex.events),
            counter("goroutines_mutex_delay_seconds_total", "Waiting time recorded by the mutex profile.", mutex.seconds),
        ]
    }

    private func requestFamily() -> MetricFamily {
        MetricFamily(
            name: "goroutines_debug_server_requests_total",
            help: "Requests the debug server answered, by route and HTTP status.", kind: .counter,
            samples: requestCounters.snapshot().map {
                MetricSample(labels: [("code", String($0.code)), ("route", $0.route)], value: Double($0.count))
            })
    }

    private func gauge(_ name: String, _ help: String, _ value: Double) -> MetricFamily {
        MetricFamily(name: name, help: help, kind: .gauge, samples: [MetricSample(value: value)])
    }
}

/// `go_info{version=…}`: the Swift toolchain this was built with, since there is no Go version.
private let runtimeVersion: String = {
    #if compiler(>=6.4)
    return "swift6.4"
    #elseif compiler(>=6.3)
    return "swift6.3"
    #elseif compiler(>=6.2)
    return "swift6.2"
    #else
    return "swift6"
    #endif
}()

private extension GoroutineStatus {
    var metricsLabel: String {
        switch self {
        case .runnable: return "runnable"
        case .running: return "running"
        case .syscall: return "syscall"
        case .waiting: return "waiting"
        default: return "other"
        }
    }
}
