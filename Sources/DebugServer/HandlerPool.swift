// Worker threads that build responses, so the socket loop never waits on a profile.
//
// Two lanes, so expensive profiles cannot pile up:
// * shared lanes (one per profile name, the index, symbol): at most
//   `maxConcurrentRendersPerProfile` run at once, up to `maxQueuedPerProfile` more wait in FIFO order,
//   and any request beyond that is answered 429 at once;
// * exclusive lanes (`seconds=N` delta profiles per profile name, the CPU profile): one at a time on a
//   thread of its own (it mostly sleeps), a second request gets the lane's "busy" answer at once
//   (Go's 500 for CPU, 429 for deltas);
// * a thread of its own with no lane limit, for long-lived streams (schedtrace) whose number the route
//   bounds itself.
// These are plain OS threads: the server must keep answering while the goroutine scheduler is wedged.
import CDebugServerSupport
import Foundation

struct WorkItem: Sendable {
    enum Lane: Sendable {
        case shared(key: String)
        case exclusive(key: String, busy: HTTPResponse)
        case ownThread
    }

    var lane: Lane
    var run: @Sendable (CancellationCheck) -> HTTPResponse
}

final class HandlerPool: @unchecked Sendable {
    private struct Job {
        var key: String
        var item: WorkItem
        var cancel: CancellationCheck
        var completion: @Sendable (HTTPResponse) -> Void
    }

    private let condition = NSCondition()
    // All below guarded by `condition`.
    private var queue: [Job] = []
    private var runningPerKey: [String: Int] = [:]
    private var queuedPerKey: [String: Int] = [:]
    private var exclusiveBusy: Set<String> = []
    private var stopping = false
    private var liveWorkers = 0

    private let maxRunningPerKey: Int
    private let maxQueuedPerKey: Int
    private let budget: ResponseMemoryBudget

    init(workerThreads: Int, maxRunningPerKey: Int, maxQueuedPerKey: Int, budget: ResponseMemoryBudget) {
        self.budget = budget
        self.maxRunningPerKey = maxRunningPerKey
        self.maxQueuedPerKey = maxQueuedPerKey
        liveWorkers = workerThreads
        for index in 0..<workerThreads {
            let thread = Thread { [self] in
                cdebugserver_name_current_thread("pprof-worker-\(index)")
                workerLoop()
            }
            thread.start()
        }
    }

    /// Queues `item`; `completion` runs on a worker thread with the response. Returns the immediate
    /// answer instead when the item's lane is full.
    func submit(_ item: WorkItem, cancel: CancellationCheck,
                completion: @escaping @Sendable (HTTPResponse) -> Void) -> HTTPResponse? {
        condition.lock()
        defer { condition.unlock() }
        if stopping { return HTTPResponse(status: 503, headers: plainTextHeaders, text: "server is shutting down\n") }
        switch item.lane {
        case .exclusive(let key, let busy):
            if exclusiveBusy.contains(key) { return busy }
            exclusiveBusy.insert(key)
            startLongRunning(item, cancel: cancel, completion: completion) { [self] in
                condition.lock()
                exclusiveBusy.remove(key)
                condition.unlock()
            }
            return nil
        case .ownThread:
            startLongRunning(item, cancel: cancel, completion: completion) {}
            return nil
        case .shared(let key):
            let running = runningPerKey[key, default: 0]
            let queued = queuedPerKey[key, default: 0]
            if running >= maxRunningPerKey && queued >= maxQueuedPerKey {
                return pprofErrorResponse(
                    status: 429, message: "too many requests for this profile in flight; retry later")
            }
            queue.append(Job(key: key, item: item, cancel: cancel, completion: completion))
            queuedPerKey[key] = queued + 1
            condition.signal()
            return nil
        }
    }

    /// Runs `item` on a thread of its own (it mostly sleeps); `finished` runs when its answer is built
    /// and, for a streamed body, written.
    private func startLongRunning(_ item: WorkItem, cancel: CancellationCheck,
                                  completion: @escaping @Sendable (HTTPResponse) -> Void,
                                  finished: @escaping @Sendable () -> Void) {
        let thread = Thread { [budget] in
            cdebugserver_name_current_thread("pprof-long")
            let response = item.run(cancel)
            if let produce = response.producer {
                runStreamingResponse(head: response, produce: produce, budget: budget, deliver: completion)
                finished()
            } else {
                finished()
                completion(response)
            }
        }
        thread.start()
    }

    /// Lets queued jobs finish (their cancellation flags are raised by the server) and ends the
    /// workers. Returns without waiting for them.
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }

    private func workerLoop() {
        condition.lock()
        while true {
            if let index = queue.firstIndex(where: { runningPerKey[$0.key, default: 0] < maxRunningPerKey }) {
                let job = queue.remove(at: index)
                queuedPerKey[job.key, default: 1] -= 1
                if queuedPerKey[job.key] == 0 { queuedPerKey[job.key] = nil }
                runningPerKey[job.key, default: 0] += 1
                condition.unlock()
                // Run even if the client already left: a half-closed client still reads the answer
                // (as with Go), and handlers that poll `cancel` stop early anyway.
                let response = job.item.run(job.cancel)
                // A streamed body is written here, holding the lane's slot: a slow reader slows its
                // own lane, and the number of bodies being built at once stays bounded.
                var delivered = false
                if let produce = response.producer {
                    runStreamingResponse(head: response, produce: produce, budget: budget, deliver: job.completion)
                    delivered = true
                }
                condition.lock()
                runningPerKey[job.key, default: 1] -= 1
                if runningPerKey[job.key] == 0 { runningPerKey[job.key] = nil }
                condition.broadcast()
                condition.unlock()
                if !delivered { job.completion(response) }
                condition.lock()
                continue
            }
            if stopping && queue.isEmpty { break }
            condition.wait()
        }
        liveWorkers -= 1
        condition.unlock()
    }
}
