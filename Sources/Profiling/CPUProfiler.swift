// The public face of CPU profiling: Go's runtime/pprof StartCPUProfile/StopCPUProfile, plus a handle
// API for callers that want the `Profile` value (the debug server's `/debug/pprof/profile`).
//
// How samples are taken is described in CSampling's CPUProfile.h; how they are collected in
// CPUProfileSession.swift. Only one CPU profile runs at a time in a process, as in Go.
//
// What users should know:
// - Stacks come from frame pointers. Code built without them (C libraries, or Swift built without
//   `-Xcc -fno-omit-frame-pointer`) still shows as the leaf and, for libc and the vDSO, as far as the
//   return into the program; deeper frames inside such code may be missing.
// - Every thread is sampled on its own CPU time, runtime Ms from their start, other threads from the
//   collector's next scan (at most 20 ms later). Threads that block SIGPROF are named in the profile's
//   comments (`go tool pprof -comments`).
// - Another SIGPROF handler in the process (gperftools, swift-profile-recorder) makes `start` throw
//   `.foreignSignalHandler` instead of fighting over the signal.
import CSampling
import Glibc
import Symbolication
import Synchronization

/// The process-wide SIGPROF CPU profiler (Go's `pprof.StartCPUProfile`/`StopCPUProfile`).
public enum CPUProfiler {
    /// Go's sampling rate: 100 samples per CPU-second of each thread.
    public static let defaultRate = Int(GR_CPUPROF_DEFAULT_HZ)
    /// The highest rate accepted. Above it the timer signals themselves start to cost real CPU.
    public static let maximumRate = Int(GR_CPUPROF_MAX_HZ)

    private static let current = Mutex<(recording: CPUProfileRecording, destination: OpenedDestination)?>(nil)

    /// Starts a CPU profile of the whole process; the profile is written to `destination` when
    /// `stopCPUProfile()` is called (Go's `pprof.StartCPUProfile`). Throws `.alreadyInUse` while another
    /// CPU profile runs, whether started here or by the debug server.
    public static func startCPUProfile(writingTo destination: CPUProfileDestination,
                                       rate: Int = defaultRate) throws(CPUProfilerError) {
        let opened = try destination.opened()
        do {
            let recording = try start(rate: rate)
            current.withLock { $0 = (recording, opened) }
        } catch {
            opened.closeIfOwned()
            throw error
        }
    }

    /// Stops the profile `startCPUProfile` started, writes it as a gzipped profile.proto to its
    /// destination and returns it; nil (and nothing written) when no such profile runs, as Go's
    /// `pprof.StopCPUProfile` does nothing then.
    @discardableResult
    public static func stopCPUProfile(resolver: any FrameResolver = Symbolizer.shared) throws -> Profile? {
        guard let (recording, destination) = current.withLock({ value in defer { value = nil }; return value }) else {
            return nil
        }
        defer { destination.closeIfOwned() }
        let profile = try recording.stop().pprofProfile(resolver: resolver)
        try destination.write(try profile.gzippedProto())
        return profile
    }

    /// Starts a CPU profile and returns its handle; call `stop()` on it to get the samples.
    /// - Parameter rate: samples per CPU-second per thread, 1...`maximumRate`.
    public static func start(rate: Int = defaultRate) throws(CPUProfilerError) -> CPUProfileRecording {
        guard (1...maximumRate).contains(rate) else { throw .rateOutOfRange(rate, maximum: maximumRate) }
        return CPUProfileRecording(session: try CPUProfileSession.start(rate: rate))
    }

    /// True while a CPU profile runs in this process.
    public static var isRunning: Bool { CPUProfileSession.isRunning }
}

/// A running CPU profile. `stop()` ends it; a recording dropped without being stopped stops then, so
/// a forgotten handle never keeps the profiler busy.
public final class CPUProfileRecording: Sendable {
    private let session: CPUProfileSession

    init(session: CPUProfileSession) {
        self.session = session
    }

    deinit {
        _ = session.stop()
    }

    /// The sampling rate, in samples per CPU-second per thread.
    public var rate: Int { session.rate }

    /// Stops sampling and returns what was collected, ready to symbolize and encode. Calling it again
    /// returns the same data.
    public func stop() -> CPUProfile {
        session.stop()
    }
}

/// Where `CPUProfiler.startCPUProfile` writes the profile.
public enum CPUProfileDestination: Sendable {
    /// A file, created (mode 0644) or truncated when the profile starts, so a bad path fails at once.
    case file(path: String)
    /// An open descriptor the caller owns; written when the profile stops, never closed.
    case fileDescriptor(Int32)
    /// A function given the gzipped profile when the profile stops.
    case stream(@Sendable ([UInt8]) throws -> Void)

    fileprivate func opened() throws(CPUProfilerError) -> OpenedDestination {
        switch self {
        case .file(let path):
            let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw .cannotOpenFile(path: path, errno: errno) }
            return OpenedDestination(fileDescriptor: fd, ownsDescriptor: true, stream: nil)
        case .fileDescriptor(let fd):
            return OpenedDestination(fileDescriptor: fd, ownsDescriptor: false, stream: nil)
        case .stream(let body):
            return OpenedDestination(fileDescriptor: -1, ownsDescriptor: false, stream: body)
        }
    }
}

private struct OpenedDestination: Sendable {
    let fileDescriptor: Int32
    let ownsDescriptor: Bool
    let stream: (@Sendable ([UInt8]) throws -> Void)?

    func write(_ bytes: [UInt8]) throws {
        if let stream { return try stream(bytes) }
        try writeAll(bytes, to: fileDescriptor)
    }

    func closeIfOwned() {
        if ownsDescriptor { Glibc.close(fileDescriptor) }
    }
}

/// Why a CPU profile could not start or be written.
public enum CPUProfilerError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Another CPU profile is running; only one can run at a time.
    case alreadyInUse
    case rateOutOfRange(Int, maximum: Int)
    /// Some other library (gperftools, swift-profile-recorder, ...) installed a SIGPROF handler.
    case foreignSignalHandler
    case cannotOpenFile(path: String, errno: Int32)
    case systemCallFailed(String, errno: Int32)

    /// What went wrong and what to do.
    public var description: String {
        switch self {
        case .alreadyInUse:
            // Go's text, which the debug server sends after "Could not enable CPU profiling: ".
            return "cpu profiling already in use"
        case .rateOutOfRange(let rate, let maximum):
            return "CPU profiling rate \(rate) Hz is out of range: use 1...\(maximum) samples per second"
        case .foreignSignalHandler:
            return "another SIGPROF handler is installed (another profiler in this process?); stop it or remove its handler before starting a CPU profile"
        case .cannotOpenFile(let path, let code):
            return "cannot open \(path) for the CPU profile: \(String(cString: strerror(code)))"
        case .systemCallFailed(let call, let code):
            return "CPU profiling could not start: \(call) failed: \(String(cString: strerror(code)))"
        }
    }
}
