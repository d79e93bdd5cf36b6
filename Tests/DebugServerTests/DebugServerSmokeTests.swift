import XCTest
@testable import DebugServer

final class DebugServerSmokeTests: XCTestCase {
    func testModuleLoads() {}
}
