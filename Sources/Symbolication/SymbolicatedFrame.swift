/// One source-level frame at a program counter. A PC inside inlined code yields several frames,
/// innermost first; the last one is the function the machine code physically belongs to.
public struct SymbolicatedFrame: Sendable, Hashable {
    /// Demangled, readable Swift name (`MyModule.Worker.run(job:)`), or the C symbol; `"?"` when unknown.
    public var function: String
    /// The raw linker symbol (mangled for Swift); equals `function` for C symbols.
    public var systemName: String
    /// Source file path (as DWARF gives it: absolute for Swift), or "" when nothing is known. Never
    /// "<compiler-generated>": such code is attributed to the nearest real line of its function.
    public var file: String
    /// Source line of the PC, 0 when unknown.
    public var line: Int
    /// First line of the function, 0 when unknown.
    public var startLine: Int
    /// Entry address of the symbol the PC lies in (for Go's `+0x<pc-entry>` offsets); 0 when unknown.
    /// Inlined frames carry the entry of the function they were inlined into, which holds the PC.
    public var entry: UInt
    /// True for every frame but the last of a PC: the code was inlined into the next frame.
    public var isInlined: Bool
    /// What the frame is to a reader of a stack: the user's code, the runtime, or glue that stacks leave out.
    public var kind: FrameKind

    public init(function: String, systemName: String, file: String = "", line: Int = 0, startLine: Int = 0,
                entry: UInt = 0, isInlined: Bool = false, kind: FrameKind = .code) {
        self.function = function
        self.systemName = systemName
        self.file = file
        self.line = line
        self.startLine = startLine
        self.entry = entry
        self.isInlined = isInlined
        self.kind = kind
    }
}

/// How stacks treat a frame. Decided once per linker symbol (from its name), so filtering a stack is a
/// field test per frame, never a string search.
public enum FrameKind: UInt8, Sendable, Hashable {
    /// Code someone wrote: always shown.
    case code
    /// The goroutine runtime's own machinery (scheduler, park, channel internals): kept in profiles as Go
    /// keeps `runtime.` frames, hidden in goroutine text dumps as Go hides them.
    case runtime
    /// Compiler-made forwarding code (`partial apply for`, reabstraction thunks, `@objc` entry points,
    /// protocol witnesses): its frame is left out of every stack, the frame it forwards to stays.
    case thunk
    /// What runs below a goroutine's own function (the entry trampoline, the runtime's entry closure and
    /// body runner): it and every frame rootward of it are left out, as Go leaves out `runtime.goexit`.
    case goroutineRoot
}

/// An executable mapping of the process (from `/proc/self/maps`), as pprof's Mapping wants it.
public struct ImageMapping: Sendable, Hashable {
    public var start: UInt
    public var limit: UInt
    public var fileOffset: UInt
    /// Path of the mapped file ("[vdso]" and the like for anonymous images).
    public var path: String
    /// GNU build id as lowercase hex, "" when the image has none.
    public var buildID: String

    public init(start: UInt, limit: UInt, fileOffset: UInt, path: String, buildID: String) {
        self.start = start
        self.limit = limit
        self.fileOffset = fileOffset
        self.path = path
        self.buildID = buildID
    }
}
