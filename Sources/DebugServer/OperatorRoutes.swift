// The routes for operators beyond Go's net/http/pprof: `/metrics` (Prometheus), the godeltaprof
// endpoints, `/debug/flamegraph` and `/debug/schedtrace`, plus the request counters behind
// `goroutines_debug_server_requests_total`. PprofRouter asks here first; nil means "not ours".
import Foundation

/// State the operator routes keep for the life of a server.
final class OperatorRouteState: Sendable {
    let requestCounters = RequestCounters()
    let deltaProfiles = DeltaProfileState()
    let schedTraceStreams = StreamSlots(limit: 4)
}

extension PprofRouter {
    func operatorRoute(_ request: HTTPRequest) -> RouteDecision? {
        let path = request.path
        let deltaBase = path.hasPrefix(Self.prefix) ? deltaProfileSources[String(path.dropFirst(Self.prefix.count))] : nil
        guard path == "/metrics" || path == "/debug/flamegraph" || path == "/debug/schedtrace" || deltaBase != nil else {
            return nil
        }
        guard request.method == "GET" || request.method == "HEAD" else {
            return .respond(HTTPResponse(status: 405, headers: [("Allow", "GET, HEAD")] + plainTextHeaders,
                                         text: "Method Not Allowed\n"))
        }
        let query = QueryParameters(rawQuery: request.rawQuery)
        if let deltaBase {
            return deltaProfileRoute(endpoint: String(path.dropFirst(Self.prefix.count)), base: deltaBase, query: query)
        }
        switch path {
        case "/metrics":
            let format = MetricsFormat.negotiate(accept: request.header("Accept"))
            return .run(WorkItem(lane: .shared(key: "metrics")) { [operators] _ in
                let families = RuntimeMetrics(requestCounters: operators.requestCounters).families()
                return HTTPResponse(status: 200, headers: [("Content-Type", format.contentType)],
                                    body: renderMetrics(families, format: format))
            })
        case "/debug/flamegraph":
            return flameGraphRoute(query: query)
        default:
            return schedTraceRoute(query: query)
        }
    }

    /// Counts the answer under its route label once it is known.
    func counted(_ decision: RouteDecision, path: String) -> RouteDecision {
        let route = metricsRouteLabel(for: path)
        let counters = operators.requestCounters
        switch decision {
        case .respond(let response):
            counters.record(route: route, status: response.status)
            return decision
        case .run(let item):
            let run = item.run
            return .run(WorkItem(lane: item.lane) { cancel in
                let response = run(cancel)
                counters.record(route: route, status: response.status)
                return response
            })
        }
    }
}
