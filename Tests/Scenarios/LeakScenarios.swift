import Synchronization
import Goroutines
import Profiling
#if canImport(Glibc)
import Glibc
#endif

// Leak scenarios (issue 16): a mix of goroutines nothing can wake and waiters something still reaches.
// Every primitive of a leaking goroutine is made inside a function that returns, so no live frame keeps
// it; the reachable ones are held by a global, a sleeping goroutine, a plain thread, or another waiter
// that is itself reachable.

enum LeakGlobals {
    static let channel = Channel<Int>()
    static let otherChannel = Channel<Int>()
}

/// Starts `body` as a goroutine labelled `case: name`.
func spawnLabelled(_ name: String, _ body: @escaping @Sendable () -> Void) {
    Go.withLabels(["case": name]) { go(body) }
}

@inline(never) func spawnLeakingGoroutines() {
    for i in 1...3 {
        let ch = Channel<Int>()
        spawnLabelled("leak-chan\(i)") { _ = ch.receive() }
    }
    let a = Channel<Int>(), b = Channel<String>()
    spawnLabelled("leak-select") {
        select {
            Receive(a) { _ in }
            Receive(b) { _ in }
        }
    }
    let mu = GoMutex()
    let cond = Cond(mu)
    spawnLabelled("leak-cond") {
        mu.lock()
        cond.wait()
    }
    let wg = WaitGroup()
    wg.add(1)
    spawnLabelled("leak-wg") { wg.wait() }
    let self_ = GoMutex()
    spawnLabelled("leak-mutex") {
        self_.lock()
        self_.lock()
    }
    // A chain: the receiver holds the wait group the second one waits on; neither can be woken.
    let chained = Channel<Int>()
    let chainWG = WaitGroup()
    chainWG.add(1)
    spawnLabelled("leak-chain-recv") {
        _ = chained.receive()
        chainWG.done()
    }
    spawnLabelled("leak-chain-wg") { chainWG.wait() }
    spawnLabelled("leak-nilchan") {
        let none: Channel<Int>? = nil
        _ = none.receive()
    }
}

@inline(never) func spawnReachableWaiters() {
    for i in 1...2 {
        spawnLabelled("live-global\(i)") { _ = LeakGlobals.channel.receive() }
    }
    // Held by a goroutine that sleeps (it can run again and send).
    let held = Channel<Int>()
    spawnLabelled("live-held-waiter") { _ = held.receive() }
    spawnLabelled("live-holder") {
        while true {
            Go.sleep(for: .seconds(3600))
            held.send(1)
        }
    }
    // Transitive: A waits on a global channel and holds the wait group B waits on.
    let transitive = WaitGroup()
    transitive.add(1)
    spawnLabelled("live-transitive-a") {
        _ = LeakGlobals.otherChannel.receive()
        transitive.done()
    }
    spawnLabelled("live-transitive-b") { transitive.wait() }
    // A select with a timeout always wakes.
    let never = Channel<Int>()
    spawnLabelled("live-timeout-select") {
        select {
            Receive(never) { _ in }
            Timeout(.seconds(3600)) {}
        }
    }
    // Held only by a plain thread's stack.
    let threadHeld = Channel<Int>()
    spawnLabelled("live-thread-held") { _ = threadHeld.receive() }
    startThreadHolding(threadHeld)
}

final class ThreadBody: @unchecked Sendable {
    let channel: Channel<Int>
    init(_ channel: Channel<Int>) { self.channel = channel }
}

/// Set once the plain thread holds its channel.
let threadStarted = Atomic<Bool>(false)

func startThreadHolding(_ channel: Channel<Int>) {
    let box = Unmanaged.passRetained(ThreadBody(channel)).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(&thread, nil, { raw in
        let body = Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue()
        threadStarted.store(true, ordering: .releasing)
        while true {
            // The leak scan's stop signal interrupts sleep: only a full hour sends.
            if sleep(3600) == 0 { body.channel.send(1) }
        }
    }, box)
    precondition(rc == 0, "pthread_create failed: \(rc)")
}

/// Waits until every labelled goroutine has parked (or is sleeping).
func waitUntilParked(_ count: Int) {
    while true {
        let parked = RuntimeSnapshot.goroutines(withStacks: false).filter { g in
            g.labels.contains { $0.key == "case" } && g.status == .waiting
        }
        if parked.count >= count && threadStarted.load(ordering: .acquiring) { return }
        Go.sleep(for: .milliseconds(1))
    }
}

func leakedCaseNames() -> [String] {
    RuntimeSnapshot.leakedGoroutines(maxDepth: 8).compactMap { g in g.labels.first { $0.key == "case" }?.value }.sorted()
}

let leakScenarios: [String: @Sendable () throws -> Void] = [
    "leak-mix": {
        spawnLeakingGoroutines()
        spawnReachableWaiters()
        waitUntilParked(18)
        let names = leakedCaseNames()
        print("leaked=\(names.count)")
        print("cases=\(names.joined(separator: ","))")
        // Stress: LEAK_RUNS more scans; any waiter that can still be woken reported is a false positive.
        let runs = Int(getenv("LEAK_RUNS").map { String(cString: $0) } ?? "0") ?? 0
        if runs > 0 {
            var falsePositives = 0, differing = 0
            for _ in 0..<runs {
                let again = leakedCaseNames()
                falsePositives += again.filter { $0.hasPrefix("live-") }.count
                if again != names { differing += 1 }
            }
            print("runs=\(runs) false-positives=\(falsePositives) differing=\(differing)")
        }
        let profile = GoroutineProfiles.goroutineLeak()
        print(profile.legacyText().split(separator: "\n").first.map(String.init) ?? "")
        print("marked=\(GoroutineProfiles.leakedGoroutineCount)")
        let dump = GoroutineProfiles.goroutineTraceback()
        print("dump-leaked-headers=\(dump.split(separator: "\n").filter { $0.hasPrefix("goroutine ") && $0.contains("(leaked)") }.count)")
        for line in dump.split(separator: "\n") where line.hasPrefix("goroutine ") && line.contains("leak-chan1") { print(line) }
    },
]

// Deadlock while a debug server runs (issue 16): the report is printed once and the process keeps
// serving, so the deadlock can be inspected over HTTP.
import DebugServer

let deadlockScenarios: [String: @Sendable () throws -> Void] = [
    "deadlock-with-server": {
        let server = DebugServer(configuration: DebugServerConfiguration(address: "127.0.0.1:0"), provider: RuntimePprofProvider())
        try server.start()
        print("port=\(server.boundTCPPort!)")
        fflush(nil)
        let wg = WaitGroup()
        wg.add(1)
        go { wg.wait() }
        wg.wait()
        print("unreachable: a deadlocked main goroutine returned")
    },
]
