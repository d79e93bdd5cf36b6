// The `#` frame lines shared by every legacy text profile:
//
//     #<TAB>0x<pc><TAB><function>+0x<offset><TAB><file>:<line>
//
// one line per source frame (inlined frames share their PC), followed by a blank line. The PC printed is the
// call-site PC (return address − 1), while the `@` list above it holds the raw return addresses; pprof's
// text parser subtracts one from those itself. Columns are aligned afterwards by `TabAligner`.
import Symbolication

/// Which frames the `#` lines leave out. Go omits `runtime.goexit` everywhere and, in goroutine and heap
/// text, hides the runtime frames at the leaf end of a stack (showing them only when nothing else is
/// left); the runtime decides which of our frames play those roles.
public struct StackTextFilter: Sendable {
    /// Frames never printed, such as the entry trampoline every goroutine starts in.
    public var omits: @Sendable (SymbolicatedFrame) -> Bool
    /// Runtime frames hidden while they lead the stack (leaf end).
    public var hidesWhileLeading: @Sendable (SymbolicatedFrame) -> Bool

    public init(omits: @escaping @Sendable (SymbolicatedFrame) -> Bool = { _ in false },
                hidesWhileLeading: @escaping @Sendable (SymbolicatedFrame) -> Bool = { _ in false }) {
        self.omits = omits
        self.hidesWhileLeading = hidesWhileLeading
    }

    /// Every frame printed.
    public static let showAll = StackTextFilter()
}

extension String {
    /// Appends the frame lines of one stack and the blank line that ends its record. With
    /// `allFrames` false, leading frames the filter hides are skipped, unless that would leave nothing.
    mutating func appendFrameLines(stack: [UInt], frames: ResolvedFrames, filter: StackTextFilter, allFrames: Bool) {
        let pcs = stack.filter { $0 != 0 }
        if pcs.isEmpty {
            // Nothing to symbolize: Go prints its zero frame.
            self += "#\t0x0\n\n"
            return
        }
        var text = ""
        var showing = allFrames
        for returnAddress in pcs {
            let pc = callSitePC(returnAddress: returnAddress)
            let pcFrames = frames[pc]
            let physicalEntry = pcFrames.last?.entry ?? 0
            if pcFrames.isEmpty || pcFrames.allSatisfy({ !$0.isKnown }) {
                showing = true
                text += "#\t0x" + String(pc, radix: 16) + "\n"
                continue
            }
            for frame in pcFrames where frame.isKnown && !filter.omits(frame) {
                guard showing || !filter.hidesWhileLeading(frame) else { continue }
                showing = true
                text += "#\t0x" + String(pc, radix: 16) + "\t" + frame.function
                let entry = frame.entry != 0 ? frame.entry : physicalEntry
                if entry != 0 && entry <= pc { text += "+0x" + String(pc - entry, radix: 16) }
                text += "\t" + frame.file + ":" + String(frame.line) + "\n"
            }
        }
        if !showing {
            appendFrameLines(stack: stack, frames: frames, filter: filter, allFrames: true)
            return
        }
        self += text
        self += "\n"
    }

    /// ` 0x<ra> 0x<ra> …` for the `@` list: raw return addresses, or a single `0x0` for an empty stack so
    /// pprof's parser (which needs at least one address) accepts the record.
    mutating func appendAddressList(_ stack: [UInt]) {
        var any = false
        for returnAddress in stack where returnAddress != 0 {
            self += " 0x" + String(returnAddress, radix: 16)
            any = true
        }
        if !any { self += " 0x0" }
    }
}
