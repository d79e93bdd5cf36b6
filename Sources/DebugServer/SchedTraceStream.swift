// `/debug/schedtrace?interval=MS[&detail=1]`: the lines `GODEBUG=schedtrace=MS[,scheddetail=1]` prints
// to stderr, streamed to the client instead (the runtime's own formatter, so the format is exactly
// the same), one line (or one scheddetail block) per interval until the client leaves. At most
// `StreamSlots.limit` streams run at once; more get 429.
import Goroutines

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
        var response = HTTPResponse(status: 200, headers: plainTextHeaders + [("Cache-Control", "no-store")])
        response.stream = ResponseStream(produce: { writer in
            repeat {
                guard writer.write(Array(SchedTraceFormatter.line(detailed: detailed).utf8)) else { return }
            } while writer.sleep(seconds: Double(interval) / 1000)
        }, onFinish: { slots.release() })
        return .respond(response)
    }
}
