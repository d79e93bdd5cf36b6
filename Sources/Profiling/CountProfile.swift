import Goroutines
// Count profiles: goroutine, threadcreate and any custom profile that counts things with stacks.
//
// Records with the same stack and the same labels are grouped; a group's value is how many records it
// holds. Groups are ordered as Go orders them: by count, largest first, ties broken by comparing the
// group's text key (`@ 0x… 0x…` plus its `# labels:` line) byte by byte. The proto and the `debug=1` text
// list the groups in that same order.
//
// Proto shape (Go 1.27): sample type and period type `<name>/count`, period 1, one sample per group,
// labels as string labels sorted by key, no default sample type.
import Glibc
import Symbolication

/// One counted thing (a goroutine, a thread) with its stack and labels.
public struct CountProfileRecord: Sendable, Hashable {
    /// Return addresses, leaf first; zeros are end-of-stack markers and are ignored.
    public var stack: [UInt]
    /// pprof labels (goroutine labels). Labels with an empty key are left out of the proto, because
    /// Parca rejects a profile that has one.
    public var labels: [String: String]

    /// A record at `stack` with `labels`.
    public init(stack: [UInt], labels: [String: String] = [:]) {
        self.stack = stack
        self.labels = labels
    }
}

/// A profile that counts stacks: `goroutine` and `threadcreate` (Go's count profiles).
public struct CountProfile: RenderableProfile {
    /// One distinct (stack, labels) pair and how many records had it.
    public struct Group: Sendable, Hashable {
        /// Records with this stack and labels.
        public var count: Int
        /// Return addresses, leaf first.
        public var stack: [UInt]
        /// Sorted by key.
        public var labels: [(key: String, value: String)] { zip(labelKeys, labelValues).map { ($0, $1) } }
        fileprivate var labelKeys: [String]
        fileprivate var labelValues: [String]
        /// Go's text key: `@ 0x… 0x…`, plus `\n# labels: {…}` when there are labels.
        public var textKey: String { String(decoding: textKeyBytes, as: UTF8.self) }
        fileprivate var textKeyBytes: [UInt8]
    }

    /// The profile's name (`goroutine`, `threadcreate`).
    public let name: String
    /// Number of records.
    public let total: Int
    /// Groups in Go's order.
    public let groups: [Group]
    /// When the records were taken, nanoseconds since the Unix epoch.
    public let timeNanos: Int64
    private let resolver: any FrameResolver
    private let textFilter: StackTextFilter
    /// The frames of every PC of the groups, resolved once to group them and kept for rendering.
    private let frames: ResolvedFrames

    /// - Parameters:
    ///   - name: the profile name, e.g. "goroutine" or "threadcreate"; it names the sample type.
    ///   - textFilter: which frames the `debug=1` text hides (the proto keeps every frame).
    public init(name: String, records: [CountProfileRecord], resolver: any FrameResolver,
                timeNanos: Int64? = nil, textFilter: StackTextFilter = .showAll) {
        self.name = name
        self.resolver = resolver
        self.textFilter = textFilter
        self.timeNanos = timeNanos ?? currentUnixNanos()
        total = records.count

        struct Key: Hashable {
            var stack: [UInt]
            var labels: [String: String]
            /// Stacks are hashed with a cheap multiply-xor mix instead of one seeded hash per word.
            let mixed: Int

            init(stack: [UInt], labels: [String: String]) {
                self.stack = stack
                self.labels = labels
                var h: UInt = 0xcbf2_9ce4_8422_2325
                for word in stack { h = (h ^ word) &* 0x0000_0100_0000_01b3 }
                mixed = Int(bitPattern: h) ^ (labels.isEmpty ? 0 : labels.hashValue)
            }

            func hash(into hasher: inout Hasher) { hasher.combine(mixed) }
            static func == (a: Key, b: Key) -> Bool { a.mixed == b.mixed && a.stack == b.stack && a.labels == b.labels }
        }
        var groupIndex: [Key: Int] = [:]
        var order: [Key] = []
        var counts: [Int] = []
        var previous: Key?
        var previousCount = 0
        // Runs of identical records (many goroutines parked at one place) skip hashing.
        func flushPrevious() {
            guard let key = previous else { return }
            if let index = groupIndex[key] {
                counts[index] += previousCount
            } else {
                groupIndex[key] = order.count
                order.append(key)
                counts.append(previousCount)
            }
        }
        for record in records {
            if let key = previous, key.stack == record.stack, key.labels == record.labels {
                previousCount += 1
                continue
            }
            flushPrevious()
            previous = Key(stack: record.stack.contains(0) ? record.stack.filter { $0 != 0 } : record.stack,
                           labels: record.labels)
            previousCount = 1
        }
        flushPrevious()
        // Stacks that differ only in thunks or in the glue under the goroutine's function are the same
        // stack to a reader (Go never sees such frames): trim them, then merge what became equal.
        var frames = ResolvedFrames()
        frames.resolve(order.lazy.flatMap(\.stack).map { callSitePC(returnAddress: $0) }, with: resolver)
        var mergedIndex: [Key: Int] = [:]
        var mergedOrder: [Key] = []
        var mergedCounts: [Int] = []
        for (index, key) in order.enumerated() {
            let trimmed = Key(stack: frames.trimmed(key.stack), labels: key.labels)
            if let existing = mergedIndex[trimmed] {
                mergedCounts[existing] += counts[index]
            } else {
                mergedIndex[trimmed] = mergedOrder.count
                mergedOrder.append(trimmed)
                mergedCounts.append(counts[index])
            }
        }
        order = mergedOrder
        counts = mergedCounts
        self.frames = frames
        var groups = order.enumerated().map { index, key -> Group in
            let sorted = key.labels.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            var textKey = TextBuffer()
            textKey.append("@")
            textKey.appendAddressList(key.stack)
            if !sorted.isEmpty {
                // Go sorts the formatted pairs, which for distinct keys is the same as sorting by key
                // except where a key is a prefix of another; sort the formatted strings to be exact.
                let pairs = sorted.map { $0.key.goQuoted + ":" + $0.value.goQuoted }
                    .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
                textKey.append("\n# labels: {" + pairs.joined(separator: ", ") + "}")
            }
            return Group(count: counts[index], stack: key.stack, labelKeys: sorted.map(\.key),
                         labelValues: sorted.map(\.value), textKeyBytes: textKey.bytes)
        }
        groups.sort { a, b in
            if a.count != b.count { return a.count > b.count }
            return bytewiseLess(a.textKeyBytes, b.textKeyBytes)
        }
        self.groups = groups
    }

    /// The proto shape, stacks resolved now.
    public func pprofProfile() throws -> Profile {
        let countType = ValueType(type: name, unit: "count")
        var builder = try ProfileBuilder(sampleTypes: [countType], periodType: countType, period: 1,
                                         timeNanos: timeNanos, resolver: PrefetchedResolver(frames: frames, base: resolver))
        for group in groups {
            var labels: [Label] = []
            for (key, value) in zip(group.labelKeys, group.labelValues) where !key.isEmpty {
                labels.append(.string(key, value))
            }
            try builder.addSample(stack: group.stack, values: [Int64(group.count)], labels: labels)
        }
        return builder.build()
    }

    /// The `debug=1` text: `<name> profile: total N`, then per group `<count> @ 0x…`, the labels line,
    /// the frame lines and a blank line.
    public func legacyText() -> String {
        var text = TextBuffer()
        text.append("\(name) profile: total \(total)\n")
        for group in groups {
            text.appendDecimal(group.count)
            text.append(" ")
            text.bytes.append(contentsOf: group.textKeyBytes)
            text.append("\n")
            text.appendFrameLines(stack: group.stack, frames: frames, filter: textFilter, allFrames: false)
        }
        return text.alignedText()
    }
}

/// Byte order, as Go compares strings.
private func bytewiseLess(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    let common = min(a.count, b.count)
    let order = a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in common == 0 ? 0 : memcmp(pa.baseAddress!, pb.baseAddress!, common) }
    }
    return order != 0 ? order < 0 : a.count < b.count
}
