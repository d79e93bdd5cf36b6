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

    /// The whole dump: blocks separated by one blank line, ending in a newline.
    public static func render(_ goroutines: [GoroutineSnapshot], symbolizer: Symbolizer = .shared) -> String {
        var out = ""
        for (i, g) in goroutines.enumerated() {
            if i > 0 { out += "\n" }
            out += block(g, symbolizer: symbolizer)
        }
        return out
    }

    public static func block(_ g: GoroutineSnapshot, symbolizer: Symbolizer = .shared) -> String {
        var out = header(g) + "\n"
        if g.status == .running && !g.isCurrent && g.stack.isEmpty {
            out += "\tgoroutine running on other thread; stack unavailable\n"
        } else {
            appendFrames(g.stack, to: &out, symbolizer: symbolizer)
        }
        if g.creatorPC != 0 && g.id != 1 {
            appendCreator(pc: g.creatorPC, parent: g.parentID, to: &out, symbolizer: symbolizer)
        }
        return out
    }

    /// `goroutine <id> [<status>[, N minutes][, locked to thread]][ {labels}]:`
    public static func header(_ g: GoroutineSnapshot) -> String {
        var status: String
        switch g.status {
        case .waiting: status = g.waitReason == .zero ? "waiting" : g.waitReason.description
        default: status = g.status.description
        }
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
        var lines: [String] = []
        for pc in stack where pc > 1 {
            let frames = symbolizer.frames(at: pc - 1)
            for frame in frames where !isRuntimeInternal(frame.function) {
                var text = "\(frame.function)(...)\n\t\(frame.file.isEmpty ? "?" : frame.file):\(frame.line)"
                if !frame.isInlined && frame.entry != 0 && pc > frame.entry {
                    text += " +0x" + String(pc - frame.entry, radix: 16)
                }
                lines.append(text + "\n")
            }
        }
        if lines.count > maxFrames {
            let half = maxFrames / 2
            out += lines.prefix(half).joined()
            out += "...\(lines.count - maxFrames) frames elided...\n"
            out += lines.suffix(half).joined()
        } else {
            out += lines.joined()
        }
    }

    static func appendCreator(pc: UInt, parent: Int64, to out: inout String, symbolizer: Symbolizer) {
        let frames = symbolizer.frames(at: pc - 1)
        guard let frame = frames.first(where: { !isRuntimeInternal($0.function) }) ?? frames.first else { return }
        out += "created by \(frame.function)"
        if parent != 0 { out += " in goroutine \(parent)" }
        out += "\n\t\(frame.file.isEmpty ? "?" : frame.file):\(frame.line)"
        if let outer = frames.last, outer.entry != 0, pc > outer.entry {
            out += " +0x" + String(pc - outer.entry, radix: 16)
        }
        out += "\n"
    }

    /// Scheduler machinery and compiler thunks, hidden as Go hides `runtime.` frames.
    static func isRuntimeInternal(_ name: String) -> Bool {
        for marker in internalMarkers where name.contains(marker) { return true }
        return name.hasPrefix("reabstraction thunk") || name.hasPrefix("thunk for") || name.hasPrefix("partial apply")
            || name.hasPrefix("gr_") || name == "?"
            || (name.hasPrefix("closure #") && name.contains(" in Goroutines."))
    }

    private static let internalMarkers = [
        "Goroutines.Scheduler.", "goroutineEntry", "runGoroutineBody", "Goroutines.RuntimeLock.",
        "goroutinePanic", "captureCallerStack", "Goroutines.RuntimeSnapshot.", "Goroutines.Waiter.",
        "Goroutines.WaitNode.", "Goroutines.blockForever", "Goroutines.runSelect",
        "Swift.withUnsafeMutablePointer<", "Swift.withUnsafeTemporaryAllocation<",
    ]

    /// Go quotes a label key or value only when it has characters outside [A-Za-z0-9._/].
    static func quotedIfNeeded(_ s: String) -> String {
        let plain = !s.isEmpty && s.unicodeScalars.allSatisfy {
            ($0 >= "a" && $0 <= "z") || ($0 >= "A" && $0 <= "Z") || ($0 >= "0" && $0 <= "9") || $0 == "." || $0 == "_" || $0 == "/"
        }
        if plain { return s }
        var q = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": q += "\\\""
            case "\\": q += "\\\\"
            case "\n": q += "\\n"
            case "\t": q += "\\t"
            case "\r": q += "\\r"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7f {
                    q += "\\x" + (scalar.value < 16 ? "0" : "") + String(scalar.value, radix: 16)
                } else {
                    q.unicodeScalars.append(scalar)
                }
            }
        }
        return q + "\""
    }
}
