import CStackSwitch
import Goroutines
import Profiling

// Goroutine profile cost with many parked goroutines: proto (gzipped) and debug=2 text. With
// `diverse`, goroutine i parks i % 50 frames deep, giving 50 distinct stacks. `goroutine_profile_1024`
// parks 20,000 goroutines in 1,024 distinct stacks (ten levels of two functions, chosen by the bits of
// i % 1024) and also times the debug=1 text.

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

// The two levels differ in what they do after the call, so the optimizer can neither merge them nor
// share one call site between them: every bit pattern is a distinct stack.
@inline(never) func parkBitZero(_ bits: Int, _ depth: Int, _ gate: WaitGroup) {
    parkByBits(bits, depth, gate)
    blackHole("zero \(depth)")
}

@inline(never) func parkBitOne(_ bits: Int, _ depth: Int, _ gate: WaitGroup) {
    parkByBits(bits, depth, gate)
    blackHole([bits, depth])
}

/// Parks after `depth` more levels, each through `parkBitOne` or `parkBitZero` by the low bit of `bits`.
@inline(never) func parkByBits(_ bits: Int, _ depth: Int, _ gate: WaitGroup) {
    if depth == 0 { gate.wait(); return }
    if bits & 1 == 1 {
        parkBitOne(bits >> 1, depth - 1, gate)
        blackHole(1.5)
    } else {
        parkBitZero(bits >> 1, depth - 1, gate)
        blackHole(Int8(2))
    }
}

func benchGoroutineProfileDistinctStacks(goroutines: Int) -> [BenchResult] {
    let gate = WaitGroup()
    gate.add(1)
    let started = WaitGroup()
    for i in 0..<goroutines {
        started.add(1)
        go {
            started.done()
            parkByBits(i % 1024, 10, gate)
        }
    }
    started.wait()
    Go.sleep(for: .milliseconds(300))  // let the last ones reach their park
    _ = try? GoroutineProfiles.goroutine().render(.gzippedProto)  // warm the symbolizer
    var results: [BenchResult] = []
    func measure(_ name: String, _ body: () -> Int) {
        var best = Int64.max
        var bytes = 0
        for _ in 0..<15 {
            let start = gr_nanotime()
            bytes = body()
            best = min(best, gr_nanotime() - start)
        }
        var r = BenchResult(name: "goroutine_profile_\(name)_1024stacks_x\(goroutines)", ops: goroutines,
                            elapsedNanos: best)
        r.extra["bytes"] = Double(bytes)
        results.append(r)
    }
    measure("proto") { ((try? GoroutineProfiles.goroutine().render(.gzippedProto)) ?? []).count }
    measure("debug1") { GoroutineProfiles.goroutine().legacyText().utf8.count }
    measure("debug2") { GoroutineProfiles.goroutineTraceback().utf8.count }
    gate.done()
    return results
}
