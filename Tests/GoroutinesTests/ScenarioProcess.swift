import Foundation
import XCTest

/// Runs a scenario of the `GoroutinesScenarios` executable (built next to the test bundle) as a
/// subprocess and collects its exit status and output.
struct ScenarioProcess {
    var status: Int32
    var stdout: String
    var stderr: String

    static var executable: URL {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return exe.deletingLastPathComponent().appendingPathComponent("GoroutinesScenarios")
    }

    static func run(_ scenario: String, environment: [String: String] = [:], timeout: TimeInterval = 60) throws -> ScenarioProcess {
        let process = Process()
        process.executableURL = executable
        process.arguments = [scenario]
        var env = ProcessInfo.processInfo.environment
        env["SWIFT_BACKTRACE"] = "enable=no"
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read both pipes concurrently so a chatty child never blocks on a full pipe.
        nonisolated(unsafe) var outData = Data(), errData = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { outData = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        group.enter()
        DispatchQueue.global().async { errData = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        if group.wait(timeout: .now() + timeout) == .timedOut {
            process.terminate()
            XCTFail("scenario \(scenario) did not finish within \(timeout) s")
        }
        process.waitUntilExit()
        return ScenarioProcess(status: process.terminationStatus,
                               stdout: String(decoding: outData, as: UTF8.self),
                               stderr: String(decoding: errData, as: UTF8.self))
    }
}

/// Matches `text` against an anchored regular expression, failing the test with both when they differ.
func XCTAssertMatches(_ text: String, _ pattern: String, file: StaticString = #filePath, line: UInt = #line) {
    let regex = try! NSRegularExpression(pattern: "^" + pattern + "$", options: [.dotMatchesLineSeparators])
    let range = NSRange(text.startIndex..., in: text)
    if regex.firstMatch(in: text, range: range) == nil {
        XCTFail("text does not match /\(pattern)/:\n\(text)", file: file, line: line)
    }
}
