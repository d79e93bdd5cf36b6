import Symbolication

// Public faces of leak finding: the goroutineleak profile's data (reachability, LeakDetection.swift) and
// a test helper in the spirit of uber-go/goleak (goroutines still alive when a test ends).

extension RuntimeSnapshot {
    /// Runs the leak scan (it stops every thread for a moment) and returns the leaked goroutines with their
    /// stacks: parked on a channel, select, mutex, Cond or WaitGroup that no live goroutine or thread can
    /// reach. They stay marked `isLeaked` in later snapshots while they have not run.
    public static func leakedGoroutines(maxDepth: Int = 1024) -> [GoroutineSnapshot] {
        LeakDetection.detect()
        return goroutines(withStacks: true, maxDepth: maxDepth).filter(\.isLeaked)
    }

    /// Goroutines marked leaked by the last scan and still parked (no new scan: the index page's count).
    public static var markedLeakedGoroutineCount: Int {
        var n = 0
        for g in Scheduler.shared.goroutinesCopy() where LeakDetection.isMarkedLeaked(g) { n += 1 }
        return n
    }
}

/// Goroutines a leak check does not complain about.
public struct LeakCheckIgnore: Sendable {
    fileprivate enum Rule: Sendable {
        case topFunction(String), anyFunction(String), ids(Set<Int64>)
    }
    fileprivate let rule: Rule

    /// Goroutines whose innermost visible frame is this function (exact name, or the name up to its
    /// argument list: `"MyApp.Worker.run"` matches `MyApp.Worker.run(jobs:)` and closures inside it).
    public static func topFunction(_ name: String) -> LeakCheckIgnore { LeakCheckIgnore(rule: .topFunction(name)) }
    /// Goroutines with this function anywhere on their stack (same matching).
    public static func anyFunction(_ name: String) -> LeakCheckIgnore { LeakCheckIgnore(rule: .anyFunction(name)) }
    /// These goroutines.
    public static func goroutines(_ ids: some Sequence<Int64>) -> LeakCheckIgnore { LeakCheckIgnore(rule: .ids(Set(ids))) }
    /// The goroutines alive now: take it at the start of a test to ignore what was already running.
    public static func current() -> LeakCheckIgnore {
        goroutines(RuntimeSnapshot.goroutines(withStacks: false).map(\.id))
    }
}

/// Goroutines found alive by `Go.leakCheck`: a Go-format traceback of each, leaked ones (nothing can
/// wake them) marked `(leaked)`.
public struct GoroutineLeakReport: Sendable, CustomStringConvertible {
    public let goroutines: [GoroutineSnapshot]
    public var isEmpty: Bool { goroutines.isEmpty }

    public var description: String {
        if goroutines.isEmpty { return "no unexpected goroutines" }
        return "found unexpected goroutines:\n" + GoroutineTraceback.render(goroutines)
    }
}

/// Thrown by `Go.verifyNoLeaks`; its description lists the goroutines (an XCTest failure shows it).
public struct GoroutineLeakError: Error, Sendable, CustomStringConvertible {
    public let report: GoroutineLeakReport
    public var description: String { report.description }
}

extension Go {
    /// The goroutines alive besides the caller and the ignored ones, retried for up to `retryFor` so that
    /// goroutines on their way out can finish (goleak's behaviour). Before returning a non-empty report it
    /// runs the leak scan, so goroutines that can never be woken are marked `(leaked)`.
    public static func leakCheck(ignoring: [LeakCheckIgnore] = [], retryFor: Duration = .seconds(1)) -> GoroutineLeakReport {
        let deadline = ContinuousClock.now + retryFor
        var delay = Duration.milliseconds(1)
        while true {
            var alive = unexpected(ignoring)
            if alive.isEmpty { return GoroutineLeakReport(goroutines: []) }
            if ContinuousClock.now >= deadline {
                LeakDetection.detect()
                alive = unexpected(ignoring)
                return GoroutineLeakReport(goroutines: alive)
            }
            Go.sleep(for: delay)
            delay = min(delay * 2, .milliseconds(50))
        }
    }

    /// Throws `GoroutineLeakError` listing the goroutines still alive (see `leakCheck`). In XCTest:
    /// `let baseline = LeakCheckIgnore.current()` at the start, `try Go.verifyNoLeaks(ignoring: [baseline])`
    /// at the end (or in `tearDown`).
    public static func verifyNoLeaks(ignoring: [LeakCheckIgnore] = [], retryFor: Duration = .seconds(1)) throws(GoroutineLeakError) {
        let report = leakCheck(ignoring: ignoring, retryFor: retryFor)
        if !report.isEmpty { throw GoroutineLeakError(report: report) }
    }

    private static func unexpected(_ ignoring: [LeakCheckIgnore]) -> [GoroutineSnapshot] {
        let all = RuntimeSnapshot.goroutines(withStacks: true, maxDepth: 64).filter { !$0.isCurrent }
        var ids = Set<Int64>()
        var names: [(top: Bool, name: String)] = []
        for rule in ignoring {
            switch rule.rule {
            case .ids(let set): ids.formUnion(set)
            case .topFunction(let n): names.append((true, n))
            case .anyFunction(let n): names.append((false, n))
            }
        }
        return all.filter { g in
            if ids.contains(g.id) { return false }
            if names.isEmpty { return true }
            let functions = visibleFunctions(g.stack)
            for rule in names {
                if rule.top, let top = functions.first, matches(top, rule.name) { return false }
                if !rule.top, functions.contains(where: { matches($0, rule.name) }) { return false }
            }
            return true
        }
    }

    private static func visibleFunctions(_ stack: [UInt]) -> [String] {
        let pcs = stack.filter { $0 > 1 }.map { $0 - 1 }
        return Symbolizer.shared.frames(at: pcs).flatMap { $0 }.map(\.function)
            .filter { !GoroutineTraceback.isRuntimeInternal($0) }
    }

    /// `name` matches a frame's function exactly, up to its argument list or generic parameters, and a
    /// closure inside it (`closure #1 in <name>…`) too.
    private static func matches(_ function: String, _ name: String) -> Bool {
        var function = Substring(function)
        while function.hasPrefix("closure #"), let range = function.firstRange(of: " in ") { function = function[range.upperBound...] }
        return function == name || (function.hasPrefix(name) && function.dropFirst(name.count).first.map { $0 == "(" || $0 == "<" } == true)
    }
}
