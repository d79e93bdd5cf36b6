import CStackSwitch
import Goroutines
import Profiling

// Goroutine profile cost with many parked goroutines: proto (gzipped) and debug=2 text. With
// `diverse`, goroutine i parks i % 50 frames deep, giving 50 distinct stacks.

@inline(never) func parkDeep(_ depth: Int, _ gate: WaitGroup) {
    if depth == 0 { gate.wait(); return }
    parkDeep(depth - 1, gate)
    blackHole(depth)
}

func benchGoroutineProfile(goroutines: Int, diverse: Bool) -> [BenchResult] {
    let gate = WaitGroup()
    gate.add(1)
    let started = WaitGroup()
    for i in 0..<goroutines {
        started.add(1)
        go {
            started.done()
            parkDeep(diverse ? i % 50 : 0, gate)
        }
    }
    started.wait()
    Go.sleep(for: .milliseconds(200))  // let the last ones reach their park
    let kind = diverse ? "diverse" : "same"
    // Warm the symbolizer once, as a long-running service's would be.
    _ = try? GoroutineProfiles.goroutine().render(.gzippedProto)
    var results: [BenchResult] = []
    var start = gr_nanotime()
    let proto = (try? GoroutineProfiles.goroutine().render(.gzippedProto)) ?? []
    var r = BenchResult(name: "goroutine_profile_proto_\(kind)_x\(goroutines)", ops: goroutines, elapsedNanos: gr_nanotime() - start)
    r.extra["bytes"] = Double(proto.count)
    results.append(r)
    start = gr_nanotime()
    let text = GoroutineProfiles.goroutineTraceback()
    r = BenchResult(name: "goroutine_profile_debug2_\(kind)_x\(goroutines)", ops: goroutines, elapsedNanos: gr_nanotime() - start)
    r.extra["bytes"] = Double(text.utf8.count)
    results.append(r)
    gate.done()
    return results
}
