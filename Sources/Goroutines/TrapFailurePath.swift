import Symbolication
#if canImport(Glibc)
import Glibc
#endif

/// The frames a trap report starts at: the user's faulting line, not the standard library's failure path.
///
/// A check that fails inside the standard library (an `Array` subscript out of range, `!` on nil in a
/// debug build, `fatalError`, `precondition`) traps in libswiftCore, several frames above the user's code:
///
///     Swift._assertionFailure(_:_:file:line:flags:).closure1.closure1()
///     Swift._assertionFailure(_:_:file:line:flags:)()
///     Swift.Array.subscript.getter()
///     MyApp.lookup(_:)()                  <- the line that failed
///
/// Go starts a panicking goroutine's traceback at the faulting user line and hides `runtime.panicIndex`,
/// `runtime.sigpanic` and the like unless GOTRACEBACK=system. So a trap report drops its leading frames
/// whose code lies in the image of the Swift runtime and standard library, up to the first frame outside
/// it. The test is by address range (which image holds the PC), never by frame names. When the standard
/// library is linked into the executable itself (`-static-stdlib`) there is no separate image to tell
/// its code from the user's, and the frames are kept.
enum TrapFailurePath {
    /// `stack` (return addresses, leaf first, as the traceback takes them) without its leading frames in
    /// the standard library's image. Unchanged when the trap is not in that image, with
    /// GOTRACEBACK=system, or when nothing outside the standard library would be left.
    static func userStack(_ stack: [UInt], symbolizer: Symbolizer = .shared) -> [UInt] {
        guard !Scheduler.shared.configuration.tracebackSystem, let library = standardLibraryImage(symbolizer) else {
            return stack
        }
        let mappings = symbolizer.mappings()
        let inLibrary = { (pc: UInt) -> Bool in
            guard pc > 1, let index = symbolizer.mappingIndex(containing: pc - 1) else { return false }
            return mappings.indices.contains(index) && mappings[index].path == library
        }
        guard let firstOutside = stack.firstIndex(where: { !inLibrary($0) }), firstOutside > 0 else { return stack }
        return Array(stack[firstOutside...])
    }

    /// Path of the image that holds the Swift runtime (where `swift_retain` lives: libswiftCore on
    /// Linux), nil when that is the main executable (statically linked standard library) or unknown.
    private static func standardLibraryImage(_ symbolizer: Symbolizer) -> String? {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "swift_retain"),
              let index = symbolizer.mappingIndex(containing: UInt(bitPattern: symbol)) else { return nil }
        let mappings = symbolizer.mappings()
        guard mappings.indices.contains(index) else { return nil }
        let path = mappings[index].path
        // `mappings()` lists the main executable's mappings first.
        return path == mappings.first?.path ? nil : path
    }
}
