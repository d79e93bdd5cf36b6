// How profiles turn program counters into names. The Symbolication module's `Symbolizer` provides
// exactly these methods; tests use small fakes with made-up addresses and names.
import Symbolication

/// Turns program counters into frames and mappings for profiles. `Symbolizer.shared` is the
/// process's; the profiles use it by default.
public protocol FrameResolver: Sendable {
    /// Frames for each call-site PC (return address − 1 for callers), innermost first; never empty:
    /// an unknown PC gives one frame whose function is "?".
    func frames(at pcs: [UInt]) -> [[SymbolicatedFrame]]
    /// Executable mappings of the process, main executable first.
    func mappings() -> [ImageMapping]
    /// Index into `mappings()` of the mapping that holds `pc`, nil if none does.
    func mappingIndex(containing pc: UInt) -> Int?
}

extension SymbolicatedFrame {
    /// False for the resolver's "don't know" answer, which carries no function name.
    var isKnown: Bool { !function.isEmpty && function != "?" }
}

/// Symbolizes each distinct PC once and remembers the answer for the rest of one rendering.
struct ResolvedFrames {
    private(set) var framesByPC: [UInt: [SymbolicatedFrame]] = [:]

    /// Resolves every PC in `pcs` not seen before, in one batch call.
    mutating func resolve(_ pcs: some Sequence<UInt>, with resolver: any FrameResolver) {
        var missing: [UInt] = []
        var queued = Set<UInt>()
        for pc in pcs where framesByPC[pc] == nil && queued.insert(pc).inserted {
            missing.append(pc)
        }
        guard !missing.isEmpty else { return }
        let answers = resolver.frames(at: missing)
        for (index, pc) in missing.enumerated() {
            framesByPC[pc] = index < answers.count ? answers[index] : []
        }
    }

    subscript(pc: UInt) -> [SymbolicatedFrame] { framesByPC[pc] ?? [] }
}

/// The call-site PC for a return address: backing up one byte lands inside the call instruction, which is
/// what line tables and pprof expect. Zero stays zero.
@inline(__always)
func callSitePC(returnAddress: UInt) -> UInt {
    returnAddress == 0 ? 0 : returnAddress - 1
}

/// The process's real symbolizer is the resolver every runtime profile uses.
extension Symbolizer: FrameResolver {}
