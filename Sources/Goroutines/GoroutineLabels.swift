/// One goroutine label (pprof labels, Go's `pprof.Do`).
public struct GoroutineLabel: Sendable, Hashable {
    /// The label's name, e.g. `tenant`.
    public var key: String
    /// The label's value, e.g. `t1`.
    public var value: String

    /// A label `key=value`.
    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }
}

/// An immutable set of labels, sorted by key (keys unique). Goroutines hold one; spawned goroutines inherit
/// their parent's. Immutable so that profilers can read the current one from any thread without locks.
public final class GoroutineLabelSet: Sendable {
    /// The labels, sorted by key, each key once.
    public let labels: [GoroutineLabel]

    /// A set from `labels`; for a repeated key the last value wins, as with Go's `pprof.Labels`.
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
