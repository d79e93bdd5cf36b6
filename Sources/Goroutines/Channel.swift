import CStackSwitch
#if canImport(Glibc)
import Glibc
#endif

// Channels, as Go's chan.go builds them.
//
// A channel is a lock, a ring buffer of `capacity` elements, and two FIFO queues of blocked parties
// (receivers waiting for a value, senders waiting for room or a receiver). Every operation takes the lock,
// looks at the opposite queue first and, if someone waits there, hands the value straight from one stack to
// the other (never through the buffer) and readies that party into the current P's `runnext`, so a
// ping-pong pair stays on one P. Otherwise it uses the buffer, or enqueues itself and parks; the lock is
// released by the scheduler only after the goroutine is switched out (`ParkCommit`), so a wake-up can
// never be lost. Plain threads block on a futex note in the same queues, so they can talk to goroutines.
//
// Differences from Go that Swift makes unavoidable (documented on the API): there is no zero value, so a
// receive on a closed channel returns nil; nil channels are `Channel?` values (see the Optional extension
// and `select`).

/// The result of a receive that must not block.
public enum ChannelTryReceive<Element: Sendable>: Sendable {
    /// A value was received.
    case value(Element)
    /// The channel is closed and drained.
    case closed
    /// Nothing is available now.
    case wouldBlock
}

/// A Go channel: unbuffered (`capacity` 0, each send meets a receive) or buffered. Safe to use from any
/// goroutine or thread; blocking parks a goroutine and blocks a thread.
public final class Channel<Element: Sendable>: @unchecked Sendable {
    let lock = RuntimeLock()
    /// The buffer's size (0 = unbuffered).
    public let capacity: Int
    private let buffer: UnsafeMutablePointer<Element>?
    private var head = 0
    private var buffered = 0
    private var closed = false
    private var receivers = WaitNodeQueue()
    private var senders = WaitNodeQueue()

    /// A channel with room for `capacity` values (Go's `make(chan T, capacity)`); 0 makes it unbuffered.
    public init(capacity: Int = 0) {
        precondition(capacity >= 0, "Channel capacity must be 0 (unbuffered) or positive, got \(capacity)")
        self.capacity = capacity
        buffer = capacity > 0 ? .allocate(capacity: capacity) : nil
    }

    deinit {
        if let buffer {
            for i in 0..<buffered { (buffer + (head + i) % capacity).deinitialize(count: 1) }
            buffer.deallocate()
        }
    }

    /// Values in the buffer now (Go's `len(ch)`).
    public var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return buffered
    }

    /// Whether `close` has been called (values may still be buffered).
    public var isClosed: Bool {
        lock.lock()
        defer { lock.unlock() }
        return closed
    }

    // MARK: send

    /// Sends `value`, blocking until a receiver takes it (unbuffered) or there is room (buffered).
    /// Sending on a closed channel is fatal: `panic: send on closed channel`, exit status 2.
    @inline(never)
    public func send(_ value: Element) {
        lock.lock()
        switch sendLocked(value) {
        case .done(let wake):
            lock.unlock()
            if let wake { WaitNode.wake(wake) }
        case .closed:
            lock.unlock()
            goroutinePanic("send on closed channel")
        case .wouldBlock:
            var value = value
            let start = ContentionProfiler.blockStart()
            let delivered = withUnsafeMutablePointer(to: &value) { element in
                var node = WaitNode()
                node.element = UnsafeMutableRawPointer(element)
                return withUnsafeMutablePointer(to: &node) { node in
                    senders.enqueue(node)
                    WaitNode.block(node, lock: lock, reason: .chanSend, owner: self)
                    return node.pointee.success
                }
            }
            if start != 0 { ContentionProfiler.recordBlock(since: start) }
            if !delivered { goroutinePanic("send on closed channel") }
        }
    }

    /// Sends `value` only if that needs no waiting. Returns false if it would block. Sending on a closed
    /// channel is fatal, as in Go's `select` with a default case.
    @inline(never)
    public func trySend(_ value: Element) -> Bool {
        lock.lock()
        switch sendLocked(value) {
        case .done(let wake):
            lock.unlock()
            if let wake { WaitNode.wake(wake) }
            return true
        case .closed:
            lock.unlock()
            goroutinePanic("send on closed channel")
        case .wouldBlock:
            lock.unlock()
            return false
        }
    }

    enum SendOutcome {
        /// Delivered; wake this waiter once the lock is released.
        case done(UnsafeMutablePointer<WaitNode>?)
        case closed
        case wouldBlock
    }

    /// Caller holds `lock`.
    func sendLocked(_ value: Element) -> SendOutcome {
        if closed { return .closed }
        if let receiver = receivers.dequeue() {
            if let slot = receiver.pointee.element {
                slot.assumingMemoryBound(to: Element?.self).pointee = value
            }
            receiver.pointee.success = true
            return .done(receiver)
        }
        if buffered < capacity, let buffer {
            (buffer + (head + buffered) % capacity).initialize(to: value)
            buffered += 1
            return .done(nil)
        }
        return .wouldBlock
    }

    /// Caller holds `lock`: queues a blocked sender (its `element` points at an `Element`).
    func enqueueSender(_ node: UnsafeMutablePointer<WaitNode>) { senders.enqueue(node) }
    func removeSender(_ node: UnsafeMutablePointer<WaitNode>) { senders.remove(node) }

    // MARK: receive

    /// Receives the next value, blocking until one is sent. Returns nil once the channel is closed and
    /// drained (Go returns the zero value and ok = false; Swift has no zero value).
    @inline(never)
    public func receive() -> Element? {
        var slot: Element? = nil
        lock.lock()
        switch receiveLocked(into: &slot) {
        case .done(let wake):
            lock.unlock()
            if let wake { WaitNode.wake(wake) }
            return slot
        case .closed:
            lock.unlock()
            return nil
        case .wouldBlock:
            let start = ContentionProfiler.blockStart()
            withUnsafeMutablePointer(to: &slot) { slotPointer in
                var node = WaitNode()
                node.element = UnsafeMutableRawPointer(slotPointer)
                withUnsafeMutablePointer(to: &node) { node in
                    receivers.enqueue(node)
                    WaitNode.block(node, lock: lock, reason: .chanReceive, owner: self)
                }
            }
            if start != 0 { ContentionProfiler.recordBlock(since: start) }
            return slot
        }
    }

    /// Receives a value only if one is available without waiting.
    @inline(never)
    public func tryReceive() -> ChannelTryReceive<Element> {
        var slot: Element? = nil
        lock.lock()
        switch receiveLocked(into: &slot) {
        case .done(let wake):
            lock.unlock()
            if let wake { WaitNode.wake(wake) }
            return .value(slot!)
        case .closed:
            lock.unlock()
            return .closed
        case .wouldBlock:
            lock.unlock()
            return .wouldBlock
        }
    }

    enum ReceiveOutcome {
        /// A value was stored in the slot; wake this waiter once the lock is released.
        case done(UnsafeMutablePointer<WaitNode>?)
        case closed
        case wouldBlock
    }

    /// Caller holds `lock`.
    func receiveLocked(into slot: UnsafeMutablePointer<Element?>) -> ReceiveOutcome {
        if let sender = senders.dequeue() {
            let offered = sender.pointee.element!.assumingMemoryBound(to: Element.self)
            if let buffer {
                // Full buffer: take the oldest, and the sender's value joins at the back.
                slot.pointee = (buffer + head).move()
                (buffer + head).initialize(to: offered.pointee)
                head = (head + 1) % capacity
            } else {
                slot.pointee = offered.pointee
            }
            sender.pointee.success = true
            return .done(sender)
        }
        if buffered > 0, let buffer {
            slot.pointee = (buffer + head).move()
            head = (head + 1) % capacity
            buffered -= 1
            return .done(nil)
        }
        return closed ? .closed : .wouldBlock
    }

    /// Caller holds `lock`: queues a blocked receiver (its `element` points at an `Element?`).
    func enqueueReceiver(_ node: UnsafeMutablePointer<WaitNode>) { receivers.enqueue(node) }
    func removeReceiver(_ node: UnsafeMutablePointer<WaitNode>) { receivers.remove(node) }

    // MARK: close

    /// Closes the channel: blocked and future receivers get the buffered values, then nil; blocked and
    /// future senders panic. Closing twice is fatal: `panic: close of closed channel`.
    @inline(never)
    public func close() {
        lock.lock()
        if closed {
            lock.unlock()
            goroutinePanic("close of closed channel")
        }
        closed = true
        // Unlink everyone under the lock, chained through their own `next`, then wake them outside it.
        var wakeList: UnsafeMutablePointer<WaitNode>? = nil
        while let r = receivers.dequeue() {
            r.pointee.success = false
            r.pointee.next = wakeList
            wakeList = r
        }
        while let s = senders.dequeue() {
            s.pointee.success = false
            s.pointee.next = wakeList
            wakeList = s
        }
        lock.unlock()
        while let node = wakeList {
            wakeList = node.pointee.next
            WaitNode.wake(node)
        }
    }

    /// Channel identity for select's global lock order.
    var address: UInt { UInt(bitPattern: Unmanaged.passUnretained(self).toOpaque()) }
}

extension Channel: Sequence {
    /// `for value in channel` receives until the channel is closed and drained.
    public struct Iterator: IteratorProtocol {
        let channel: Channel
        /// Receives the next value; nil once the channel is closed and drained (ends `for v in ch`).
        public mutating func next() -> Element? { channel.receive() }
    }

    /// `for value in channel` receives until the channel is closed and drained, as Go's `range ch`.
    public func makeIterator() -> Iterator { Iterator(channel: self) }
}

// MARK: nil channels

/// Go's nil channel, where Swift can express it: an absent `Channel?`. Sending or receiving blocks forever
/// (`chan send (nil chan)` / `chan receive (nil chan)`, so the deadlock detector reports it); closing it
/// is fatal (`panic: close of nil channel`); in `select` its cases never fire.
extension Optional {
    @inline(never)
    public func send<E>(_ value: E) where Wrapped == Channel<E> {
        if let channel = self { channel.send(value) } else { blockForever(.chanSendNilChan) }
    }

    @inline(never)
    public func receive<E>() -> E? where Wrapped == Channel<E> {
        if let channel = self { return channel.receive() }
        blockForever(.chanReceiveNilChan)
    }

    @inline(never)
    public func close<E>() where Wrapped == Channel<E> {
        guard let channel = self else { goroutinePanic("close of nil channel") }
        channel.close()
    }
}

/// Parks the current goroutine where nothing can ever wake it (or blocks the thread for good).
func blockForever(_ reason: WaitReason) -> Never {
    if M.current?.curG != nil {
        Scheduler.shared.park(reason, commit: nil)
    } else {
        while true { _ = pause() }
    }
    fatalRuntimeError("a goroutine blocked forever (\(reason.description)) was woken")
}
