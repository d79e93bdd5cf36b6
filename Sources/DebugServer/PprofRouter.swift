// Paths, methods, query rules, statuses, headers and error bodies of Go 1.27's net/http/pprof
// (go-pprof-compat.md §3). The router runs on the socket loop and only decides; anything that touches
// the provider runs on the handler pool.
//
// Deliberate differences from Go 1.27, each for a reason:
// * `POST /debug/pprof/symbol` is served (Go ≥1.23 answers 405, which breaks `go tool pprof`'s
//   remote symbolization). Other routes answer 405 to anything but GET and HEAD, as Go 1.27 does.
// * `profile` answers 404 `Unknown profile` until the provider has a CPU profiler, and `trace`
//   always does (there is no Go execution trace to give); neither is listed on the index then.
// * `seconds=N` above `maxProfileSeconds` (or beyond Int64) is refused with 400 (Go has no cap and
//   runs 30 s for an out-of-range value).
// * Concurrency limits per profile (see HandlerPool): 429 when the lane is full.
// * An optional bearer token: 401 without it.
import Foundation
import Goroutines

enum RouteDecision {
    case respond(HTTPResponse)
    case run(WorkItem)
}

let plainTextHeaders: [(name: String, value: String)] = [
    ("Content-Type", "text/plain; charset=utf-8"), ("X-Content-Type-Options", "nosniff"),
]

/// Go's pprof error shape: text/plain, `X-Go-Pprof: 1`, nosniff, message plus newline.
func pprofErrorResponse(status: Int, message: String) -> HTTPResponse {
    HTTPResponse(
        status: status,
        headers: plainTextHeaders + [("X-Go-Pprof", "1")],
        text: message + "\n")
}

struct PprofRouter: Sendable {
    static let prefix = "/debug/pprof/"

    let provider: any PprofProvider
    let bearerToken: String?
    let maxProfileSeconds: Int
    let maxBodyBytes: Int
    /// Metrics, delta profiles, flame graph and schedtrace stream state (OperatorRoutes.swift).
    let operators = OperatorRouteState()

    /// How many body bytes a request to this method and path may carry (only POST /symbol takes one).
    func bodyLimit(method: String, path: String) -> Int {
        (method == "POST" && path == Self.prefix + "symbol") ? maxBodyBytes : 0
    }

    func route(_ request: HTTPRequest) -> RouteDecision {
        counted(decide(request), path: request.path)
    }

    private func decide(_ request: HTTPRequest) -> RouteDecision {
        if let refusal = authenticationFailure(headers: request.headers) { return .respond(refusal) }
        let path = request.path
        // Go's mux sends `.`/`..`/`//` paths to their clean form first (301).
        let clean = cleanPath(path)
        if clean != path {
            return .respond(redirect(to: clean, query: request.rawQuery, method: request.method, status: 301))
        }
        if path == "/debug/pprof" {
            return .respond(redirect(to: Self.prefix, query: request.rawQuery, method: request.method, status: 307))
        }
        if let decision = operatorRoute(request) { return decision }
        guard path.hasPrefix(Self.prefix) else {
            return .respond(HTTPResponse(status: 404, headers: plainTextHeaders, text: "404 page not found\n"))
        }
        let name = String(path.dropFirst(Self.prefix.count))
        let allowsPost = name == "symbol"
        guard request.method == "GET" || request.method == "HEAD" || (allowsPost && request.method == "POST") else {
            return .respond(HTTPResponse(
                status: 405,
                headers: [("Allow", allowsPost ? "GET, HEAD, POST" : "GET, HEAD")] + plainTextHeaders,
                text: "Method Not Allowed\n"))
        }
        let query = QueryParameters(rawQuery: request.rawQuery)
        switch name {
        case "":
            return .run(WorkItem(lane: .shared(key: "index")) { [provider] _ in
                indexResponse(provider: provider)
            })
        case "cmdline":
            return .respond(HTTPResponse(status: 200, headers: plainTextHeaders, body: processCommandLine()))
        case "symbol":
            let input = request.method == "POST" ? request.body : Array(request.rawQuery.utf8)
            return .run(WorkItem(lane: .shared(key: "symbol")) { [provider] _ in
                symbolResponse(provider: provider, input: input)
            })
        case "profile":
            guard provider.supportsCPUProfile else {
                return .respond(pprofErrorResponse(status: 404, message: PprofError.unknownProfile.message))
            }
            return cpuProfileRoute(query: query)
        case "trace":
            return .respond(pprofErrorResponse(status: 404, message: PprofError.unknownProfile.message))
        default:
            return namedProfileRoute(name: name, query: query)
        }
    }

    /// The 401 for a request without the right bearer token, decided from its head alone, so the
    /// protocol layers answer it before reading any body.
    func authenticationFailure(headers: [(name: String, value: String)]) -> HTTPResponse? {
        guard let bearerToken, !isAuthorized(headers, token: bearerToken) else { return nil }
        var response = pprofErrorResponse(status: 401, message: "missing or wrong bearer token")
        response.headers.append(("WWW-Authenticate", "Bearer realm=\"pprof\""))
        return response
    }

    private func isAuthorized(_ headers: [(name: String, value: String)], token: String) -> Bool {
        guard let value = headers.first(where: { $0.name.equalsIgnoringASCIICase("Authorization") })?.value else { return false }
        let scheme = "bearer "
        guard value.utf8.count > scheme.utf8.count,
              String(value.prefix(scheme.count)).equalsIgnoringASCIICase(scheme) else { return false }
        let presented = Array(value.dropFirst(scheme.count).utf8)
        let expected = Array(token.utf8)
        // Compare in time independent of where the first difference is.
        var difference = presented.count ^ expected.count
        for index in 0..<max(presented.count, expected.count) {
            let a = index < presented.count ? presented[index] : 0
            let b = index < expected.count ? expected[index] : 0
            difference |= Int(a ^ b)
        }
        return difference == 0
    }

    /// Go's `http.Redirect` as the 1.27 mux uses it: 307 for the missing trailing slash, 301 to
    /// a cleaned path.
    private func redirect(to target: String, query: String, method: String, status: Int) -> HTTPResponse {
        let location = query.isEmpty ? target : target + "?" + query
        var response = HTTPResponse(status: status, headers: [("Location", location)])
        if method == "GET" || method == "HEAD" {
            response.headers.append(("Content-Type", "text/html; charset=utf-8"))
            response.body = Array("<a href=\"\(htmlEscape(location))\">\(reasonPhrase(status))</a>.\n\n".utf8)
        }
        return response
    }

    /// Go's `path.Clean` for a rooted path, keeping a trailing slash as the mux's cleanPath does.
    private func cleanPath(_ path: String) -> String {
        guard path != "*", path.contains("//") || path.contains("/.") || !path.hasPrefix("/") else { return path }
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." { if !parts.isEmpty { parts.removeLast() }; continue }
            parts.append(part)
        }
        var cleaned = "/" + parts.joined(separator: "/")
        if path.hasSuffix("/") && cleaned != "/" { cleaned += "/" }
        return cleaned
    }

    private func cpuProfileRoute(query: QueryParameters) -> RouteDecision {
        // Go: missing, unparsable or non-positive seconds silently mean 30. A positive value too large
        // for Int64 is no syntax error but a request beyond any cap: refused like one over our cap.
        let text = query["seconds"] ?? ""
        let requested = goParseInt(text) ?? (goAtoiIgnoringErrors(text) == Int.max ? Int.max : 30)
        let seconds = requested > 0 ? requested : 30
        if seconds > maxProfileSeconds {
            return .respond(pprofErrorResponse(
                status: 400, message: "profile duration exceeds server's limit of \(maxProfileSeconds) seconds"))
        }
        let busy = pprofErrorResponse(
            status: 500, message: "Could not enable CPU profiling: cpu profiling already in use")
        return .run(WorkItem(lane: .exclusive(key: "cpu", busy: busy)) { [provider] cancel in
            do {
                let body = try provider.cpuProfile(seconds: seconds, cancel: cancel)
                return HTTPResponse(status: 200, headers: binaryHeaders(filename: "profile"), body: body)
            } catch {
                return errorResponse(for: error)
            }
        })
    }

    private func namedProfileRoute(name: String, query: QueryParameters) -> RouteDecision {
        let debug = goAtoiIgnoringErrors(query["debug"])
        if let secondsText = query["seconds"], !secondsText.isEmpty {
            return deltaRoute(name: name, secondsText: secondsText, debug: debug)
        }
        let gcFirst = name == "heap" && goAtoiIgnoringErrors(query["gc"]) > 0
        return .run(WorkItem(lane: .shared(key: "profile:" + name)) { [provider] cancel in
            guard provider.profiles.contains(where: { $0.name == name }) else {
                return pprofErrorResponse(status: 404, message: PprofError.unknownProfile.message)
            }
            // Written as produced, so a large body (a debug=2 dump) is never whole in memory.
            let headers = debug != 0 ? plainTextHeaders : binaryHeaders(filename: name)
            return HTTPResponse(status: 200, headers: headers) { output in
                do {
                    try provider.write(name, debug: debug, gcFirst: gcFirst, cancel: cancel, to: output)
                    return nil
                } catch {
                    return errorResponse(for: error)
                }
            }
        })
    }

    private func deltaRoute(name: String, secondsText: String, debug: Int) -> RouteDecision {
        let busy = pprofErrorResponse(
            status: 429, message: "a delta profile of \(name) is already being collected; retry later")
        let maxSeconds = maxProfileSeconds
        return .run(WorkItem(lane: .exclusive(key: "delta:" + name, busy: busy)) { [provider] cancel in
            // The checks in Go's order: unknown name, bad seconds, unsupported profile, debug.
            guard let info = provider.profiles.first(where: { $0.name == name }) else {
                return pprofErrorResponse(status: 404, message: PprofError.unknownProfile.message)
            }
            guard let seconds = goParseInt(secondsText), seconds > 0 else {
                return pprofErrorResponse(
                    status: 400, message: "invalid value for \"seconds\" - must be a positive integer")
            }
            guard info.supportsDelta else {
                return pprofErrorResponse(
                    status: 400, message: "\"seconds\" parameter is not supported for this profile type")
            }
            if seconds > maxSeconds {
                return pprofErrorResponse(
                    status: 400, message: "profile duration exceeds server's limit of \(maxSeconds) seconds")
            }
            if debug != 0 {
                return pprofErrorResponse(status: 400, message: "seconds and debug params are incompatible")
            }
            do {
                let body = try provider.delta(name, seconds: seconds, cancel: cancel)
                return HTTPResponse(status: 200, headers: binaryHeaders(filename: name + "-delta"), body: body)
            } catch {
                return errorResponse(for: error)
            }
        })
    }
}

private func binaryHeaders(filename: String) -> [(name: String, value: String)] {
    [
        ("Content-Disposition", "attachment; filename=\"\(filename)\""),
        ("Content-Type", "application/octet-stream"),
        ("X-Content-Type-Options", "nosniff"),
    ]
}

private func errorResponse(for error: any Error) -> HTTPResponse {
    if let pprofError = error as? PprofError {
        return pprofErrorResponse(status: pprofError.status, message: pprofError.message)
    }
    return pprofErrorResponse(status: 500, message: PprofError.collectionFailed.message)
}

private func indexResponse(provider: any PprofProvider) -> HTTPResponse {
    var rows = provider.profiles
    rows.append(PprofProfileInfo(name: "cmdline", count: 0, description: BuiltinProfileDescriptions.cmdline,
                                 supportsDelta: false))
    rows.append(PprofProfileInfo(name: "symbol", count: 0, description: BuiltinProfileDescriptions.symbol,
                                 supportsDelta: false))
    if provider.supportsCPUProfile {
        rows.append(PprofProfileInfo(name: "profile", count: 0, description: BuiltinProfileDescriptions.profile,
                                     supportsDelta: false))
    }
    return HTTPResponse(
        status: 200,
        headers: [("Content-Type", "text/html; charset=utf-8"), ("X-Content-Type-Options", "nosniff")],
        body: renderPprofIndexPage(rows: rows, notice: RuntimeSnapshot.deadlockNotice))
}

/// `num_symbols: 1`, then `0x<hex> <name>` per resolvable PC; input is `+`-separated numbers in
/// any base Go's ParseUint(s, 0, 64) reads; bad tokens and 0 are skipped.
private func symbolResponse(provider: any PprofProvider, input: [UInt8]) -> HTTPResponse {
    var pcs: [UInt] = []
    for token in input.split(separator: UInt8(ascii: "+")) {
        let text = String(decoding: token, as: UTF8.self)
        if let value = goParseUintBaseZero(text), value != 0 { pcs.append(UInt(value)) }
    }
    var body = "num_symbols: 1\n"
    if !pcs.isEmpty {
        for entry in provider.symbolize(pcs) {
            body += "0x" + String(entry.pc, radix: 16) + " " + entry.name + "\n"
        }
    }
    return HTTPResponse(status: 200, headers: plainTextHeaders, text: body)
}

/// argv joined by NUL, no terminator, as Go's `strings.Join(os.Args, "\x00")`.
private func processCommandLine() -> [UInt8] {
    guard var bytes = FileManager.default.contents(atPath: "/proc/self/cmdline").map(Array.init) else {
        return Array(CommandLine.arguments.joined(separator: "\0").utf8)
    }
    if bytes.last == 0 { bytes.removeLast() }
    return bytes
}
