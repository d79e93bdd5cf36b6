// A response body that a handler writes while the connection sends it, so a 50 MB goroutine dump to
// a slow reader never sits whole in memory (DESIGN.md rule 11).
//
// The producer runs on a handler-pool thread and blocks when the pipe is full; the consumer is the
// socket loop, which never blocks: it takes what is there and, finding the pipe empty, asks to be
// woken (the pipe posts to the loop's mailbox) when the producer writes again. Every pipe of a server
// also draws on one ResponseMemoryBudget, so thousands of slow readers cannot add up either.
//
// The head is committed lazily, as Go's ResponseWriter does: a body that is complete before the pipe
// first fills goes out whole with Content-Length; a longer one is streamed (chunked on HTTP/1.1).
// A producer that fails before committing can still answer with an error status.
import Foundation

/// Bytes buffered in the response pipes of one server, bounded; shared lock for all its pipes.
final class ResponseMemoryBudget: @unchecked Sendable {
    let limit: Int
    let condition = NSCondition()
    /// Guarded by `condition`.
    var used = 0

    init(limit: Int) { self.limit = limit }

    var usedBytes: Int {
        condition.lock()
        defer { condition.unlock() }
        return used
    }
}

final class ResponseBodyPipe: @unchecked Sendable {
    /// Largest number of body bytes one pipe buffers; the producer waits beyond it.
    static let capacity = 256 * 1024
    /// Pieces the pipe stores (a large write is cut up so the budget is drawn in small steps).
    static let pieceSize = 64 * 1024

    enum Read { case bytes(Int), wouldBlock, finished, failed }

    private let budget: ResponseMemoryBudget
    private var lock: NSCondition { budget.condition }
    // Guarded by `lock`.
    private var pieces: [[UInt8]] = []
    private var frontOffset = 0
    private var buffered = 0
    private var finished = false
    private var failed = false
    private var consumerGone = false
    private var consumerWaiting = false
    /// Set by the loop once it holds the pipe: how to wake it when bytes arrive.
    private var wakeConsumer: (@Sendable () -> Void)?

    init(budget: ResponseMemoryBudget) { self.budget = budget }

    deinit {
        // Whatever was never sent goes back to the budget.
        if buffered > 0 {
            budget.condition.lock()
            budget.used -= buffered
            budget.condition.broadcast()
            budget.condition.unlock()
        }
    }

    // MARK: producer (handler thread)

    /// Appends `bytes`, waiting while this pipe is full or the server's budget is spent. False when
    /// the consumer went away (client left, stream reset): the producer should stop.
    func write(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let piece = Array(UnsafeRawBufferPointer(rebasing: bytes[offset..<min(bytes.count, offset + Self.pieceSize)]))
            lock.lock()
            // An empty pipe may always take one piece, so every stream makes progress; and before
            // the loop holds the pipe (the head is not committed) nothing could drain the budget.
            while !consumerGone && buffered > 0
                    && (buffered + piece.count > Self.capacity
                        || (wakeConsumer != nil && budget.used + piece.count > budget.limit)) {
                lock.wait()
            }
            if consumerGone { lock.unlock(); return false }
            pieces.append(piece)
            buffered += piece.count
            budget.used += piece.count
            let wake = consumerWaiting ? wakeConsumer : nil
            consumerWaiting = false
            lock.unlock()
            wake?()
            offset += piece.count
        }
        return true
    }

    /// The producer is done; `success` false means the body is broken (the stream is aborted).
    func finish(success: Bool) {
        lock.lock()
        finished = true
        failed = !success
        let wake = wakeConsumer
        consumerWaiting = false
        lock.unlock()
        wake?()
    }

    var bufferedBytes: Int {
        lock.lock()
        defer { lock.unlock() }
        return buffered
    }

    /// The whole buffered body, when the producer finished before the first commit (Content-Length).
    func drainAll() -> [UInt8] {
        lock.lock()
        defer { lock.unlock() }
        var body: [UInt8] = []
        body.reserveCapacity(buffered)
        for piece in pieces { body += piece }
        budget.used -= buffered
        budget.condition.broadcast()
        pieces = []
        buffered = 0
        return body
    }

    // MARK: consumer (loop thread)

    func attach(wake: @escaping @Sendable () -> Void) {
        lock.lock()
        wakeConsumer = wake
        lock.unlock()
    }

    /// Copies up to `capacity` bytes into `buffer` (HTTP/2 DATA frames).
    func read(into buffer: UnsafeMutableRawBufferPointer) -> Read {
        lock.lock()
        defer { lock.unlock() }
        if failed { return .failed }
        var copied = 0
        while copied < buffer.count, let first = pieces.first {
            let count = min(buffer.count - copied, first.count - frontOffset)
            first.withUnsafeBytes {
                (buffer.baseAddress! + copied).copyMemory(from: $0.baseAddress! + frontOffset, byteCount: count)
            }
            copied += count
            frontOffset += count
            if frontOffset == first.count { pieces.removeFirst(); frontOffset = 0 }
        }
        if copied > 0 {
            buffered -= copied
            budget.used -= copied
            budget.condition.broadcast()
            return .bytes(copied)
        }
        if finished { return .finished }
        consumerWaiting = true
        return .wouldBlock
    }

    /// Takes whole pieces, about `limit` bytes (HTTP/1.1 chunks).
    func take(upTo limit: Int) -> (pieces: [ArraySlice<UInt8>], state: Read) {
        lock.lock()
        defer { lock.unlock() }
        if failed { return ([], .failed) }
        var taken: [ArraySlice<UInt8>] = []
        var count = 0
        while count < limit, let first = pieces.first {
            taken.append(first[frontOffset...])
            count += first.count - frontOffset
            pieces.removeFirst()
            frontOffset = 0
        }
        if count > 0 {
            buffered -= count
            budget.used -= count
            budget.condition.broadcast()
            return (taken, .bytes(count))
        }
        if finished { return ([], .finished) }
        consumerWaiting = true
        return ([], .wouldBlock)
    }

    /// The connection or stream ended: the producer's next write returns false, buffered bytes go.
    func detach() {
        lock.lock()
        consumerGone = true
        wakeConsumer = nil
        budget.used -= buffered
        buffered = 0
        pieces = []
        budget.condition.broadcast()
        lock.unlock()
    }
}

/// What a streaming handler writes its body to (see `PprofProvider.write`).
public struct ResponseBodyWriter: Sendable {
    let output: @Sendable (UnsafeRawBufferPointer) -> Bool
    let commit: @Sendable () -> Void

    /// Sends the head now, so what was written reaches the client without waiting for the body to
    /// fill a pipe or end (a stream of lines). The body is streamed from then on.
    public func flush() { commit() }

    /// Appends bytes to the body, waiting while the client is behind. Throws `PprofError.cancelled`
    /// once the client is gone; stop producing then.
    public func write(_ bytes: [UInt8]) throws {
        guard bytes.withUnsafeBytes(output) else { throw PprofError.cancelled }
    }

    public func write(_ text: String) throws {
        var text = text
        let delivered = text.withUTF8 { output(UnsafeRawBufferPointer($0)) }
        guard delivered else { throw PprofError.cancelled }
    }
}

/// Runs `produce` on the calling (handler) thread and delivers `head` with its body: whole, if the
/// producer finished within one pipe's capacity; streamed through a pipe otherwise, committed at
/// the first write that would not fit. A producer's error answer replaces `head` while nothing was
/// committed; after that it aborts the stream.
func runStreamingResponse(head: HTTPResponse, produce: @Sendable (ResponseBodyWriter) -> HTTPResponse?,
                          budget: ResponseMemoryBudget, deliver: @Sendable (HTTPResponse) -> Void) {
    final class CommitState: @unchecked Sendable { var committed = false }  // handler thread only
    let pipe = ResponseBodyPipe(budget: budget)
    let state = CommitState()
    let failure = withoutActuallyEscaping(deliver) { deliver in
        let commitHead: @Sendable () -> Void = {
            guard !state.committed else { return }
            state.committed = true
            var streamed = head
            streamed.producer = nil
            streamed.bodyStream = pipe
            deliver(streamed)
        }
        return produce(ResponseBodyWriter(output: { bytes in
            if pipe.bufferedBytes + bytes.count > ResponseBodyPipe.capacity { commitHead() }
            return pipe.write(bytes)
        }, commit: commitHead))
    }
    if state.committed {
        pipe.finish(success: failure == nil)
        return
    }
    if let failure {
        pipe.detach()
        deliver(failure)
        return
    }
    var whole = head
    whole.producer = nil
    whole.body = pipe.drainAll()
    deliver(whole)
}
