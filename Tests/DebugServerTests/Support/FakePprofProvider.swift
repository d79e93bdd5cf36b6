// A provider with fixed, recognisable bodies, so tests can check that every protocol path carries the
// provider's bytes unchanged, plus a `slow` profile that blocks until released or cancelled.
import DebugServer
import Foundation
import Synchronization

final class FakePprofProvider: PprofProvider {
    /// Counts as in the Go 1.27 capture (go-captures/go1.27/index.txt), so the index can be compared.
    let profiles: [PprofProfileInfo]

    init(withTestProfiles: Bool = true) {
        profiles = Self.goProfiles + (withTestProfiles ? Self.testProfiles : [])
    }

    static let goProfiles: [PprofProfileInfo] = [
        PprofProfileInfo(name: "allocs", count: 2, description: "A sampling of all past memory allocations", supportsDelta: true),
        PprofProfileInfo(name: "block", count: 3, description: "Stack traces that led to blocking on synchronization primitives", supportsDelta: true),
        PprofProfileInfo(name: "goroutine", count: 11, description: "Stack traces of all current goroutines. Use debug=2 as a query parameter to export in the same format as an unrecovered panic.", supportsDelta: true),
        PprofProfileInfo(name: "goroutineleak", count: 0, description: "Stack traces of all leaked goroutines. Use debug=2 as a query parameter to export in the same format as an unrecovered panic.", supportsDelta: true),
        PprofProfileInfo(name: "heap", count: 2, description: "A sampling of memory allocations of live objects. You can specify the gc GET parameter to run GC before taking the heap sample.", supportsDelta: true),
        PprofProfileInfo(name: "mutex", count: 1, description: "Stack traces of holders of contended mutexes", supportsDelta: true),
        PprofProfileInfo(name: "threadcreate", count: 6, description: "Stack traces that led to the creation of new OS threads", supportsDelta: true),
    ]
    static let testProfiles: [PprofProfileInfo] = [
        PprofProfileInfo(name: "slow", count: 0, description: "Blocks until released or cancelled (tests only)", supportsDelta: false),
        PprofProfileInfo(name: "big", count: 0, description: "A fixed 200 KiB body (tests and benchmarks)", supportsDelta: false),
        PprofProfileInfo(name: "huge", count: 0, description: "A fixed 3 MiB body written in pieces (tests)", supportsDelta: false),
    ]

    static let bigBody: [UInt8] = (0..<(200 * 1024)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
    static let hugeBody: [UInt8] = (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ $0 >> 16) }

    /// `huge` is streamed in 100 KB pieces, as a real provider writes a large dump.
    func write(_ name: String, debug: Int, gcFirst: Bool, cancel: CancellationCheck, to output: ResponseBodyWriter) throws {
        guard name == "huge" else { return try output.write(render(name, debug: debug, gcFirst: gcFirst, cancel: cancel)) }
        var offset = 0
        while offset < Self.hugeBody.count {
            let end = min(Self.hugeBody.count, offset + 100_000)
            try output.write(Array(Self.hugeBody[offset..<end]))
            offset = end
        }
    }

    /// What `render` saw last, e.g. "heap debug=0 gc=true".
    let lastRender = Mutex<String>("")
    /// Set when a `slow` render noticed its cancellation.
    let slowCancelled = Atomic<Int>(0)
    let slowStarted = Atomic<Int>(0)
    /// While true, `slow` renders wait (polling cancellation) instead of returning.
    let holdSlow = Atomic<Bool>(true)

    func render(_ name: String, debug: Int, gcFirst: Bool, cancel: CancellationCheck) throws -> [UInt8] {
        lastRender.withLock { $0 = "\(name) debug=\(debug) gc=\(gcFirst)" }
        switch name {
        case "big":
            return Self.bigBody
        case "huge":
            return Self.hugeBody
        case "slow":
            slowStarted.add(1, ordering: .relaxed)
            let deadline = Date(timeIntervalSinceNow: 20)
            while holdSlow.load(ordering: .acquiring) && Date() < deadline {
                if cancel.isCancelled {
                    slowCancelled.add(1, ordering: .relaxed)
                    throw PprofError.cancelled
                }
                usleep(5_000)
            }
            return Array("slow done\n".utf8)
        default:
            return Self.body(name, debug: debug)
        }
    }

    static func body(_ name: String, debug: Int) -> [UInt8] {
        if debug == 0 { return [0x1f, 0x8b, 0x08, 0x00] + Array("proto of \(name)".utf8) }
        return Array("\(name) profile: total 11\n(text at debug=\(debug))\n".utf8)
    }

    func delta(_ name: String, seconds: Int, cancel: CancellationCheck) throws -> [UInt8] {
        guard cancel.sleep(seconds: Double(seconds)) else { throw PprofError.cancelled }
        return [0x1f, 0x8b, 0x08, 0x00] + Array("delta of \(name) over \(seconds)s".utf8)
    }

    func symbolize(_ pcs: [UInt]) -> [(pc: UInt, name: String)] {
        pcs.compactMap { pc in pc < 0x1000_0000 ? (pc, "main.function_\(String(pc, radix: 16))") : nil }
    }
}
