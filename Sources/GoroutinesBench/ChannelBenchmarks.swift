import CStackSwitch
import Dispatch
import Goroutines
#if canImport(Glibc)
import Glibc
#endif

// Channel, select and sync benchmarks; Tests/GoPeers/channels does the same work in Go, and the
// Swift Concurrency variants (AsyncStream) show what the same exchange costs with async/await.

/// Two goroutines bouncing a value over two unbuffered channels; ops = one-way handoffs.
func benchPingPong(iterations: Int, procs: Int) -> BenchResult {
    let old = Go.setMaxProcs(procs)
    defer { Go.setMaxProcs(old) }
    let ping = Channel<Int>(), pong = Channel<Int>()
    let wg = WaitGroup()
    wg.go {
        while let v = ping.receive() { pong.send(v) }
    }
    let start = gr_nanotime()
    for i in 0..<iterations {
        ping.send(i)
        _ = pong.receive()
    }
    let elapsed = gr_nanotime() - start
    ping.close()
    wg.wait()
    return BenchResult(name: "chan_pingpong_procs\(procs)", ops: iterations * 2, elapsedNanos: elapsed)
}

/// One producer, one consumer, a buffered channel of `capacity`.
func benchBufferedThroughput(items: Int, capacity: Int) -> BenchResult {
    let ch = Channel<Int>(capacity: capacity)
    let wg = WaitGroup()
    let start = gr_nanotime()
    wg.go {
        for i in 0..<items { ch.send(i) }
        ch.close()
    }
    var sum = 0
    for v in ch { sum &+= v }
    wg.wait()
    let elapsed = gr_nanotime() - start
    precondition(sum == items * (items - 1) / 2, "lost or duplicated items")
    return BenchResult(name: "chan_buffered_cap\(capacity)", ops: items, elapsedNanos: elapsed)
}

/// Four producers on their own unbuffered channels, one consumer selecting over all four.
func benchSelectFanIn(items: Int) -> BenchResult {
    let inputs = (0..<4).map { _ in Channel<Int>() }
    let perProducer = items / 4
    for ch in inputs {
        go {
            for i in 0..<perProducer { ch.send(i) }
        }
    }
    let start = gr_nanotime()
    var received = 0
    while received < perProducer * 4 {
        select {
            Receive(inputs[0]) { _ in received += 1 }
            Receive(inputs[1]) { _ in received += 1 }
            Receive(inputs[2]) { _ in received += 1 }
            Receive(inputs[3]) { _ in received += 1 }
        }
    }
    return BenchResult(name: "select_fanin4", ops: received, elapsedNanos: gr_nanotime() - start)
}

/// Four goroutines each locking and unlocking one mutex `perGoroutine` times around a shared counter.
func benchContendedMutex(perGoroutine: Int) -> BenchResult {
    final class Shared: @unchecked Sendable { var counter = 0 }
    let shared = Shared()
    let mutex = GoMutex()
    let wg = WaitGroup()
    let start = gr_nanotime()
    for _ in 0..<4 {
        wg.go {
            for _ in 0..<perGoroutine {
                mutex.lock()
                shared.counter += 1
                mutex.unlock()
            }
        }
    }
    wg.wait()
    let elapsed = gr_nanotime() - start
    precondition(shared.counter == 4 * perGoroutine)
    return BenchResult(name: "mutex_contended4", ops: 4 * perGoroutine, elapsedNanos: elapsed)
}

/// Spawns `width` goroutines that each finish at once, joined by one WaitGroup; repeated `rounds` times.
func benchWaitGroupFanOut(rounds: Int, width: Int) -> BenchResult {
    let start = gr_nanotime()
    for _ in 0..<rounds {
        let wg = WaitGroup()
        for _ in 0..<width { wg.go {} }
        wg.wait()
    }
    return BenchResult(name: "waitgroup_fanout\(width)", ops: rounds * width, elapsedNanos: gr_nanotime() - start)
}

/// Cost of block profiling at rate 1 on the ping-pong (every park is an event), beside rate 0.
func benchPingPongBlockProfile(iterations: Int) -> [BenchResult] {
    var results: [BenchResult] = []
    for rate in [0, 1] {
        Go.setBlockProfileRate(rate)
        var r = benchPingPong(iterations: iterations, procs: 1)
        r.name = "chan_pingpong_blockrate\(rate)"
        results.append(r)
    }
    Go.setBlockProfileRate(0)
    return results
}

// MARK: Swift Concurrency, for contrast

/// The runtime blocks its caller while an async body runs on the cooperative pool (from a goroutine:
/// the bench harness runs inside Go.main, so hand the work to a plain thread's semaphore).
private func runAsync(_ body: @escaping @Sendable () async -> Int64) -> Int64 {
    final class Box: @unchecked Sendable { var value: Int64 = 0 }
    let box = Box()
    let done = DispatchSemaphore(value: 0)
    Task.detached {
        box.value = await body()
        done.signal()
    }
    Go.blockingCall { done.wait() }
    return box.value
}

/// Ping-pong over two AsyncStreams between two tasks.
func benchAsyncStreamPingPong(iterations: Int) -> BenchResult {
    let elapsed = runAsync {
        let (pingStream, ping) = AsyncStream<Int>.makeStream(bufferingPolicy: .unbounded)
        let (pongStream, pong) = AsyncStream<Int>.makeStream(bufferingPolicy: .unbounded)
        let echo = Task {
            for await v in pingStream { pong.yield(v) }
            pong.finish()
        }
        let start = gr_nanotime()
        var iterator = pongStream.makeAsyncIterator()
        for i in 0..<iterations {
            ping.yield(i)
            _ = await iterator.next()
        }
        let elapsed = gr_nanotime() - start
        ping.finish()
        await echo.value
        return elapsed
    }
    return BenchResult(name: "asyncstream_pingpong", ops: iterations * 2, elapsedNanos: elapsed)
}

/// One producer task, one consumer, an AsyncStream buffering up to `capacity` (newest dropped never
/// happens: the consumer keeps up or the producer outpaces it, which is the stream's semantics).
func benchAsyncStreamThroughput(items: Int) -> BenchResult {
    let elapsed = runAsync {
        let (stream, continuation) = AsyncStream<Int>.makeStream(bufferingPolicy: .unbounded)
        let start = gr_nanotime()
        let producer = Task {
            for i in 0..<items { continuation.yield(i) }
            continuation.finish()
        }
        var sum = 0
        for await v in stream { sum &+= v }
        await producer.value
        precondition(sum == items * (items - 1) / 2)
        return gr_nanotime() - start
    }
    return BenchResult(name: "asyncstream_throughput_unbounded", ops: items, elapsedNanos: elapsed)
}
