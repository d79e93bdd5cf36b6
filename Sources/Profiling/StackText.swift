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

    /// A filter with the given rules (by default every frame is printed).
    public init(omits: @escaping @Sendable (SymbolicatedFrame) -> Bool = { _ in false },
                hidesWhileLeading: @escaping @Sendable (SymbolicatedFrame) -> Bool = { _ in false }) {
        self.omits = omits
        self.hidesWhileLeading = hidesWhileLeading
    }

    /// Every frame printed.
    public static let showAll = StackTextFilter()
}

/// UTF-8 text under construction; the text profiles are built as bytes and aligned as bytes.
struct TextBuffer {
    var bytes: [UInt8] = []

    mutating func append(_ text: String) {
        bytes.append(contentsOf: text.utf8)
    }

    mutating func append(_ byte: Character) {
        bytes.append(contentsOf: byte.utf8)
    }

    /// `0x` and lowercase hex digits, as Go's `%#x`.
    mutating func appendHex(_ value: UInt) {
        bytes.append(UInt8(ascii: "0"))
        bytes.append(UInt8(ascii: "x"))
        if value == 0 {
            bytes.append(UInt8(ascii: "0"))
            return
        }
        var shift = (UInt.bitWidth - value.leadingZeroBitCount - 1) / 4 * 4
        while shift >= 0 {
            let digit = UInt8((value >> UInt(shift)) & 0xf)
            bytes.append(digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") + digit - 10)
            shift -= 4
        }
    }

    mutating func appendDecimal<T: BinaryInteger>(_ value: T) {
        append(String(value))
    }

    /// Appends the frame lines of one stack and the blank line that ends its record. With
    /// `allFrames` false, leading frames the filter hides are skipped, unless that would leave nothing.
    mutating func appendFrameLines(stack: [UInt], frames: ResolvedFrames, filter: StackTextFilter, allFrames: Bool) {
        let start = bytes.count
        var showing = allFrames
        var any = false
        stackWalk: for returnAddress in stack where returnAddress != 0 {
            any = true
            let pc = callSitePC(returnAddress: returnAddress)
            let pcFrames = frames[pc]
            switch frames.disposition(ofCallSite: pc) {
            case .keep: break
            case .skip: continue stackWalk
            case .endsStack: break stackWalk
            }
            if !pcFrames.contains(where: \.isKnown) {
                showing = true
                append("#\t")
                appendHex(pc)
                append("\n")
                continue
            }
            let physicalEntry = pcFrames.last?.entry ?? 0
            for frame in pcFrames where frame.isKnown && !filter.omits(frame) {
                guard showing || !filter.hidesWhileLeading(frame) else { continue }
                showing = true
                append("#\t")
                appendHex(pc)
                append("\t")
                append(frame.function)
                let entry = frame.entry != 0 ? frame.entry : physicalEntry
                if entry != 0 && entry <= pc {
                    append("+")
                    appendHex(pc - entry)
                }
                append("\t")
                append(frame.file)
                append(":")
                appendDecimal(frame.line)
                append("\n")
            }
        }
        if !any {
            // Nothing to symbolize: Go prints its zero frame.
            append("#\t0x0\n\n")
            return
        }
        if !showing {
            bytes.removeSubrange(start...)
            appendFrameLines(stack: stack, frames: frames, filter: filter, allFrames: true)
            return
        }
        append("\n")
    }

    /// ` 0x<ra> 0x<ra> …` for the `@` list: raw return addresses, or a single `0x0` for an empty stack so
    /// pprof's parser (which needs at least one address) accepts the record.
    mutating func appendAddressList(_ stack: [UInt]) {
        var any = false
        for returnAddress in stack where returnAddress != 0 {
            append(" ")
            appendHex(returnAddress)
            any = true
        }
        if !any { append(" 0x0") }
    }

    /// The finished text with its columns aligned.
    func alignedText() -> String {
        String(decoding: TabAligner.align(bytes), as: UTF8.self)
    }
}

/// The same writers for text kept as a `String` (the heap profile builds its text this way).
extension String {
    mutating func appendFrameLines(stack: [UInt], frames: ResolvedFrames, filter: StackTextFilter, allFrames: Bool) {
        var buffer = TextBuffer()
        buffer.appendFrameLines(stack: stack, frames: frames, filter: filter, allFrames: allFrames)
        self += String(decoding: buffer.bytes, as: UTF8.self)
    }

    mutating func appendAddressList(_ stack: [UInt]) {
        var buffer = TextBuffer()
        buffer.appendAddressList(stack)
        self += String(decoding: buffer.bytes, as: UTF8.self)
    }
}
