import Symbolication

/// Go 1.27's goroutine traceback text (panics, deadlock reports, `goroutine?debug=2`):
///
///     goroutine 7 [chan receive, 2 minutes] {worker: alpha}:
///     MyModule.worker(jobs:)(...)
///     	/src/MyModule/Worker.swift:26 +0x1b
///     created by MyModule.main() in goroutine 1
///     	/src/MyModule/main.swift:70 +0x65
///
/// Swift names already carry their argument labels in parentheses; the `(...)` that follows stands where Go
/// prints argument words, which we do not know, so every frame line keeps Go's `name(args)` shape.
public enum GoroutineTraceback {
    /// Go prints at most this many frames: the first half, an elision line, the last half.
    static let maxFrames = 100

    /// The whole dump: blocks separated by one blank line, ending in a newline. Each distinct PC is
    /// symbolized and formatted once, however many goroutines share it.
    public static func render(_ goroutines: [GoroutineSnapshot], symbolizer: Symbolizer = .shared) -> String {
        var pcs = Set<UInt>()
        for g in goroutines {
            for pc in g.stack where pc > 1 { pcs.insert(pc) }
            if g.creatorPC > 1 { pcs.insert(g.creatorPC) }
        }
        var text = FrameText(symbolizer: symbolizer, prefetching: Array(pcs))
        var out = ""
        out.reserveCapacity(goroutines.count * 256)
        for (i, g) in goroutines.enumerated() {
            if i > 0 { out += "\n" }
            appendBlock(g, to: &out, text: &text)
        }
        return out
    }

    public static func block(_ g: GoroutineSnapshot, symbolizer: Symbolizer = .shared) -> String {
        var text = FrameText(symbolizer: symbolizer, prefetching: g.stack + [g.creatorPC])
        var out = ""
        appendBlock(g, to: &out, text: &text)
        return out
    }

    private static func appendBlock(_ g: GoroutineSnapshot, to out: inout String, text: inout FrameText) {
        out += header(g)
        out += "\n"
        if g.status == .running && !g.isCurrent && g.stack.isEmpty {
            out += "\tgoroutine running on other thread; stack unavailable\n"
        } else {
            text.appendFrames(g.stack, to: &out)
        }
        if g.creatorPC != 0 {  // the main goroutine has no creator
            text.appendCreator(pc: g.creatorPC, parent: g.parentID, to: &out)
        }
    }

    /// `goroutine <id> [<status>[, N minutes][, locked to thread]][ {labels}]:`
    public static func header(_ g: GoroutineSnapshot) -> String {
        var status: String
        switch g.status {
        case .waiting: status = g.waitReason == .zero ? "waiting" : g.waitReason.description
        default: status = g.status.description
        }
        if g.isLeaked { status += " (leaked)" }
        if g.status == .waiting || g.status == .syscall {
            let minutes = g.waitDuration.components.seconds / 60
            if minutes >= 1 { status += ", \(minutes) minutes" }
        }
        if g.lockedToThread { status += ", locked to thread" }
        var line = "goroutine \(g.id) [\(status)]"
        if !g.labels.isEmpty {
            line += " {" + g.labels.map { "\(quotedIfNeeded($0.key)): \(quotedIfNeeded($0.value))" }.joined(separator: ", ") + "}"
        }
        return line + ":"
    }

    /// Frame lines for return addresses `stack` (leaf first), with runtime-internal frames hidden.
    public static func appendFrames(_ stack: [UInt], to out: inout String, symbolizer: Symbolizer = .shared) {
        var text = FrameText(symbolizer: symbolizer, prefetching: stack)
        text.appendFrames(stack, to: &out)
    }

    /// Scheduler machinery and compiler thunks, hidden as Go hides `runtime.` frames (profiles' text forms
    /// use the same rule for the frames they hide at the leaf end).
    public static func isRuntimeInternal(_ name: String) -> Bool {
        for marker in internalMarkers where name.contains(marker) { return true }
        return name.hasPrefix("reabstraction thunk") || name.hasPrefix("Swift runtime failure: ") || name.hasPrefix("thunk for") || name.hasPrefix("partial apply")
            || name.hasPrefix("gr_") || name == "?"
            || (name.hasPrefix("closure #") && name.contains(" in Goroutines."))
    }

    private static let internalMarkers = [
        "Goroutines.Scheduler.", "goroutineEntry", "runGoroutineBody", "Goroutines.RuntimeLock.",
        "goroutinePanic", "captureCallerStack", "Goroutines.RuntimeSnapshot.", "Goroutines.ConsistentGoroutineProfile.", "Goroutines.ContentionProfiler.", "Goroutines.Waiter.",
        "Goroutines.WaitNode.", "Goroutines.blockForever", "Goroutines.runSelect",
        "Swift.withUnsafeMutablePointer<", "Swift.withUnsafeTemporaryAllocation<",
    ]

    /// Go quotes a label key or value only when it has characters outside [A-Za-z0-9._/].
    static func quotedIfNeeded(_ s: String) -> String {
        let plain = !s.isEmpty && s.unicodeScalars.allSatisfy {
            ($0 >= "a" && $0 <= "z") || ($0 >= "A" && $0 <= "Z") || ($0 >= "0" && $0 <= "9") || $0 == "." || $0 == "_" || $0 == "/"
        }
        return plain ? s : s.goQuoted
    }
}

/// Formatted frame lines per return address, cached for one dump.
private struct FrameText {
    private let symbolizer: Symbolizer
    private var lines: [UInt: [String]] = [:]
    private var creators: [UInt: (function: String, location: String)] = [:]
    private var frames: [UInt: [SymbolicatedFrame]] = [:]

    init(symbolizer: Symbolizer, prefetching pcs: [UInt]) {
        self.symbolizer = symbolizer
        let wanted = pcs.filter { $0 > 1 }
        for (pc, f) in zip(wanted, symbolizer.frames(at: wanted.map { $0 - 1 })) { frames[pc] = f }
    }

    private mutating func symbolized(_ pc: UInt) -> [SymbolicatedFrame] {
        if let f = frames[pc] { return f }
        let f = symbolizer.frames(at: pc - 1)
        frames[pc] = f
        return f
    }

    /// The visible `name(...)\n\tfile:line +0xoff\n` lines of one return address.
    private mutating func frameLines(_ pc: UInt) -> [String] {
        if let cached = lines[pc] { return cached }
        var result: [String] = []
        for frame in symbolized(pc) where !GoroutineTraceback.isRuntimeInternal(frame.function) {
            var line = frame.function + "(...)\n\t" + (frame.file.isEmpty ? "?" : frame.file) + ":" + String(frame.line)
            if !frame.isInlined && frame.entry != 0 && pc > frame.entry {
                line += " +0x" + String(pc - frame.entry, radix: 16)
            }
            result.append(line + "\n")
        }
        lines[pc] = result
        return result
    }

    mutating func appendFrames(_ stack: [UInt], to out: inout String) {
        var all: [String] = []
        for pc in stack where pc > 1 { all.append(contentsOf: frameLines(pc)) }
        let maxFrames = GoroutineTraceback.maxFrames
        if all.count > maxFrames {
            let half = maxFrames / 2
            for line in all.prefix(half) { out += line }
            out += "...\(all.count - maxFrames) frames elided...\n"
            for line in all.suffix(half) { out += line }
        } else {
            for line in all { out += line }
        }
    }

    /// `created by <function>[ in goroutine <parent>]\n\t<file>:<line> +0x<off>\n`
    mutating func appendCreator(pc: UInt, parent: Int64, to out: inout String) {
        if creators[pc] == nil {
            let frames = symbolized(pc)
            guard let frame = frames.first(where: { !GoroutineTraceback.isRuntimeInternal($0.function) }) ?? frames.first else { return }
            var location = "\n\t" + (frame.file.isEmpty ? "?" : frame.file) + ":" + String(frame.line)
            if let outer = frames.last, outer.entry != 0, pc > outer.entry {
                location += " +0x" + String(pc - outer.entry, radix: 16)
            }
            creators[pc] = (frame.function, location + "\n")
        }
        guard let creator = creators[pc] else { return }
        out += "created by " + creator.function
        if parent != 0 { out += " in goroutine " + String(parent) }
        out += creator.location
    }
}
