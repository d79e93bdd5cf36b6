import XCTest
@testable import Goroutines

final class GoroutinesSmokeTests: XCTestCase {
    func testModuleLoads() {}
}
