/// One goroutine label (pprof labels, Go's `pprof.Do`).
public struct GoroutineLabel: Sendable, Hashable {
    public var key: String
    public var value: String

    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }
}

/// An immutable set of labels, sorted by key (keys unique). Goroutines hold one; spawned goroutines inherit
/// their parent's. Immutable so that profilers can read the current one from any thread without locks.
public final class GoroutineLabelSet: Sendable {
    public let labels: [GoroutineLabel]

    public init(_ labels: [GoroutineLabel]) {
        var byKey: [String: String] = [:]
        for label in labels { byKey[label.key] = label.value }
        self.labels = byKey.map { GoroutineLabel(key: $0.key, value: $0.value) }.sorted { $0.key < $1.key }
    }

    /// This set with `additions` merged in (later values win).
    public func merging(_ additions: [GoroutineLabel]) -> GoroutineLabelSet {
        GoroutineLabelSet(labels + additions)
    }
}
