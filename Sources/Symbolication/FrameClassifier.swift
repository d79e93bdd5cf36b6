/// Decides each symbol's `FrameKind` once, when the symbolizer first names it. The runtime's own
/// functions are known by name here (this module sits below the runtime, which prints tracebacks through
/// it); the names are those `GoStyleName` produces.
package enum FrameClassifier {
    /// Code that runs below every goroutine's own function.
    private static let goroutineRootPrefixes = [
        "Goroutines.goroutineEntry", "Goroutines.runGoroutineBody(",
    ]

    /// The scheduler and the parking machinery under channel, select, sync and timer waits.
    private static let runtimePrefixes = [
        "Goroutines.Scheduler.", "Goroutines.RuntimeLock.", "Goroutines.RuntimeSnapshot.",
        "Goroutines.ConsistentGoroutineProfile.", "Goroutines.ContentionProfiler.", "Goroutines.Waiter.",
        "Goroutines.WaitNode.", "Goroutines.blockForever", "Goroutines.runSelect", "Goroutines.goroutinePanic",
        "Goroutines.captureCallerStack", "Swift.withUnsafeMutablePointer<", "Swift.withUnsafeTemporaryAllocation<",
    ]

    /// Demangler prefixes of compiler-made forwarding code.
    private static let thunkPrefixes = [
        "partial apply", "reabstraction thunk", "thunk for ", "@objc ", "@nonobjc ", "protocol witness for ",
        "dispatch thunk of ", "autoclosure thunk",
    ]

    /// The pseudo-frame the compiler inlines at a trap to name its reason; the panic line says it.
    private static let trapReasonPrefix = "Swift runtime failure: "

    /// Whether `name` is that pseudo-frame (`Swift runtime failure: arithmetic overflow`).
    static func isTrapReason(_ name: String) -> Bool { name.hasPrefix(trapReasonPrefix) }

    static func kind(ofSwiftSymbol demangled: String, named name: String) -> FrameKind {
        if goroutineRootPrefixes.contains(where: name.hasPrefix) { return .goroutineRoot }
        if name.hasPrefix(trapReasonPrefix) { return .runtime }
        if thunkPrefixes.contains(where: demangled.hasPrefix) { return .thunk }
        if runtimePrefixes.contains(where: name.hasPrefix) { return .runtime }
        // Closures the runtime passes to itself (`Goroutines.Channel.receive().closure1`); closures users
        // pass to the runtime are named after the user's function instead.
        if name.hasPrefix("Goroutines."), name.contains(".closure") || name.contains(".implicitclosure") {
            return .runtime
        }
        return .code
    }

    /// The kind of a frame known only by its readable name (thunks, whose names are their targets', read
    /// as code).
    package static func kind(ofReadableName name: String) -> FrameKind {
        if name == "gr_goroutine_trampoline" || goroutineRootPrefixes.contains(where: name.hasPrefix) { return .goroutineRoot }
        if name.hasPrefix("gr_") || name.hasPrefix(trapReasonPrefix) || runtimePrefixes.contains(where: name.hasPrefix) {
            return .runtime
        }
        if name.hasPrefix("Goroutines."), name.contains(".closure") || name.contains(".implicitclosure") {
            return .runtime
        }
        return .code
    }

    static func kind(ofCSymbol symbol: String) -> FrameKind {
        if symbol == "gr_goroutine_trampoline" { return .goroutineRoot }
        if symbol.hasPrefix("gr_") || symbol.hasPrefix(trapReasonPrefix) { return .runtime }
        return .code
    }
}
