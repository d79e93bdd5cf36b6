import CSampling
import CStackSwitch
#if canImport(Glibc)
import Glibc
#endif

/// One stack's accumulated contention, as the block and mutex profiles export it.
public struct ContentionBucketRecord: Sendable, Hashable {
    /// Return addresses, leaf first: the blocking call (block profile) or the unlock (mutex profile).
    public var stack: [UInt]
    /// Events, already scaled for sampling (Go ≥1.21 stores them so); at least 1.
    public var count: Int64
    /// Total delay in nanoseconds, scaled likewise.
    public var delayNanoseconds: Int64
}

/// Contention events bucketed by stack, as Go's mprof keeps them: a fixed arena of buckets and an
/// open-addressed index, all preallocated, so recording an event allocates nothing. A short runtime lock
/// guards it (events are already rare: sampled, and each one follows a park of at least a context switch).
/// When every bucket is taken, events at new stacks are dropped and counted.
final class ContentionBuckets: @unchecked Sendable {
    static let block = ContentionBuckets()
    static let mutex = ContentionBuckets()

    static let maxDepth = 32
    static let capacity = 8192
    private static let indexSize = capacity * 2  // power of two, load ≤ 0.5

    private let lock = RuntimeLock()
    private let frames: UnsafeMutablePointer<UInt>
    private let depths: UnsafeMutablePointer<Int32>
    private let hashes: UnsafeMutablePointer<UInt64>
    private let counts: UnsafeMutablePointer<Double>
    private let delays: UnsafeMutablePointer<Double>
    /// Bucket number + 1 per slot; 0 = empty.
    private let index: UnsafeMutablePointer<Int32>
    private var used = 0
    private(set) var dropped = 0

    private init() {
        frames = .allocate(capacity: Self.capacity * Self.maxDepth)
        depths = .allocate(capacity: Self.capacity)
        hashes = .allocate(capacity: Self.capacity)
        counts = .allocate(capacity: Self.capacity)
        delays = .allocate(capacity: Self.capacity)
        index = .allocate(capacity: Self.indexSize)
        index.initialize(repeating: 0, count: Self.indexSize)
    }

    /// Adds `count` events with `delay` ns to the bucket of `stack`.
    func add(stack: UnsafePointer<UInt>, depth: Int, count: Double, delay: Double) {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for i in 0..<depth { h = (h ^ UInt64(stack[i])) &* 0x0000_0100_0000_01b3 }
        let mask = Self.indexSize - 1
        lock.lock()
        var slot = Int(truncatingIfNeeded: h) & mask
        while true {
            let entry = Int(index[slot])
            if entry == 0 {
                guard used < Self.capacity else { dropped += 1; lock.unlock(); return }
                let b = used
                used += 1
                let base = frames + b * Self.maxDepth
                base.update(from: stack, count: depth)
                depths[b] = Int32(depth)
                hashes[b] = h
                counts[b] = count
                delays[b] = delay
                index[slot] = Int32(b + 1)
                lock.unlock()
                return
            }
            let b = entry - 1
            if hashes[b] == h && Int(depths[b]) == depth && Self.same(frames + b * Self.maxDepth, stack, depth) {
                counts[b] += count
                delays[b] += delay
                lock.unlock()
                return
            }
            slot = (slot + 1) & mask
        }
    }

    private static func same(_ a: UnsafePointer<UInt>, _ b: UnsafePointer<UInt>, _ n: Int) -> Bool {
        for i in 0..<n where a[i] != b[i] { return false }
        return true
    }

    /// A consistent copy of every bucket (taken under the lock, converted outside it).
    func snapshot() -> [ContentionBucketRecord] {
        lock.lock()
        let n = used
        var raw: [(UInt64, [UInt], Double, Double)] = []
        raw.reserveCapacity(n)
        for b in 0..<n {
            let stack = Array(UnsafeBufferPointer(start: frames + b * Self.maxDepth, count: Int(depths[b])))
            raw.append((hashes[b], stack, counts[b], delays[b]))
        }
        lock.unlock()
        return raw.map { ContentionBucketRecord(stack: $0.1, count: max(1, Int64($0.2)), delayNanoseconds: Int64($0.3)) }
    }

    /// Forgets every bucket (tests).
    func reset() {
        lock.lock()
        index.update(repeating: 0, count: Self.indexSize)
        used = 0
        dropped = 0
        lock.unlock()
    }
}

/// Return addresses above the frame `fp` (leaf first: the first is the return into the caller of the
/// function owning `fp`) into `buffer`. No allocation on a goroutine's stack; a plain thread asks pthread
/// for its bounds.
func captureContentionStack(from fp: UInt, into buffer: UnsafeMutablePointer<UInt>, max: Int) -> Int {
    var lo: UInt = 0, hi: UInt = 0
    gr_tls_goroutine_stack(&lo, &hi)
    if lo == 0 { (lo, hi) = ThreadStackBoundsCache.current() }
    return gr_walk_frame_pointers(fp, lo, hi, buffer, max)
}

/// A plain thread's stack bounds, looked up once per thread (pthread reads /proc for the main thread,
/// far too slow to do per event) and kept in a pthread key.
enum ThreadStackBoundsCache {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { $0?.deallocate() }
        return key
    }()

    static func current() -> (UInt, UInt) {
        if let cached = pthread_getspecific(key) {
            let pair = cached.assumingMemoryBound(to: UInt.self)
            return (pair[0], pair[1])
        }
        let (lo, hi) = currentThreadStackBounds()
        let pair = UnsafeMutablePointer<UInt>.allocate(capacity: 2)
        pair[0] = lo
        pair[1] = hi
        pthread_setspecific(key, pair)
        return (lo, hi)
    }
}

/// A cheap, lock-free pseudo-random source for sampling decisions and select's case order
/// (splitmix64 over an atomic counter; quality is ample for both, cost is one atomic add).
enum FastRandom {
    private static let state = AtomicCounter(seed: UInt64(bitPattern: gr_nanotime()) &* 0x9E37_79B9_7F4A_7C15)

    @inline(__always) static func next() -> UInt64 {
        var z = state.advance(by: 0x9E37_79B9_7F4A_7C15)
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in 0..<n (n > 0), by Lemire's multiply-shift.
    @inline(__always) static func below(_ n: Int) -> Int {
        Int(truncatingIfNeeded: next().multipliedFullWidth(by: UInt64(n)).high)
    }

    /// Uniform in [0, 1).
    @inline(__always) static func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }
}
