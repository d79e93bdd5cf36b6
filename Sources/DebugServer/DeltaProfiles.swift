// Grafana's godeltaprof contract (ecosystem-and-security.md §1.3): `/debug/pprof/delta_heap`,
// `/delta_block`, `/delta_mutex` answer what changed since the previous call to the same endpoint, with
// the cumulative profile's sample types, so an agent scraping every 15 s gets small profiles without
// keeping, decompressing and subtracting the previous one itself.
//
// Built from the cumulative profile the provider renders and Profiling's merge (`Profile.delta`): the
// previous response's profile is kept per endpoint and subtracted. As in godeltaprof, `delta_heap`
// subtracts only the allocation columns (alloc_objects, alloc_space); the in-use columns stay absolute,
// since "bytes freed since the last scrape" is not what inuse_space means. The first call answers
// everything since the program began.
//
// Single consumer: the state is per endpoint, not per client, so two scrapers of the same endpoint each
// see only part of the changes (each steals the other's window). Run one agent per target.
import Profiling
import Synchronization

final class DeltaProfileState: Sendable {
    private let previous = Mutex<[String: Profile]>([:])

    /// The profile to answer with for `endpoint`, given the cumulative profile now; remembers `current`.
    /// Holds the lock while subtracting so concurrent calls see consecutive windows.
    func delta(endpoint: String, current: Profile, keepsInUseAbsolute: Bool) throws -> Profile {
        try previous.withLock { state in
            defer { state[endpoint] = current }
            guard var base = state[endpoint] else { return current }
            if keepsInUseAbsolute {
                let inUse = Set(base.sampleTypes.indices.filter { base.sampleTypes[$0].type.hasPrefix("inuse_") })
                for index in base.samples.indices {
                    for column in inUse where column < base.samples[index].values.count {
                        base.samples[index].values[column] = 0
                    }
                }
            }
            return try current.delta(since: base)
        }
    }
}

/// The endpoint names and the cumulative profile each one subtracts.
let deltaProfileSources: [String: String] = ["delta_heap": "heap", "delta_block": "block", "delta_mutex": "mutex"]

extension PprofRouter {
    func deltaProfileRoute(endpoint: String, base: String, query: QueryParameters) -> RouteDecision {
        let gcFirst = base == "heap" && goAtoiIgnoringErrors(query["gc"]) > 0
        return .run(WorkItem(lane: .shared(key: "profile:" + endpoint)) { [provider, operators] cancel in
            guard provider.profiles.contains(where: { $0.name == base }) else {
                return pprofErrorResponse(status: 404, message: PprofError.unknownProfile.message)
            }
            do {
                let cumulative = try Profile(
                    proto: provider.render(base, debug: 0, gcFirst: gcFirst, cancel: cancel))
                let delta = try operators.deltaProfiles.delta(
                    endpoint: endpoint, current: cumulative, keepsInUseAbsolute: base == "heap")
                return HTTPResponse(status: 200, headers: [
                    ("Content-Disposition", "attachment; filename=\"\(base).pprof.gz\""),
                    ("Content-Type", "application/octet-stream"),
                    ("X-Content-Type-Options", "nosniff"),
                ], body: try delta.render(.gzippedProto))
            } catch let error as PprofError {
                return pprofErrorResponse(status: error.status, message: error.message)
            } catch {
                return pprofErrorResponse(status: 500, message: PprofError.deltaFailed.message)
            }
        })
    }
}
