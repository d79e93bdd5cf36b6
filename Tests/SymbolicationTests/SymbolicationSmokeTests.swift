import XCTest
@testable import Symbolication

final class SymbolicationSmokeTests: XCTestCase {
    func testModuleLoads() {}
}
