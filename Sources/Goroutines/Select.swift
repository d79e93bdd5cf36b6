import CStackSwitch
import Synchronization

// select, as Go's select.go does it.
//
// 1. Put the cases in a random poll order (a ready case is chosen uniformly, as in Go) and take every
//    channel's lock in one global order (by address, each channel once), so two selects over the same
//    channels in different orders cannot deadlock.
// 2. Poll: the first case in poll order that can proceed does, under the locks. Else `default` runs.
// 3. Otherwise enqueue one waiter per case, each on its channel and all sharing one `SelectWait`, whose
//    winner flag the first channel (or the timeout timer) to claim it sets; the others skip those waiters.
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
    public let selectCase: SelectCase
    public init(_ channel: Channel<Element>?, _ handler: @escaping (Element?) -> Void = { _ in }) {
        selectCase = .receive(channel, handler)
    }
}

/// `select` clause: send `value` on `channel` (Go's `case ch <- v`). A nil channel never fires; a closed
/// one is fatal when chosen.
public struct Send<Element: Sendable>: SelectClause {
    public let selectCase: SelectCase
    public init(_ value: Element, to channel: Channel<Element>?, _ handler: @escaping () -> Void = {}) {
        selectCase = .send(value, to: channel, handler)
    }
}

/// `select` clause: fires after `duration` if no other case did (Go's `case <-time.After(d)`).
public struct Timeout: SelectClause {
    public let selectCase: SelectCase
    public init(_ duration: Duration, _ handler: @escaping () -> Void = {}) {
        selectCase = .timeout(duration, handler)
    }
}

/// `select` clause: runs when no other case is ready, making the select non-blocking (Go's `default:`).
public struct Default: SelectClause {
    public let selectCase: SelectCase
    public init(_ handler: @escaping () -> Void = {}) { selectCase = .default(handler) }
}

/// Collects `select` clauses; `if`, `if let`, `switch` and `for` work inside it.
@resultBuilder
public enum SelectBuilder {
    public static func buildExpression(_ c: some SelectClause) -> [SelectCase] { [c.selectCase] }
    public static func buildExpression(_ c: SelectCase) -> [SelectCase] { [c] }
    public static func buildExpression(_ c: [SelectCase]) -> [SelectCase] { c }
    public static func buildBlock(_ parts: [SelectCase]...) -> [SelectCase] { parts.flatMap { $0 } }
    public static func buildOptional(_ c: [SelectCase]?) -> [SelectCase] { c ?? [] }
    public static func buildEither(first c: [SelectCase]) -> [SelectCase] { c }
    public static func buildEither(second c: [SelectCase]) -> [SelectCase] { c }
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
    let channelLock: RuntimeLock
    let channelAddress: UInt

    init(lock: RuntimeLock, address: UInt) {
        channelLock = lock
        channelAddress = address
    }

    /// Channel lock held. Proceeds if it can without waiting.
    func poll() -> SelectPoll { fatalError("abstract") }
    /// Channel lock held: wait on the channel with `node`.
    func enqueue(_ node: UnsafeMutablePointer<WaitNode>) {}
    func remove(_ node: UnsafeMutablePointer<WaitNode>) {}
    /// This case won while blocked; `success` is false when a close woke it.
    func completeAfterWake(success: Bool) {}
    func runHandler() {}
}

enum SelectPoll {
    case ready(UnsafeMutablePointer<WaitNode>?)
    case sendOnClosed
    case wouldBlock
}

final class SelectReceive<E: Sendable>: SelectOperation {
    let channel: Channel<E>
    let handler: (E?) -> Void
    let slot: UnsafeMutablePointer<E?>

    init(_ channel: Channel<E>, _ handler: @escaping (E?) -> Void) {
        self.channel = channel
        self.handler = handler
        slot = .allocate(capacity: 1)
        slot.initialize(to: nil)
        super.init(lock: channel.lock, address: channel.address)
    }

    deinit { slot.deinitialize(count: 1); slot.deallocate() }

    override func poll() -> SelectPoll {
        switch channel.receiveLocked(into: slot) {
        case .done(let wake): return .ready(wake)
        case .closed: return .ready(nil)
        case .wouldBlock: return .wouldBlock
        }
    }

    override func enqueue(_ node: UnsafeMutablePointer<WaitNode>) {
        node.pointee.element = UnsafeMutableRawPointer(slot)
        channel.enqueueReceiver(node)
    }

    override func remove(_ node: UnsafeMutablePointer<WaitNode>) { channel.removeReceiver(node) }
    override func completeAfterWake(success: Bool) {}
    override func runHandler() { handler(slot.move()); slot.initialize(to: nil) }
}

final class SelectSend<E: Sendable>: SelectOperation {
    let channel: Channel<E>
    let handler: () -> Void
    let value: UnsafeMutablePointer<E>

    init(_ value: E, _ channel: Channel<E>, _ handler: @escaping () -> Void) {
        self.channel = channel
        self.handler = handler
        self.value = .allocate(capacity: 1)
        self.value.initialize(to: value)
        super.init(lock: channel.lock, address: channel.address)
    }

    deinit { value.deinitialize(count: 1); value.deallocate() }

    override func poll() -> SelectPoll {
        switch channel.sendLocked(value.pointee) {
        case .done(let wake): return .ready(wake)
        case .closed: return .sendOnClosed
        case .wouldBlock: return .wouldBlock
        }
    }

    override func enqueue(_ node: UnsafeMutablePointer<WaitNode>) {
        node.pointee.element = UnsafeMutableRawPointer(value)
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
    var locks: [RuntimeLock] = []
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
        for lock in locks.reversed() { lock.unlock() }
        return true
    }
}

@inline(__always)
private func runSelect(_ cases: [SelectCase]) {
    var operations: [SelectOperation] = []
    var defaultHandler: (() -> Void)?
    var timeout: (nanoseconds: Int64, handler: () -> Void)?
    var sawNilChannel = false
    operations.reserveCapacity(cases.count)
    for c in cases {
        switch c.kind {
        case .channel(let op): operations.append(op)
        case .never: sawNilChannel = true
        case .timeout(let ns, let handler):
            if timeout == nil || ns < timeout!.nanoseconds { timeout = (ns, handler) }
        case .otherwise(let handler):
            precondition(defaultHandler == nil, "select has more than one .default case")
            defaultHandler = handler
        }
    }
    if operations.isEmpty && timeout == nil {
        if let defaultHandler { defaultHandler(); return }
        blockForever(sawNilChannel ? .select : .selectNoCases)
    }

    // Poll order: a uniform random permutation. Lock order: by channel address, each channel once.
    var pollOrder = Array(operations.indices)
    if pollOrder.count > 1 {
        for i in stride(from: pollOrder.count - 1, to: 0, by: -1) {
            pollOrder.swapAt(i, FastRandom.below(i + 1))
        }
    }
    let locks = lockOrder(operations)
    for lock in locks { lock.lock() }

    for i in pollOrder {
        switch operations[i].poll() {
        case .ready(let wake):
            for lock in locks.reversed() { lock.unlock() }
            if let wake { WaitNode.wake(wake) }
            operations[i].runHandler()
            return
        case .sendOnClosed:
            for lock in locks.reversed() { lock.unlock() }
            goroutinePanic("send on closed channel")
        case .wouldBlock:
            continue
        }
    }
    if let defaultHandler {
        for lock in locks.reversed() { lock.unlock() }
        defaultHandler()
        return
    }
    if let timeout, timeout.nanoseconds <= 0 {
        for lock in locks.reversed() { lock.unlock() }
        timeout.handler()
        return
    }

    // Block on every case at once.
    let wait = SelectWait()
    wait.locks = locks
    let timeoutIndex = operations.count
    let start = ContentionProfiler.blockStart()
    withUnsafeTemporaryAllocation(of: WaitNode.self, capacity: max(operations.count, 1)) { nodes in
        let selection = Unmanaged.passUnretained(wait)
        for i in operations.indices {
            var node = WaitNode()
            node.selection = selection
            node.caseIndex = i
            (nodes.baseAddress! + i).initialize(to: node)
            operations[i].enqueue(nodes.baseAddress! + i)
        }
        if let timeout {
            let timer = RuntimeTimer(action: .run({ [wait] in
                if wait.claim(timeoutIndex) { wait.wake() }
            }))
            timer.when = gr_nanotime() + timeout.nanoseconds
            wait.timer = timer
        }
        if let m = M.current, let g = m.curG {
            wait.g = g
            Scheduler.shared.park(.select, commit: wait)
        } else {
            let note = UnsafeMutablePointer<gr_note>.allocate(capacity: 1)
            note.initialize(to: gr_note())
            wait.note = note
            let sched = Scheduler.shared
            sched.ensureStarted()
            sched.externalWaiters.wrappingAdd(1, ordering: .relaxed)
            if let timer = wait.timer { sched.addTimer(timer) }
            for lock in locks.reversed() { lock.unlock() }
            _ = gr_note_sleep(note, -1)
            sched.externalWaiters.wrappingSubtract(1, ordering: .relaxed)
        }
        // Woken: unlink the losing waiters (the winner was unlinked by whoever claimed it).
        for lock in locks { lock.lock() }
        for i in operations.indices { operations[i].remove(nodes.baseAddress! + i) }
        for lock in locks.reversed() { lock.unlock() }
        let won = wait.winningCase
        if let timer = wait.timer, won != timeoutIndex { Scheduler.shared.cancelTimer(timer) }
        if won != timeoutIndex { operations[won].completeAfterWake(success: nodes[won].success) }
        nodes.baseAddress!.deinitialize(count: operations.count)
    }
    if let note = wait.note { note.deallocate() }
    if start != 0 { ContentionProfiler.recordBlock(since: start) }
    let won = wait.winningCase
    if won == timeoutIndex { timeout!.handler() } else { operations[won].runHandler() }
}

/// Each distinct channel's lock once, in address order (insertion sort: selects have a handful of cases).
private func lockOrder(_ operations: [SelectOperation]) -> [RuntimeLock] {
    if operations.count <= 1 { return operations.map(\.channelLock) }
    var sorted = operations
    for i in 1..<sorted.count {
        var j = i
        while j > 0 && sorted[j - 1].channelAddress > sorted[j].channelAddress {
            sorted.swapAt(j - 1, j)
            j -= 1
        }
    }
    var locks: [RuntimeLock] = []
    locks.reserveCapacity(sorted.count)
    var last: UInt = 0
    for op in sorted where op.channelAddress != last {
        locks.append(op.channelLock)
        last = op.channelAddress
    }
    return locks
}

extension Go {
    /// Go's `time.After`: a channel that receives one value after `duration` (buffered, so the timer
    /// never blocks). Prefer `SelectCase.timeout` in a select: it releases its timer when the select ends.
    public static func after(_ duration: Duration) -> Channel<Void> {
        let channel = Channel<Void>(capacity: 1)
        let sched = Scheduler.shared
        sched.ensureStarted()
        let timer = RuntimeTimer(action: .run({ _ = channel.trySend(()) }))
        timer.when = gr_nanotime() + max(0, duration.nanoseconds)
        sched.addTimer(timer)
        return channel
    }
}
