import Goroutines

// Optimized code (this target is built with -O even in debug builds) whose inlining is fixed by
// attributes, for the frame-fidelity golden tests: every goroutine it starts parks on `gate` under a known
// chain of real and inlined frames. The line numbers matter to the tests (FrameFidelityTests): keep them.

/// Starts the fixture's goroutines; they stay parked until `gate` is closed.
public enum InliningFixture {
    /// Ten goroutines from one unrolled loop, parked under an inlined chain below a static method.
    @inline(never)
    public static func spawnWorkers(gate: Channel<Int>) {
        for _ in 0..<10 {
            go { Worker.run(gate) }
        }
    }

    /// One goroutine reaching its park through a protocol witness and a generic function.
    @inline(never)
    public static func spawnJobs(gate: Channel<Int>) {
        go { runGeneric(ParkJob(), gate) }
        go { runExistential(ParkJob(), gate) }
    }
}

enum Worker {
    @inline(never)
    static func run(_ gate: Channel<Int>) {
        outer(gate)
        blackHole(gate)
    }

    @inline(__always)
    static func outer(_ gate: Channel<Int>) {
        middle(gate)
        blackHole(gate)
    }

    @inline(__always)
    static func middle(_ gate: Channel<Int>) {
        park(gate)
        blackHole(gate)
    }
}

@inline(never)
func park(_ gate: Channel<Int>) {
    for _ in gate {}
}

protocol Job {
    func perform(_ gate: Channel<Int>)
}

struct ParkJob: Job {
    @inline(never)
    func perform(_ gate: Channel<Int>) {
        park(gate)
        blackHole(self)
    }
}

@inline(never)
func runGeneric<J: Job>(_ job: J, _ gate: Channel<Int>) {
    job.perform(gate)
    blackHole(job)
}

@inline(never)
func runExistential(_ job: any Job, _ gate: Channel<Int>) {
    job.perform(gate)
    blackHole(gate)
}

@inline(never)
func blackHole<T>(_ value: T) {
    withExtendedLifetime(value) {}
}
