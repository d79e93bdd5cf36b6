import Symbolication

/// Hands the builder leaf locations without their leading inlined frames that belong to the machinery
/// (allocator paths in heap profiles, the contention recorder in block/mutex profiles); at least one frame
/// always stays. A PC is a leaf in every sample or in none, so each Location stays the same everywhere.
struct LeafTrimmingResolver: FrameResolver {
    let base: any FrameResolver
    /// Call-site PCs that are the leaf of some sample.
    let leafPCs: Set<UInt>
    let isMachineryFrame: @Sendable (SymbolicatedFrame) -> Bool

    func frames(at pcs: [UInt]) -> [[SymbolicatedFrame]] {
        zip(pcs, base.frames(at: pcs)).map { pc, frames in
            guard leafPCs.contains(pc), frames.count > 1 else { return frames }
            let firstUser = frames.firstIndex { !isMachineryFrame($0) } ?? frames.count - 1
            return Array(frames[firstUser...])
        }
    }

    func mappings() -> [ImageMapping] { base.mappings() }
    func mappingIndex(containing pc: UInt) -> Int? { base.mappingIndex(containing: pc) }
}
