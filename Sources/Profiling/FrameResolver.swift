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

/// What a stack keeps of one PC (decided from its frames' kinds, so per PC, not per stack).
enum PCDisposition {
    /// The PC stays.
    case keep
    /// Nothing but compiler thunks: left out, its neighbours stay.
    case skip
    /// Runtime glue below a goroutine's own function: it and everything rootward of it are left out, as
    /// Go leaves out `runtime.goexit`.
    case endsStack

    init(_ frames: [SymbolicatedFrame]) {
        if frames.contains(where: { $0.kind == .goroutineRoot }) {
            self = .endsStack
        } else if !frames.isEmpty, frames.allSatisfy({ $0.kind == .thunk }) {
            self = .skip
        } else {
            self = .keep
        }
    }
}

/// Symbolizes each distinct PC once and remembers the answer for the rest of one rendering.
struct ResolvedFrames {
    private(set) var framesByPC: [UInt: [SymbolicatedFrame]] = [:]
    /// What stacks keep of each resolved PC, decided once per PC.
    private var dispositionByPC: [UInt: PCDisposition] = [:]

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
            let frames = index < answers.count ? answers[index] : []
            framesByPC[pc] = frames
            dispositionByPC[pc] = PCDisposition(frames)
        }
    }

    subscript(pc: UInt) -> [SymbolicatedFrame] { framesByPC[pc] ?? [] }

    func disposition(ofCallSite pc: UInt) -> PCDisposition { dispositionByPC[pc] ?? .keep }

    /// `stack` (return addresses, leaf first) without thunk-only PCs and without the goroutine glue at its
    /// root. Every PC must have been resolved.
    func trimmed(_ stack: [UInt]) -> [UInt] {
        var result: [UInt] = []
        result.reserveCapacity(stack.count)
        for returnAddress in stack where returnAddress != 0 {
            switch disposition(ofCallSite: callSitePC(returnAddress: returnAddress)) {
            case .keep: result.append(returnAddress)
            case .skip: continue
            case .endsStack: return result
            }
        }
        return result
    }
}

/// The call-site PC for a return address: backing up one byte lands inside the call instruction, which is
/// what line tables and pprof expect. Zero stays zero.
@inline(__always)
func callSitePC(returnAddress: UInt) -> UInt {
    returnAddress == 0 ? 0 : returnAddress - 1
}

/// Answers from frames already resolved for one rendering, so a profile that symbolized its PCs to group
/// its stacks does not ask the symbolizer again when it builds the proto.
struct PrefetchedResolver: FrameResolver {
    let frames: ResolvedFrames
    let base: any FrameResolver

    func frames(at pcs: [UInt]) -> [[SymbolicatedFrame]] {
        guard pcs.allSatisfy({ frames.framesByPC[$0] != nil }) else { return base.frames(at: pcs) }
        return pcs.map { frames[$0] }
    }

    func mappings() -> [ImageMapping] { base.mappings() }
    func mappingIndex(containing pc: UInt) -> Int? { base.mappingIndex(containing: pc) }
}

/// The process's real symbolizer is the resolver every runtime profile uses.
extension Symbolizer: FrameResolver {}
