import XCTest
@testable import Profiling

final class ProfilingSmokeTests: XCTestCase {
    func testModuleLoads() {}
}
