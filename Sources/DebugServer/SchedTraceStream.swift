// `/debug/schedtrace?interval=MS[&detail=1]`: the lines `GODEBUG=schedtrace=MS[,scheddetail=1]` prints
// to stderr, streamed to the client instead (the runtime's own formatter, so the format is exactly
// the same), one line (or one scheddetail block) per interval until the client leaves or the server
// stops. The body goes through the same bounded response pipe as large profiles (chunked on HTTP/1.1,
// DATA frames on HTTP/2), on a thread of its own since it lives long. At most `StreamSlots.limit`
// streams run at once; more get 429.
import Goroutines
import Synchronization

extension PprofRouter {
    func schedTraceRoute(query: QueryParameters) -> RouteDecision {
        let intervalText = query["interval"] ?? "1000"
        guard let interval = goParseInt(intervalText), interval >= 10, interval <= 3_600_000 else {
            return .respond(HTTPResponse(
                status: 400, headers: plainTextHeaders,
                text: "invalid value for \"interval\": milliseconds between 10 and 3600000\n"))
        }
        let detailed = goAtoiIgnoringErrors(query["detail"]) > 0
        let slots = operators.schedTraceStreams
        guard slots.acquire() else {
            return .respond(HTTPResponse(
                status: 429, headers: plainTextHeaders,
                text: "too many schedtrace streams (at most \(slots.limit)); retry later\n"))
        }
        let headers = plainTextHeaders + [("Cache-Control", "no-store")]
        return .run(WorkItem(lane: .ownThread) { cancel in
            HTTPResponse(status: 200, headers: headers) { writer in
                let ticket = slots.track(cancel)
                defer { slots.release(ticket) }
                repeat {
                    do {
                        try writer.write(SchedTraceFormatter.line(detailed: detailed))
                    } catch {
                        return nil  // the client left
                    }
                    writer.flush()
                } while cancel.sleep(seconds: Double(interval) / 1000)
                return nil
            }
        })
    }
}

/// A counter of concurrent streams with a limit (429 beyond it), which also ends the open streams
/// when the server stops (they would otherwise run until its grace period is over and be cut).
final class StreamSlots: Sendable {
    private struct State {
        var inUse = 0
        var nextTicket = 0
        var open: [Int: CancellationCheck] = [:]
        var ended = false
    }
    private let state = Mutex(State())
    let limit: Int

    init(limit: Int) { self.limit = limit }

    func acquire() -> Bool {
        state.withLock { state in
            guard state.inUse < limit else { return false }
            state.inUse += 1
            return true
        }
    }

    /// Registers a running stream's cancellation; cancelled at once if the server already stops.
    func track(_ cancel: CancellationCheck) -> Int {
        let (ticket, ended) = state.withLock { state in
            state.nextTicket += 1
            state.open[state.nextTicket] = cancel
            return (state.nextTicket, state.ended)
        }
        if ended { cancel.cancel() }
        return ticket
    }

    func release(_ ticket: Int) {
        state.withLock { state in
            state.inUse -= 1
            state.open[ticket] = nil
        }
    }

    /// The server is stopping: every open stream ends with its last chunk.
    func endAll() {
        let open = state.withLock { state in
            state.ended = true
            return Array(state.open.values)
        }
        open.forEach { $0.cancel() }
    }
}
