// The collector of a running CPU profile: its own OS thread (never a goroutine, so a wedged scheduler
// cannot stall it) that wakes every tick to give new threads their CPU timers and to drain the
// per-thread sample rings into a table of (stack, labels) -> count.
//
// Labels arrive as the address of the goroutine's label set. They are read here, a tick after the
// sample, which is safe because `LabelSetRetention` keeps every set the runtime drops alive until the
// drain that follows its retirement has run.
import CSampling
import CStackSwitch
import Foundation
import Goroutines
import Synchronization

final class CPUProfileSession: @unchecked Sendable {
    /// How often the collector drains the rings and looks for new threads. The rings hold about 60
    /// deep samples each, over half a second at 100 Hz.
    static let tick: Double = 0.02

    private static let running = Atomic<Bool>(false)
    static var isRunning: Bool { running.load(ordering: .acquiring) }

    let rate: Int
    private let startWallNanos = currentUnixNanos()
    private let startMonotonic = DispatchTime.now().uptimeNanoseconds

    // Shared with stop(), under `condition`.
    private let condition = NSCondition()
    private var stopRequested = false
    private var stopMonotonic: UInt64 = 0
    private var result: CPUProfile?

    // Collector thread only.
    private let aggregate = CPUSampleAggregate()
    private var comments: [String] = []

    private init(rate: Int) {
        self.rate = rate
    }

    static func start(rate: Int) throws(CPUProfilerError) -> CPUProfileSession {
        guard running.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            throw .alreadyInUse
        }
        LabelSetRetention.begin()
        var code: Int32 = 0
        let status = gr_cpuprof_start(Int32(rate), &code)
        guard status == GR_CPUPROF_OK else {
            LabelSetRetention.end()
            running.store(false, ordering: .releasing)
            switch status {
            case GR_CPUPROF_BUSY: throw .alreadyInUse
            case GR_CPUPROF_FOREIGN_HANDLER: throw .foreignSignalHandler
            case GR_CPUPROF_BAD_RATE: throw .rateOutOfRange(rate, maximum: CPUProfiler.maximumRate)
            case GR_CPUPROF_NO_MEMORY: throw .systemCallFailed("mmap of the sample rings", errno: code)
            default: throw .systemCallFailed("sigaction(SIGPROF)", errno: code)
            }
        }
        let session = CPUProfileSession(rate: rate)
        session.coverNewThreads()   // every thread alive now gets its timer before start returns
        guard CollectorThread.start({ session.collect() }) else {
            gr_cpuprof_stop()
            LabelSetRetention.end()
            running.store(false, ordering: .releasing)
            throw .systemCallFailed("pthread_create for the collector thread", errno: EAGAIN)
        }
        return session
    }

    /// Asks the collector to finish and waits for its result (the same result on every call).
    func stop() -> CPUProfile {
        condition.lock()
        defer { condition.unlock() }
        if !stopRequested {
            stopRequested = true
            stopMonotonic = DispatchTime.now().uptimeNanoseconds
            condition.broadcast()
        }
        while result == nil { condition.wait() }
        return result!
    }

    private func collect() {
        while true {
            condition.lock()
            if !stopRequested { _ = condition.wait(until: Date(timeIntervalSinceNow: Self.tick)) }
            let stopping = stopRequested
            condition.unlock()
            if stopping { break }
            coverNewThreads()
            drain()
        }
        gr_cpuprof_stop()   // no handler writes after this
        drain()
        LabelSetRetention.end()
        let uncovered = gr_cpuprof_uncovered_threads()
        if uncovered > 0 {
            comments.append("\(uncovered) threads got no CPU timer (more than \(GR_CPUPROF_SLOTS) threads, or timer_create failed): their CPU time is missing")
        }
        condition.lock()
        let duration = Int64(stopMonotonic - startMonotonic)
        result = CPUProfile(rate: rate, timeNanos: startWallNanos, durationNanos: duration,
                            samples: aggregate.samples, lostSamples: aggregate.lost, comments: comments)
        Self.running.store(false, ordering: .releasing)
        condition.broadcast()
        condition.unlock()
    }

    private var newThreadIDs = [Int32](repeating: 0, count: 256)

    private func coverNewThreads() {
        let added = newThreadIDs.withUnsafeMutableBufferPointer { gr_cpuprof_cover_threads($0.baseAddress, $0.count) }
        let tids = newThreadIDs
        for tid in tids.prefix(min(added, tids.count)) {
            if let name = ThreadSignalMask.nameIfBlockingSIGPROF(tid: tid) {
                comments.append("thread \(tid) (\(name)) blocks SIGPROF: its CPU time is sampled only when it unblocks the signal")
            }
        }
    }

    private func drain() {
        // Sets retired before this point may be named by samples in the rings: keep them until read.
        let retired = LabelSetRetention.takeRetired()
        withExtendedLifetime(retired) {
            aggregate.drainRings()
        }
    }
}

/// (stack, labels) -> count, in order of first appearance.
final class CPUSampleAggregate {
    private var index: [CPUProfile.Sample: Int] = [:]
    private(set) var samples: [CPUProfile.Sample] = []
    private(set) var lost: Int64 = 0
    private var labelsByWord: [UInt: [Label]] = [:]

    func drainRings() {
        var lostNow: UInt64 = 0
        let context = Unmanaged.passUnretained(self).toOpaque()
        gr_cpuprof_drain({ sample, context in
            Unmanaged<CPUSampleAggregate>.fromOpaque(context!).takeUnretainedValue().add(sample!.pointee)
        }, context, &lostNow)
        lost += Int64(lostNow)
        labelsByWord.removeAll(keepingCapacity: true)   // an address may name a different set next time
    }

    private func add(_ raw: gr_cpuprof_sample) {
        let stack = withUnsafeBytes(of: raw.frames) { bytes in
            Array(bytes.bindMemory(to: UInt.self).prefix(Int(raw.depth)))
        }
        let key = CPUProfile.Sample(stack: stack, labels: labels(word: raw.label_word), count: 0)
        if let at = index[key] {
            samples[at].count += Int64(raw.count)
        } else {
            index[key] = samples.count
            var sample = key
            sample.count = Int64(raw.count)
            samples.append(sample)
        }
    }

    private func labels(word: UInt) -> [Label] {
        guard word != 0, let pointer = UnsafeRawPointer(bitPattern: word) else { return [] }
        if let known = labelsByWord[word] { return known }
        let set = Unmanaged<GoroutineLabelSet>.fromOpaque(pointer).takeUnretainedValue()
        let labels = set.labels.map { Label.string($0.key, $0.value) }
        labelsByWord[word] = labels
        return labels
    }
}

/// Reads a thread's blocked-signal mask from /proc (SigBlk), as profilers must: a thread that blocks
/// SIGPROF gets no samples while it does.
enum ThreadSignalMask {
    /// The thread's name when it blocks SIGPROF, nil when it does not (or is gone).
    static func nameIfBlockingSIGPROF(tid: Int32) -> String? {
        guard let status = try? String(contentsOfFile: "/proc/self/task/\(tid)/status", encoding: .utf8) else { return nil }
        var name = "?"
        var blocked = false
        for line in status.split(separator: "\n") {
            if line.hasPrefix("Name:") {
                name = line.dropFirst(5).trimmingCharacters(in: .whitespaces)
            } else if line.hasPrefix("SigBlk:"), let mask = UInt64(line.dropFirst(7).trimmingCharacters(in: .whitespaces), radix: 16) {
                blocked = mask & (1 << UInt64(SIGPROF - 1)) != 0
            }
        }
        return blocked ? name : nil
    }
}

/// Starts the collector's OS thread (a plain pthread: the collector must never depend on the scheduler).
enum CollectorThread {
    private final class Box {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    static func start(_ body: @escaping () -> Void) -> Bool {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        var thread = pthread_t()
        let rc = pthread_create(&thread, &attributes, { raw in
            gr_thread_set_name("cpuprof")   // shows in /proc and debuggers
            Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, box)
        pthread_attr_destroy(&attributes)
        if rc != 0 { Unmanaged<Box>.fromOpaque(box).release() }
        return rc == 0
    }
}
