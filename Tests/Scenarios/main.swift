import Goroutines
#if canImport(Glibc)
import Glibc
#endif

// Small programs that the tests run as subprocesses, one per scenario name, to check exit codes and the
// exact stderr of fatal errors, schedtrace output and behaviour that needs a process of its own.

func fib(_ n: Int) -> Int { n < 2 ? n : fib(n - 1) + fib(n - 2) }

@inline(never) func recurse(_ depth: Int) -> Int {
    var pad = (depth, depth, depth, depth)
    withUnsafeMutablePointer(to: &pad) { _ in }
    return recurse(depth + 1) + pad.0
}

let scenarios: [String: @Sendable () throws -> Void] = [
    "hello": {
        let wg = WaitGroup()
        let results = ResultsBox(count: 100)
        for i in 0..<100 {
            wg.go { results.set(i, fib(15)) }
        }
        wg.wait()
        print("sum=\(results.sum())")
    },
    "deadlock-wg": {
        let wg = WaitGroup()
        wg.add(1)
        wg.wait()
    },
    "goexit-style": {
        // Main blocks forever with nothing else alive: "all goroutines are asleep".
        let wg = WaitGroup()
        wg.add(1)
        go { wg.wait() }
        wg.wait()
    },
    "panic": {
        struct Kaboom: Error, CustomStringConvertible { var description: String { "kaboom" } }
        throw Kaboom()
    },
    "negative-wg": {
        WaitGroup().done()
    },
    "stack-overflow": {
        let wg = WaitGroup()
        wg.go { _ = recurse(0) }
        wg.wait()
    },
    "syscall-handoff": {
        // GOMAXPROCS=1: one goroutine blocks its thread for 200 ms; the other counts how often it ran meanwhile.
        Go.setMaxProcs(1)
        let state = ResultsBox(count: 2)  // [0]: 1 while inside the blocking call, [1]: progress during it
        let wg = WaitGroup()
        wg.go {
            state.set(0, 1)
            Go.blockingCall { _ = usleep(200_000) }
            state.set(0, 2)
        }
        wg.go {
            while state.get(0) != 2 {
                if state.get(0) == 1 { state.set(1, state.get(1) + 1) }
                Go.yield()
            }
        }
        wg.wait()
        print("progress=\(state.get(1))")
    },
    "sleep": {
        let start = ContinuousClock.now
        Go.sleep(for: .milliseconds(50))
        print("slept=\((ContinuousClock.now - start) >= .milliseconds(50))")
    },
    "schedtrace": {
        let wg = WaitGroup()
        for _ in 0..<4 {
            wg.go {
                let end = ContinuousClock.now + .milliseconds(1200)
                while ContinuousClock.now < end { _ = fib(20); Go.yield() }
            }
        }
        wg.wait()
    },
    // Channels and sync (issue 3): Go 1.27's fatal messages and deadlock reports.
    "send-on-closed": {
        let ch = Channel<Int>(capacity: 1)
        ch.close()
        ch.send(1)
    },
    "close-closed": {
        let ch = Channel<Int>()
        ch.close()
        ch.close()
    },
    "close-nil": {
        let ch: Channel<Int>? = nil
        ch.close()
    },
    "blocked-sender-sees-close": {
        let ch = Channel<Int>()
        go {
            Go.sleep(for: .milliseconds(20))
            ch.close()
        }
        ch.send(1)
    },
    "deadlock-chan": {
        _ = Channel<Int>().receive()
    },
    "deadlock-nilchan": {
        let ch: Channel<Int>? = nil
        _ = ch.receive()
    },
    "deadlock-select-no-cases": {
        let ch = Channel<Int>()
        go { ch.send(1) }
        select {}
    },
    "deadlock-select": {
        let a = Channel<Int>(), b = Channel<String>()
        select {
            Receive(a) { _ in }
            Receive(b) { _ in }
        }
    },
    "deadlock-mutex": {
        let m = GoMutex()
        m.lock()
        m.lock()
    },
    "unlock-unlocked-mutex": {
        GoMutex().unlock()
    },
    "timeout-is-not-deadlock": {
        let ch = Channel<Int>()
        var timedOut = false
        select {
            Receive(ch) { _ in }
            Timeout(.milliseconds(30)) { timedOut = true }
        }
        let (ctx, cancel) = Context.background.withTimeout(.milliseconds(30))
        defer { cancel() }
        _ = ctx.done.receive()
        print("timedOut=\(timedOut) err=\(ctx.err!)")
    },
    "hog-while-main-waits": {
        // GOMAXPROCS goroutines spin without yielding for 300 ms while main sleeps 1 ms twenty times and
        // then waits for them: main needs a P the spinners hold, and a hog must not look like a deadlock.
        let hogs = Go.maxProcs
        let wg = WaitGroup()
        for _ in 0..<hogs {
            wg.go {
                let end = ContinuousClock.now + .milliseconds(300)
                while ContinuousClock.now < end {}
            }
        }
        Go.sleep(for: .milliseconds(1))
        var slept = 0
        for _ in 0..<20 {
            Go.sleep(for: .milliseconds(1))
            slept += 1
        }
        wg.wait()
        print("slept=\(slept) hogs=\(hogs)")
    },
    "grow-procs-while-stealing": {
        // Ms look for work on every P while GOMAXPROCS grows to new, never-created Ps (issue 15's
        // TestSelectStress crash: `procs` was raised before those Ps existed).
        Go.setMaxProcs(2)
        let state = ResultsBox(count: 1)
        let wg = WaitGroup()
        for _ in 0..<8 {
            wg.go { while state.get(0) == 0 { Go.yield() } }
        }
        for n in [16, 64, 256, 1024] {
            Go.setMaxProcs(n)
            Go.sleep(for: .milliseconds(2))
        }
        state.set(0, 1)
        wg.wait()
        print("procs=\(Go.maxProcs)")
    },
]

/// Shared results with plain synchronization (the scenarios test the runtime, not Swift concurrency).
final class ResultsBox: @unchecked Sendable {
    private var values: [Int]
    private let lock = NSLockish()
    init(count: Int) { values = Array(repeating: 0, count: count) }
    func set(_ i: Int, _ v: Int) { lock.locked { values[i] = v } }
    func get(_ i: Int) -> Int { lock.locked { values[i] } }
    func sum() -> Int { lock.locked { values.reduce(0, +) } }
}

final class NSLockish: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    init() { pthread_mutex_init(&mutex, nil) }
    func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return body()
    }
}

let args = CommandLine.arguments
let allScenarios = scenarios.merging(leakScenarios) { first, _ in first }.merging(deadlockScenarios) { first, _ in first }.merging(trapScenarios) { first, _ in first }.merging(netScenarios) { first, _ in first }
guard args.count == 2, let scenario = allScenarios[args[1]] else {
    let names = allScenarios.keys.sorted().joined(separator: ", ")
    print("usage: \(args.first ?? "scenarios") <scenario>\nscenarios: \(names)")
    exit(64)
}
Go.main(scenario)
