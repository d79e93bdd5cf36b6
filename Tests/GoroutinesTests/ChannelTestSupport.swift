import Foundation
import Synchronization
import XCTest
@testable import Goroutines

/// Thread-safe bag of values for checking what goroutines did.
final class Collected<T: Sendable>: @unchecked Sendable {
    private var items: [T] = []
    private let lock = NSLock()
    func append(_ item: T) { lock.lock(); items.append(item); lock.unlock() }
    var values: [T] { lock.lock(); defer { lock.unlock() }; return items }
    var count: Int { values.count }
}

/// An id a goroutine publishes before it blocks.
final class GoroutineIDBox: @unchecked Sendable {
    let id = Atomic<Int64>(0)
    func publish() { id.store(Go.goroutineID ?? -1, ordering: .releasing) }
}

/// Polls until `condition` holds (up to 10 s of real time); the runtime does the waiting, so tests do
/// not depend on timing, only on the state becoming observable.
func eventually(_ what: String, file: StaticString = #filePath, line: UInt = #line, _ condition: () -> Bool) {
    let deadline = Date().addingTimeInterval(10)
    while !condition() {
        if Date() > deadline {
            XCTFail("timed out waiting until \(what)", file: file, line: line)
            return
        }
        if Go.goroutineID != nil { Go.sleep(for: .microseconds(200)) } else { usleep(200) }
    }
}

/// The wait reason of goroutine `id` right now (nil if it is not waiting).
func waitReason(of id: Int64) -> WaitReason? {
    RuntimeSnapshot.goroutines(withStacks: false).first { $0.id == id && $0.status == .waiting }?.waitReason
}

/// Waits until the goroutine that published into `box` is parked with `reason`.
func eventuallyParked(_ box: GoroutineIDBox, _ reason: WaitReason, file: StaticString = #filePath, line: UInt = #line) {
    eventually("goroutine parks with [\(reason.description)]", file: file, line: line) {
        let id = box.id.load(ordering: .acquiring)
        return id > 0 && waitReason(of: id) == reason
    }
}
