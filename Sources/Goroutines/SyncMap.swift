// Go's sync.Map, typed: a concurrent map whose operations are each atomic.
//
// The keys are spread over lock-striped shards (a short runtime lock around a Swift dictionary each), so
// goroutines working on different keys rarely meet. `range` copies one shard at a time and calls its body
// with no lock held: as in Go, it sees each key at most once, may or may not see concurrent changes, and
// the body may call any method of the map.

/// Go's sync.Map with typed keys and values. Safe from any goroutine or thread.
public final class SyncMap<Key: Hashable & Sendable, Value: Sendable>: @unchecked Sendable {
    private let shards: [SyncMapShard<Key, Value>]

    public init() {
        shards = (0..<SyncMapShard<Key, Value>.count).map { _ in SyncMapShard() }
    }

    private func shard(_ key: Key) -> SyncMapShard<Key, Value> {
        shards[Int(UInt(bitPattern: key.hashValue) % UInt(shards.count))]
    }

    /// Go's Load: the value stored for `key`, or nil.
    public func load(_ key: Key) -> Value? {
        shard(key).withLock { $0[key] }
    }

    /// Go's Store: sets the value for `key`.
    public func store(_ key: Key, _ value: Value) {
        shard(key).withLock { $0[key] = value }
    }

    /// Go's LoadOrStore: the existing value if present (`loaded` true); otherwise stores `value` and
    /// returns it (`loaded` false).
    public func loadOrStore(_ key: Key, _ value: Value) -> (value: Value, loaded: Bool) {
        shard(key).withLock { map in
            if let existing = map[key] { return (existing, true) }
            map[key] = value
            return (value, false)
        }
    }

    /// Go's LoadAndDelete: deletes the value for `key`, returning the previous value if any.
    @discardableResult
    public func loadAndDelete(_ key: Key) -> Value? {
        shard(key).withLock { $0.removeValue(forKey: key) }
    }

    /// Go's Delete.
    public func delete(_ key: Key) {
        shard(key).withLock { _ = $0.removeValue(forKey: key) }
    }

    /// Go's Swap: stores `value` for `key` and returns the previous value if any.
    @discardableResult
    public func swap(_ key: Key, _ value: Value) -> Value? {
        shard(key).withLock { $0.updateValue(value, forKey: key) }
    }

    /// Go's Range: calls `body` for each key and value until it returns false. See the file comment for
    /// what it sees of concurrent changes; `body` may call any method of the map.
    public func range(_ body: (Key, Value) throws -> Bool) rethrows {
        for shard in shards {
            let entries = shard.withLock { Array($0) }
            for (key, value) in entries where try !body(key, value) { return }
        }
    }

    /// Go's Clear: deletes every entry.
    public func clear() {
        for shard in shards { shard.withLock { $0.removeAll() } }
    }
}

extension SyncMap where Value: Equatable {
    /// Go's CompareAndSwap: stores `new` if the value for `key` equals `old`; false if it does not or
    /// there is none.
    public func compareAndSwap(_ key: Key, old: Value, new: Value) -> Bool {
        shard(key).withLock { map in
            guard let current = map[key], current == old else { return false }
            map[key] = new
            return true
        }
    }

    /// Go's CompareAndDelete: deletes the entry for `key` if its value equals `old`.
    public func compareAndDelete(_ key: Key, old: Value) -> Bool {
        shard(key).withLock { map in
            guard let current = map[key], current == old else { return false }
            map[key] = nil
            return true
        }
    }
}

private final class SyncMapShard<Key: Hashable, Value>: @unchecked Sendable {
    static var count: Int { 16 }
    private let lock = RuntimeLock()
    private var map: [Key: Value] = [:]

    func withLock<T>(_ body: (inout [Key: Value]) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&map)
    }
}
