import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// What "all goroutines are asleep" does to the process. Go's answer is always: print the report and exit
// with status 2. That kills the one process someone needs to inspect when a debug server is running, so
// here the default depends on it: with a debug server serving, the report is printed once and the
// process stays up (deadlocked, every goroutine parked) so `curl …/debug/pprof/goroutine?debug=2` shows
// the goroutines where they are stuck; without one, Go's behaviour.

/// How the runtime reacts to a deadlock (`fatal error: all goroutines are asleep - deadlock!`).
/// Set with `Go.onDeadlock` or the environment variable `GOROUTINES_ON_DEADLOCK` (`exit`, `serve` or
/// `auto`, read at start-up; the API wins).
public enum DeadlockBehavior: Int, Sendable {
    /// Keep serving when a debug server runs in this process (a `DebugServer` has been started and not
    /// stopped), exit otherwise. The default.
    case automatic = 0
    /// Go's behaviour: print the report on stderr and exit with status 2.
    case exit = 1
    /// Print the report on stderr once and keep the process running, deadlocked, for inspection.
    case keepRunning = 2
}

extension Go {
    /// How a deadlock ends (see `DeadlockBehavior`).
    public static var onDeadlock: DeadlockBehavior {
        get { DeadlockBehavior(rawValue: DeadlockState.behavior.load(ordering: .relaxed)) ?? .automatic }
        set { DeadlockState.behavior.store(newValue.rawValue, ordering: .relaxed) }
    }
}

extension RuntimeSnapshot {
    /// The deadlock report's first line when the runtime found every goroutine asleep and kept the
    /// process running (`DeadlockBehavior`); nil otherwise. Dumps and the index page show it at the top.
    public static var deadlockNotice: String? {
        DeadlockState.reported.load(ordering: .acquiring) ? "fatal error: all goroutines are asleep - deadlock!" : nil
    }
}

/// Debug servers tell the runtime they serve, so the automatic deadlock behaviour knows (the server
/// module sits above this one).
package enum DebugServerPresence {
    package static func serverStarted() { DeadlockState.servers.wrappingAdd(1, ordering: .relaxed) }
    package static func serverStopped() { DeadlockState.servers.wrappingSubtract(1, ordering: .relaxed) }
}

enum DeadlockState {
    static let behavior = Atomic<Int>(fromEnvironment())
    static let servers = Atomic<Int>(0)
    /// Set once the report has been printed by a process that keeps running.
    static let reported = Atomic<Bool>(false)

    static var keepsRunning: Bool {
        switch Go.onDeadlock {
        case .exit: false
        case .keepRunning: true
        case .automatic: servers.load(ordering: .relaxed) > 0
        }
    }

    private static func fromEnvironment() -> Int {
        switch getenv("GOROUTINES_ON_DEADLOCK").map({ String(cString: $0) }) {
        case "exit": DeadlockBehavior.exit.rawValue
        case "serve", "keep-running": DeadlockBehavior.keepRunning.rawValue
        default: DeadlockBehavior.automatic.rawValue
        }
    }
}
