import Synchronization

/// Go's sync.RWMutex: any number of readers or one writer. A waiting writer stops new readers from
/// entering (so writers are not starved); readers wait with `[sync.RWMutex.RLock]`, a writer waiting for
/// readers to leave with `[sync.RWMutex.Lock]` (and, behind another writer, `[sync.Mutex.Lock]`, as in Go).
public final class RWMutex: Locker, @unchecked Sendable {
    private static let maxReaders = 1 << 30

    private let writers = GoMutex()
    private let writerSemaphore = RuntimeSemaphore()
    private let readerSemaphore = RuntimeSemaphore()
    /// Readers inside or waiting; minus `maxReaders` while a writer holds or waits for the lock.
    private let readerCount = Atomic<Int>(0)
    /// Readers the waiting writer still waits for.
    private let readersLeaving = Atomic<Int>(0)

    /// An unlocked reader/writer mutex.
    public init() {}

    /// Takes a read lock; waits while a writer holds or waits for the lock (Go's `RLock`).
    public func readLock() {
        if readerCount.wrappingAdd(1, ordering: .acquiring).newValue < 0 {
            readerSemaphore.acquire(reason: .syncRWMutexRLock)
        }
    }

    /// Takes a read lock if that needs no wait; false otherwise (Go's `TryRLock`).
    public func tryReadLock() -> Bool {
        var c = readerCount.load(ordering: .relaxed)
        while c >= 0 {
            let (done, now) = readerCount.compareExchange(expected: c, desired: c + 1, ordering: .acquiring)
            if done { return true }
            c = now
        }
        return false
    }

    /// Releases a read lock (Go's `RUnlock`); unlocking one not held is a fatal error, as in Go.
    public func readUnlock() {
        let r = readerCount.wrappingSubtract(1, ordering: .releasing).newValue
        if r < 0 {
            if r + 1 == 0 || r + 1 == -Self.maxReaders { fatalRuntimeError("sync: RUnlock of unlocked RWMutex") }
            // The last reader a waiting writer was counting on lets it in.
            if readersLeaving.wrappingSubtract(1, ordering: .releasing).newValue == 0 { writerSemaphore.release() }
        }
    }

    /// Takes the write lock, waiting for readers and writers to leave (Go's `Lock`).
    public func lock() {
        writers.lock()
        let active = readerCount.wrappingAdd(-Self.maxReaders, ordering: .acquiringAndReleasing).newValue + Self.maxReaders
        if active != 0 && readersLeaving.wrappingAdd(active, ordering: .acquiringAndReleasing).newValue != 0 {
            writerSemaphore.acquire(reason: .syncRWMutexLock)
        }
    }

    /// Takes the write lock if that needs no wait; false otherwise (Go's `TryLock`).
    public func tryLock() -> Bool {
        if !writers.tryLock() { return false }
        if !readerCount.compareExchange(expected: 0, desired: -Self.maxReaders, ordering: .acquiring).exchanged {
            writers.unlock()
            return false
        }
        return true
    }

    /// Releases the write lock (Go's `Unlock`).
    public func unlock() {
        let r = readerCount.wrappingAdd(Self.maxReaders, ordering: .releasing).newValue
        if r >= Self.maxReaders { fatalRuntimeError("sync: Unlock of unlocked RWMutex") }
        for _ in 0..<r { readerSemaphore.release() }
        writers.unlock()
    }

    /// `lock`/`unlock` mapped to the read side (Go's RLocker), e.g. for a `Cond` of readers.
    public var readLocker: any Locker { ReadLocker(self) }

    private final class ReadLocker: Locker {
        let rw: RWMutex
        init(_ rw: RWMutex) { self.rw = rw }
        func lock() { rw.readLock() }
        func unlock() { rw.readUnlock() }
    }
}
