import CStackSwitch
import Synchronization

// select, as Go's select.go does it.
//
// 1. Put the cases in a random poll order (a ready case is chosen uniformly, as in Go) and take every
//    channel's lock in one global order (by address, each channel once), so two selects over the same
//    channels in different orders cannot deadlock.
// 2. Poll: the first case in poll order that can proceed does, under the locks. Else `default` runs.
// 3. Otherwise enqueue one waiter per case, in the same random poll order (so cases sharing a channel sit
//    in its FIFO in random order), each on its channel and all sharing one `SelectWait`, whose winner flag
//    the first channel (or the timeout timer) to claim it sets; the others skip those waiters.
//    The scheduler releases the locks only once the goroutine is parked.
// 4. Woken: lock again, unlink the waiters that did not win, stop the timer, run the winner's handler.

/// One case of a `select`. In a `select { … }` block write the clauses `Receive`, `Send`, `Timeout` and
/// `Default`; for `select(cases:)` build them with `.receive`, `.send`, `.timeout` and `.default`.
/// (Leading-dot cases cannot be stacked one per line in a block: Swift reads the second as a member of
/// the first.)
public struct SelectCase {
    enum Kind {
        case channel(SelectOperation)
        /// A case on a nil channel: never fires.
        case never
        case timeout(nanoseconds: Int64, handler: () -> Void)
        case otherwise(() -> Void)
    }

    let kind: Kind
    /// The channel operation again, unretained (`kind` keeps it alive), so select can gather the cases
    /// without retaining each one.
    let operation: Unmanaged<SelectOperation>?

    init(kind: Kind) {
        self.kind = kind
        if case .channel(let op) = kind { operation = .passUnretained(op) } else { operation = nil }
    }

    /// Receives from `channel`; `handler` gets the value, or nil if the channel is closed (Go's `ok` false).
    /// A nil `channel` never fires (Go's nil channel).
    public static func receive<E>(_ channel: Channel<E>?, _ handler: @escaping (E?) -> Void = { _ in }) -> SelectCase {
        guard let channel else { return SelectCase(kind: .never) }
        return SelectCase(kind: .channel(SelectReceive(channel, handler)))
    }

    /// Sends `value` on `channel`, then runs `handler`. Fatal if the channel is closed when chosen.
    /// A nil `channel` never fires.
    public static func send<E>(_ value: E, to channel: Channel<E>?, _ handler: @escaping () -> Void = {}) -> SelectCase {
        guard let channel else { return SelectCase(kind: .never) }
        return SelectCase(kind: .channel(SelectSend(value, channel, handler)))
    }

    /// Fires after `duration` if nothing else did (Go's `case <-time.After(d)`), through a runtime timer
    /// that is released as soon as the select finishes.
    public static func timeout(_ duration: Duration, _ handler: @escaping () -> Void = {}) -> SelectCase {
        SelectCase(kind: .timeout(nanoseconds: duration.nanoseconds, handler: handler))
    }

    /// Runs at once when no other case is ready (Go's `default:`).
    public static func `default`(_ handler: @escaping () -> Void = {}) -> SelectCase {
        SelectCase(kind: .otherwise(handler))
    }
}

/// A clause of a `select` block: `Receive`, `Send`, `Timeout`, `Default`.
public protocol SelectClause {
    var selectCase: SelectCase { get }
}

/// `select` clause: receive from `channel` (Go's `case v, ok := <-ch`). The handler gets nil when the
/// channel is closed. A nil channel never fires.
public struct Receive<Element: Sendable>: SelectClause {
    /// The case this clause stands for.
    public let selectCase: SelectCase
    /// Receives from `channel` (never ready when nil, as Go's nil channel); `handler` gets the value,
    /// or nil when the channel is closed.
    public init(_ channel: Channel<Element>?, _ handler: @escaping (Element?) -> Void = { _ in }) {
        selectCase = .receive(channel, handler)
    }
}

/// `select` clause: send `value` on `channel` (Go's `case ch <- v`). A nil channel never fires; a closed
/// one is fatal when chosen.
public struct Send<Element: Sendable>: SelectClause {
    /// The case this clause stands for.
    public let selectCase: SelectCase
    /// Sends `value` on `channel` (never ready when nil); `handler` runs once it was sent.
    public init(_ value: Element, to channel: Channel<Element>?, _ handler: @escaping () -> Void = {}) {
        selectCase = .send(value, to: channel, handler)
    }
}

/// `select` clause: fires after `duration` if no other case did (Go's `case <-time.After(d)`).
public struct Timeout: SelectClause {
    /// The case this clause stands for.
    public let selectCase: SelectCase
    /// Ready after `duration` (Go's `case <-time.After(d)`).
    public init(_ duration: Duration, _ handler: @escaping () -> Void = {}) {
        selectCase = .timeout(duration, handler)
    }
}

/// `select` clause: runs when no other case is ready, making the select non-blocking (Go's `default:`).
public struct Default: SelectClause {
    /// The case this clause stands for.
    public let selectCase: SelectCase
    /// Taken when no other case is ready (Go's `default:`): the select never waits.
    public init(_ handler: @escaping () -> Void = {}) { selectCase = .default(handler) }
}

/// Collects `select` clauses; `if`, `if let`, `switch` and `for` work inside it.
@resultBuilder
public enum SelectBuilder {
    /// Result-builder plumbing for `select { … }`.
    public static func buildExpression(_ c: some SelectClause) -> [SelectCase] { [c.selectCase] }
    /// Result-builder plumbing for `select { … }`.
    public static func buildExpression(_ c: SelectCase) -> [SelectCase] { [c] }
    /// Result-builder plumbing for `select { … }`.
    public static func buildExpression(_ c: [SelectCase]) -> [SelectCase] { c }
    /// Result-builder plumbing for `select { … }`.
    public static func buildBlock(_ parts: [SelectCase]...) -> [SelectCase] {
        // One exact-size array rather than flatMap's repeated growth: this runs on every select.
        if parts.count == 1 { return parts[0] }
        var all: [SelectCase] = []
        var total = 0
        for part in parts { total += part.count }
        all.reserveCapacity(total)
        for part in parts { all.append(contentsOf: part) }
        return all
    }
    /// `if` without `else` inside `select { … }`: the case exists only when the condition holds.
    public static func buildOptional(_ c: [SelectCase]?) -> [SelectCase] { c ?? [] }
    /// `if`/`else` inside `select { … }`.
    public static func buildEither(first c: [SelectCase]) -> [SelectCase] { c }
    /// `if`/`else` inside `select { … }`.
    public static func buildEither(second c: [SelectCase]) -> [SelectCase] { c }
    /// `for` loops inside `select { … }`: one case per iteration (Go's `reflect.Select` use case).
    public static func buildArray(_ c: [[SelectCase]]) -> [SelectCase] { c.flatMap { $0 } }
}

/// Go's `select`: waits until one case can proceed, performs it, and runs its handler.
///
///     select {
///         Receive(jobs) { job in … }                // job == nil: jobs is closed
///         Send(result, to: results) { … }
///         Timeout(.seconds(1)) { … }
///         Default { … }                             // optional: makes the select non-blocking
///     }
///
/// Ready cases are chosen uniformly at random. With no cases it blocks forever (`select (no cases)`).
/// Usable from goroutines (parks, `[select]`) and plain threads (blocks the thread).
@inline(never)
public func select(@SelectBuilder _ cases: () -> [SelectCase]) {
    runSelect(cases())
}

/// The same, with the cases as an array (built in a loop, for example).
@inline(never)
public func select(cases: [SelectCase]) {
    runSelect(cases)
}

/// Operations a channel case performs under its channel's lock, erased over the element type (a class
/// rather than a protocol: one vtable call, and the lock and address are plain stored fields).
class SelectOperation {
    /// Unretained: the subclass holds the channel, which holds its lock.
    unowned(unsafe) let channelLock: RuntimeLock
    let channelAddress: UInt

    init(lock: RuntimeLock, address: UInt) {
        channelLock = lock
        channelAddress = address
    }

    /// Every channel lock of the select held. If this case can proceed without waiting it does: releases
    /// the locks, wakes its partner, runs the handler and returns true. The value travels through this
    /// frame, so the poll pass allocates nothing.
    func completeIfReady(unlocking scratch: UnsafeMutablePointer<SelectScratch>, _ lockCount: Int) -> Bool {
        fatalError("abstract")
    }
    /// Channel lock held: wait on the channel with `node`.
    func enqueue(_ node: UnsafeMutablePointer<WaitNode>) {}
    func remove(_ node: UnsafeMutablePointer<WaitNode>) {}
    /// This case won while blocked; `success` is false when a close woke it.
    func completeAfterWake(success: Bool) {}
    func runHandler() {}
}

final class SelectReceive<E: Sendable>: SelectOperation {
    let channel: Channel<E>
    let handler: (E?) -> Void
    /// Where a sender puts the value (an `E?`) while the select is blocked; allocated only when it blocks.
    /// Untyped so destroying the case needs no `Optional<E>` metadata lookup on the fast path.
    var slot: UnsafeMutableRawPointer?

    init(_ channel: Channel<E>, _ handler: @escaping (E?) -> Void) {
        self.channel = channel
        self.handler = handler
        super.init(lock: channel.lock, address: channel.address)
    }

    deinit {
        if let slot {
            slot.assumingMemoryBound(to: E?.self).deinitialize(count: 1)
            slot.deallocate()
        }
    }

    override func completeIfReady(unlocking scratch: UnsafeMutablePointer<SelectScratch>, _ lockCount: Int) -> Bool {
        var received: E? = nil
        switch channel.receiveLocked(into: &received) {
        case .done(let wake):
            unlockSelectChannels(scratch, lockCount)
            if let wake { WaitNode.wake(wake) }
        case .closed:
            unlockSelectChannels(scratch, lockCount)
        case .wouldBlock:
            return false
        }
        handler(received)
        return true
    }

    override func enqueue(_ node: UnsafeMutablePointer<WaitNode>) {
        let slot = self.slot ?? {
            let fresh = UnsafeMutablePointer<E?>.allocate(capacity: 1)
            fresh.initialize(to: nil)
            self.slot = UnsafeMutableRawPointer(fresh)
            return UnsafeMutableRawPointer(fresh)
        }()
        node.pointee.element = slot
        channel.enqueueReceiver(node)
    }

    override func remove(_ node: UnsafeMutablePointer<WaitNode>) { channel.removeReceiver(node) }
    override func completeAfterWake(success: Bool) {}

    override func runHandler() {
        guard let raw = slot else { return handler(nil) }
        let slot = raw.assumingMemoryBound(to: E?.self)
        let value = slot.move()
        slot.initialize(to: nil)
        handler(value)
    }
}

final class SelectSend<E: Sendable>: SelectOperation {
    let channel: Channel<E>
    let handler: () -> Void
    let value: E
    /// A copy of `value` (an `E`) a receiver can take while the select is blocked; allocated only when it
    /// blocks. Untyped for the same reason as `SelectReceive.slot`.
    var offered: UnsafeMutableRawPointer?

    init(_ value: E, _ channel: Channel<E>, _ handler: @escaping () -> Void) {
        self.channel = channel
        self.handler = handler
        self.value = value
        super.init(lock: channel.lock, address: channel.address)
    }

    deinit {
        if let offered {
            offered.assumingMemoryBound(to: E.self).deinitialize(count: 1)
            offered.deallocate()
        }
    }

    override func completeIfReady(unlocking scratch: UnsafeMutablePointer<SelectScratch>, _ lockCount: Int) -> Bool {
        switch channel.sendLocked(value) {
        case .done(let wake):
            unlockSelectChannels(scratch, lockCount)
            if let wake { WaitNode.wake(wake) }
            handler()
            return true
        case .closed:
            unlockSelectChannels(scratch, lockCount)
            goroutinePanic("send on closed channel")
        case .wouldBlock:
            return false
        }
    }

    override func enqueue(_ node: UnsafeMutablePointer<WaitNode>) {
        let offered = self.offered ?? {
            let fresh = UnsafeMutablePointer<E>.allocate(capacity: 1)
            fresh.initialize(to: value)
            self.offered = UnsafeMutableRawPointer(fresh)
            return UnsafeMutableRawPointer(fresh)
        }()
        node.pointee.element = offered
        channel.enqueueSender(node)
    }

    override func remove(_ node: UnsafeMutablePointer<WaitNode>) { channel.removeSender(node) }

    override func completeAfterWake(success: Bool) {
        if !success { goroutinePanic("send on closed channel") }
    }

    override func runHandler() { handler() }
}

/// The shared state of one blocked select: who won, whom to wake, and what to release once parked.
final class SelectWait: ParkCommit, @unchecked Sendable {
    private let winner = Atomic<Int>(-1)
    var g: G?
    var note: UnsafeMutablePointer<gr_note>?
    /// The select's scratch (on its stack for the whole wait): the first `lockCount` entries' `lockOwner`
    /// name the channels to unlock.
    var scratch: UnsafeMutablePointer<SelectScratch>?
    var lockCount = 0
    var timer: RuntimeTimer?

    /// The first claim wins; later ones (other channels, the timer) must leave this select alone.
    @inline(__always) func claim(_ caseIndex: Int) -> Bool {
        winner.compareExchange(expected: -1, desired: caseIndex, ordering: .acquiringAndReleasing).exchanged
    }

    var winningCase: Int { winner.load(ordering: .acquiring) }

    func wake() {
        if let g { Scheduler.shared.ready(g, next: true) } else if let note { gr_note_wakeup(note) }
    }

    /// On the scheduler stack, with the goroutine parked: arm the timeout, then release the channels.
    /// (Arming first means no waker can resume the goroutine before its timer exists to be stopped.)
    func commitPark(_ g: G) -> Bool {
        if let timer { Scheduler.shared.addTimer(timer) }
        if let scratch { unlockSelectChannels(scratch, lockCount) }
        return true
    }
}

/// Per-case bookkeeping of one select, kept in a stack buffer so choosing a ready case allocates nothing
/// beyond the cases themselves.
struct SelectScratch {
    /// Case i's operation (kept alive by the caller's case list).
    var operation: Unmanaged<SelectOperation>
    /// Entry i: the case to poll i-th (a uniform random permutation).
    var pollOrder: Int
    /// Entry i < lockCount: the case whose channel is locked i-th (by address, each channel once).
    var lockOwner: Int
}

@inline(__always)
func selectChannelLock(_ scratch: UnsafeMutablePointer<SelectScratch>, _ i: Int) -> RuntimeLock {
    scratch[scratch[i].lockOwner].operation.takeUnretainedValue().channelLock
}

@inline(__always)
private func lockSelectChannels(_ scratch: UnsafeMutablePointer<SelectScratch>, _ lockCount: Int) {
    for i in 0..<lockCount { selectChannelLock(scratch, i).lock() }
}

@inline(__always)
func unlockSelectChannels(_ scratch: UnsafeMutablePointer<SelectScratch>, _ lockCount: Int) {
    var i = lockCount
    while i > 0 { i -= 1; selectChannelLock(scratch, i).unlock() }
}

@inline(__always)
private func runSelect(_ cases: [SelectCase]) {
    var channelCases = 0
    var defaultHandler: (() -> Void)?
    var timeout: (nanoseconds: Int64, handler: () -> Void)?
    var sawNilChannel = false
    for i in cases.indices {
        switch cases[i].kind {
        case .channel: channelCases += 1
        case .never: sawNilChannel = true
        case .timeout(let ns, let handler):
            if timeout == nil || ns < timeout!.nanoseconds { timeout = (ns, handler) }
        case .otherwise(let handler):
            precondition(defaultHandler == nil, "select has more than one .default case")
            defaultHandler = handler
        }
    }
    if channelCases == 0 && timeout == nil {
        if let defaultHandler { defaultHandler(); return }
        blockForever(sawNilChannel ? .select : .selectNoCases)
    }
    withUnsafeTemporaryAllocation(of: SelectScratch.self, capacity: max(channelCases, 1)) { buffer in
        let scratch = buffer.baseAddress!
        var n = 0
        for i in cases.indices {
            if let operation = cases[i].operation {
                (scratch + n).initialize(to: SelectScratch(operation: operation, pollOrder: n, lockOwner: n))
                n += 1
            }
        }
        runSelect(scratch, n, defaultHandler: defaultHandler, timeout: timeout)
    }
}

@inline(__always)
private func runSelect(
    _ scratch: UnsafeMutablePointer<SelectScratch>, _ count: Int,
    defaultHandler: (() -> Void)?, timeout: (nanoseconds: Int64, handler: () -> Void)?
) {
    @inline(__always) func operation(_ i: Int) -> SelectOperation { scratch[i].operation.takeUnretainedValue() }

    // Poll order: Fisher-Yates over the identity. Lock order: insertion sort by channel address (selects
    // have a handful of cases), then drop repeats of a channel.
    var i = count - 1
    while i > 0 {
        let j = FastRandom.below(i + 1)
        let t = scratch[i].pollOrder
        scratch[i].pollOrder = scratch[j].pollOrder
        scratch[j].pollOrder = t
        i -= 1
    }
    var lockCount = 0
    if count > 0 {
        for k in 1..<max(count, 1) {
            var j = k
            let owner = scratch[k].lockOwner
            let address = operation(owner).channelAddress
            while j > 0 && operation(scratch[j - 1].lockOwner).channelAddress > address {
                scratch[j].lockOwner = scratch[j - 1].lockOwner
                j -= 1
            }
            scratch[j].lockOwner = owner
        }
        var last: UInt = 0
        for k in 0..<count {
            let owner = scratch[k].lockOwner
            let address = operation(owner).channelAddress
            if address != last {
                scratch[lockCount].lockOwner = owner
                lockCount += 1
                last = address
            }
        }
    }
    lockSelectChannels(scratch, lockCount)

    for k in 0..<count where operation(scratch[k].pollOrder).completeIfReady(unlocking: scratch, lockCount) {
        return
    }
    if let defaultHandler {
        unlockSelectChannels(scratch, lockCount)
        defaultHandler()
        return
    }
    if let timeout, timeout.nanoseconds <= 0 {
        unlockSelectChannels(scratch, lockCount)
        timeout.handler()
        return
    }

    // Block on every case at once.
    let wait = SelectWait()
    wait.scratch = scratch
    wait.lockCount = lockCount
    let timeoutIndex = count
    let start = ContentionProfiler.blockStart()
    withUnsafeTemporaryAllocation(of: WaitNode.self, capacity: max(count, 1)) { nodes in
        let selection = Unmanaged.passUnretained(wait)
        // Enqueue in poll order, not case order: when several cases share a channel, whoever arrives there
        // first meets them in the channel's FIFO order, and that order must be random too (Go's
        // TestPseudoRandomSend).
        for k in 0..<count {
            let i = scratch[k].pollOrder
            var node = WaitNode()
            node.selection = selection
            node.caseIndex = i
            (nodes.baseAddress! + i).initialize(to: node)
            operation(i).enqueue(nodes.baseAddress! + i)
        }
        if let timeout {
            let timer = RuntimeTimer(action: .run({ [wait] in
                if wait.claim(timeoutIndex) { wait.wake() }
            }))
            let (when, overflow) = gr_nanotime().addingReportingOverflow(timeout.nanoseconds)
            timer.when = overflow ? Int64.max : when
            wait.timer = timer
        }
        if let m = M.current, let g = m.curG {
            wait.g = g
            Scheduler.shared.park(.select, commit: wait, target: wait)
        } else {
            let note = UnsafeMutablePointer<gr_note>.allocate(capacity: 1)
            note.initialize(to: gr_note())
            wait.note = note
            let sched = Scheduler.shared
            sched.ensureStarted()
            sched.externalWaiters.wrappingAdd(1, ordering: .relaxed)
            if let timer = wait.timer { sched.addTimer(timer) }
            unlockSelectChannels(scratch, lockCount)
            _ = gr_note_sleep(note, -1)
            sched.externalWaiters.wrappingSubtract(1, ordering: .relaxed)
        }
        // Woken: unlink the losing waiters (the winner was unlinked by whoever claimed it).
        lockSelectChannels(scratch, lockCount)
        for k in 0..<count {
            let i = scratch[k].pollOrder
            operation(i).remove(nodes.baseAddress! + i)
        }
        unlockSelectChannels(scratch, lockCount)
        wait.scratch = nil
        let won = wait.winningCase
        if let timer = wait.timer, won != timeoutIndex { Scheduler.shared.cancelTimer(timer) }
        if won != timeoutIndex { operation(won).completeAfterWake(success: nodes[won].success) }
        nodes.baseAddress!.deinitialize(count: count)
    }
    if let note = wait.note { note.deallocate() }
    if start != 0 { ContentionProfiler.recordBlock(since: start) }
    let won = wait.winningCase
    if won == timeoutIndex { timeout!.handler() } else { operation(won).runHandler() }
}

extension Go {
    /// Go's `time.After`: a channel that receives one value after `duration` (buffered, so the timer
    /// never blocks). Prefer `SelectCase.timeout` in a select: it releases its timer when the select ends.
    public static func after(_ duration: Duration) -> Channel<Void> {
        let channel = Channel<Void>(capacity: 1)
        let sched = Scheduler.shared
        sched.ensureStarted()
        let timer = RuntimeTimer(action: .run({ _ = channel.trySend(()) }))
        timer.when = runtimeDeadline(after: duration)
        sched.addTimer(timer)
        return channel
    }
}
