import Symbolication

/// Go 1.27's goroutine traceback text (panics, deadlock reports, `goroutine?debug=2`):
///
///     goroutine 7 [chan receive, 2 minutes] {worker: alpha}:
///     MyModule.worker(jobs:)()
///     	/src/MyModule/Worker.swift:26 +0x1b
///     created by MyModule.main() in goroutine 1
///     	/src/MyModule/main.swift:70 +0x65
///
/// Names follow the one scheme of `Symbolizer` (`Module.Type.method(label:)`, closures as `.closureN`).
/// Go prints a real frame's argument words in its parentheses, which we do not know, so a real frame
/// prints `()`; an inlined frame prints `(...)`, exactly as Go marks inlined frames.
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

    /// One goroutine's block of a `debug=2` dump or panic traceback, in Go's format.
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

    /// Scheduler machinery and the glue under a goroutine's function, hidden as Go hides `runtime.` frames,
    /// for a frame known only by its readable name. Symbolized frames carry the same answer in `kind`.
    public static func isRuntimeInternal(_ name: String) -> Bool {
        name == "?" || FrameClassifier.kind(ofReadableName: name) != .code
    }

    /// Whether a traceback prints `frame`: the user's code and libraries, not the runtime's machinery nor
    /// compiler thunks (glue under the goroutine's function ends the stack before it is asked).
    static func isShown(_ frame: SymbolicatedFrame) -> Bool {
        frame.kind == .code && frame.function != "?" && !frame.function.isEmpty
    }

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
    private var lines: [UInt: (lines: [String], endsStack: Bool)] = [:]
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

    /// The visible lines of one return address, and whether the goroutine's own stack ends before it.
    /// A real frame prints `name()` and `\tFILE:LINE +0xOFF` (offset of the return address from the
    /// function's entry); an inlined one `name(...)` and `\tFILE:LINE`, as Go prints them.
    private mutating func frameLines(_ pc: UInt) -> (lines: [String], endsStack: Bool) {
        if let cached = lines[pc] { return cached }
        let frames = symbolized(pc)
        if frames.contains(where: { $0.kind == .goroutineRoot }) {
            lines[pc] = ([], true)
            return ([], true)
        }
        var result: [String] = []
        for frame in frames where GoroutineTraceback.isShown(frame) {
            var line = frame.function + (frame.isInlined ? "(...)\n\t" : "()\n\t")
            line += frame.file.isEmpty || frame.line == 0 ? "?:0" : frame.file + ":" + String(frame.line)
            if !frame.isInlined && frame.entry != 0 && pc > frame.entry {
                line += " +0x" + String(pc - frame.entry, radix: 16)
            }
            result.append(line + "\n")
        }
        lines[pc] = (result, false)
        return (result, false)
    }

    mutating func appendFrames(_ stack: [UInt], to out: inout String) {
        var all: [String] = []
        for pc in stack where pc > 1 {
            let visible = frameLines(pc)
            if visible.endsStack { break }
            all.append(contentsOf: visible.lines)
        }
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
            guard let frame = frames.first(where: GoroutineTraceback.isShown) ?? frames.first else { return }
            var location = "\n\t" + (frame.file.isEmpty || frame.line == 0 ? "?:0" : frame.file + ":" + String(frame.line))
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
