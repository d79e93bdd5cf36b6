import Synchronization
import XCTest
@testable import Goroutines

/// Stacks come when a goroutine first runs and go back to the kernel (pages only) when many dead
/// goroutines pile up in the free caches; a goroutine that reuses such a stack must not notice.
final class StackReuseTests: XCTestCase {
    func testGoroutinesReusingReleasedStacksKeepTheirFramesAcrossParks() throws {
        let count = 2_000
        // Each goroutine fills an 8 KiB frame with its own pattern, parks, and checks it on resume.
        @inline(never) @Sendable func fillParkAndCheck(_ seed: UInt8, _ gate: WaitGroup, _ parked: WaitGroup) -> Bool {
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 8 * 1024) { buffer in
                for i in buffer.indices { buffer[i] = seed &+ UInt8(truncatingIfNeeded: i) }
                parked.done()
                gate.wait()
                return buffer.indices.allSatisfy { buffer[$0] == seed &+ UInt8(truncatingIfNeeded: $0) }
            }
        }
        let bad = Atomic<Int>(0)
        try Go.runBlocking {
            // Two rounds: all of round one's goroutines are parked at once, so they exit together and most
            // of their stacks are released; round two runs on those stacks.
            for round in 0..<2 {
                let gate = WaitGroup(), parked = WaitGroup(), exited = WaitGroup()
                gate.add(1)
                for i in 0..<count {
                    parked.add(1)
                    exited.add(1)
                    go {
                        if !fillParkAndCheck(UInt8(truncatingIfNeeded: i &* 31 &+ round), gate, parked) {
                            bad.add(1, ordering: .relaxed)
                        }
                        exited.done()
                    }
                }
                parked.wait()
                gate.done()
                exited.wait()
            }
        }
        XCTAssertEqual(bad.load(ordering: .relaxed), 0, "every goroutine found its stack as it left it")
    }
}
