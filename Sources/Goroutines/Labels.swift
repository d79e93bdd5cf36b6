import CStackSwitch

extension Go {
    /// Go's `pprof.Do`: runs `body` with `labels` added to the current goroutine's labels, then restores
    /// them. Goroutines started inside inherit the labels; goroutine and CPU profiles carry them.
    /// Outside a goroutine `body` simply runs (a plain thread has no labels).
    public static func withLabels<T>(_ labels: [String: String], _ body: () throws -> T) rethrows -> T {
        guard let g = M.current?.curG else { return try body() }
        let saved = g.labels
        setCurrentLabels(on: g, (saved ?? GoroutineLabelSet([])).merging(labels.map { GoroutineLabel(key: $0.key, value: $0.value) }))
        defer {
            // The goroutine may have moved threads inside `body`: look it up again.
            if let g = M.current?.curG { setCurrentLabels(on: g, saved) }
        }
        return try body()
    }

    /// Go's `pprof.SetGoroutineLabels`: replaces the current goroutine's labels.
    public static func setGoroutineLabels(_ labels: [String: String]) {
        guard let g = M.current?.curG else { return }
        setCurrentLabels(on: g, labels.isEmpty ? nil : GoroutineLabelSet(labels.map { GoroutineLabel(key: $0.key, value: $0.value) }))
    }

    /// The current goroutine's labels (Go's `pprof.Label` lookups), empty outside goroutines.
    public static var goroutineLabels: [String: String] {
        var result: [String: String] = [:]
        for label in M.current?.curG?.labels?.labels ?? [] { result[label.key] = label.value }
        return result
    }

    private static func setCurrentLabels(on g: G, _ labels: GoroutineLabelSet?) {
        let previous = g.labels
        g.labels = labels
        // Samplers read the running goroutine's labels from this thread-local word.
        gr_tls_set_goroutine_word(UInt(bitPattern: labels.map { Unmanaged.passUnretained($0).toOpaque() }))
        LabelSetRetention.retire(previous)   // a CPU sample may still point at it
    }
}
