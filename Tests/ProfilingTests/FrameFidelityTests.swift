import Foundation
import Goroutines
import InliningFixture
import Symbolication
import XCTest
@testable import Profiling

/// Every frame true and named one way (DESIGN.md rule 9), checked on optimized code with known inlining
/// (Tests/InliningFixture, built with -O): the function and line of every frame, `(...)` exactly on
/// inlined frames, no runtime glue or thunks, Go's `10 @` grouping for goroutines started in an unrolled
/// loop, and Go's pprof reading the same frames from the proto.
final class FrameFidelityTests: XCTestCase {
    private static let fixtureFile = "Tests/InliningFixture/InliningFixture.swift"

    /// Starts the fixture's 12 goroutines, waits until all are parked, runs `body`, then releases them.
    private func withFixtureGoroutines(_ body: () throws -> Void) throws {
        let gate = Channel<Int>()
        InliningFixture.spawnWorkers(gate: gate)
        InliningFixture.spawnJobs(gate: gate)
        func parkedInFixture() -> Int {
            RuntimeSnapshot.goroutines(withStacks: true).filter { $0.status == .waiting && !$0.stack.isEmpty }
                .filter { g in g.stack.contains { Symbolizer.shared.frames(at: $0 - 1).contains { $0.function.hasPrefix("InliningFixture.") } } }
                .count
        }
        while parkedInFixture() < 12 { Go.sleep(for: .milliseconds(1)) }
        defer { gate.close() }
        try body()
    }

    /// `debug=1`: the ten workers are one record; each `#` line names the function (inlined ones too) and
    /// the line of the call it is in.
    func testDebug1GroupsTheUnrolledLoopAndListsInlinedFramesWithTheirLines() throws {
        try withFixtureGoroutines {
            let text = GoroutineProfiles.goroutine().legacyText()
            let record = try XCTUnwrap(record(in: text, containing: "InliningFixture.Worker.run(_:)"), text)
            XCTAssertTrue(record.hasPrefix("10 @ 0x"), record)
            let frames = frameLines(record)
            XCTAssertEqual(Array(frames.suffix(5)), [
                "InliningFixture.park(_:) \(Self.fixtureFile):46",
                "InliningFixture.Worker.middle(_:) \(Self.fixtureFile):40",
                "InliningFixture.Worker.outer(_:) \(Self.fixtureFile):34",
                "InliningFixture.Worker.run(_:) \(Self.fixtureFile):28",
                "InliningFixture.InliningFixture.spawnWorkers(gate:).closure1 \(Self.fixtureFile):13",
            ], record)
            XCTAssertTrue(frames.dropLast(5).allSatisfy { $0.hasPrefix("Goroutines.") }, record)

            let generic = try XCTUnwrap(self.record(in: text, containing: "InliningFixture.runGeneric"), text)
            XCTAssertEqual(Array(frameLines(generic).suffix(4)), [
                "InliningFixture.park(_:) \(Self.fixtureFile):46",
                "InliningFixture.ParkJob.perform(_:) \(Self.fixtureFile):57",
                "InliningFixture.runGeneric<A>(_:_:) \(Self.fixtureFile):64",
                "InliningFixture.InliningFixture.spawnJobs(gate:).closure1 \(Self.fixtureFile):20",
            ], generic)
            let existential = try XCTUnwrap(self.record(in: text, containing: "InliningFixture.runExistential"), text)
            XCTAssertEqual(Array(frameLines(existential).suffix(4)), [
                "InliningFixture.park(_:) \(Self.fixtureFile):46",
                "InliningFixture.ParkJob.perform(_:) \(Self.fixtureFile):57",
                "InliningFixture.runExistential(_:_:) \(Self.fixtureFile):70",
                "InliningFixture.InliningFixture.spawnJobs(gate:).closure2 \(Self.fixtureFile):21",
            ], existential)
            assertNoGlue(text)
        }
    }

    /// `debug=2`: real frames `name()` with `+0x`, inlined frames `name(...)` without, as Go prints them;
    /// the stack ends at the goroutine's own function and `created by` names the spawning function.
    func testDebug2MarksExactlyTheInlinedFrames() throws {
        try withFixtureGoroutines {
            let dump = GoroutineProfiles.goroutineTraceback()
            let blocks = dump.components(separatedBy: "\n\n").filter { $0.contains("InliningFixture.Worker.run(_:)") }
            XCTAssertEqual(blocks.count, 10, dump)
            let file = NSRegularExpression.escapedPattern(for: Self.fixtureFile)
            for block in blocks {
                XCTAssertNotNil(block.range(of: "\n" + [
                    #"InliningFixture\.park\(_:\)\(\)\n\t/\S+"# + file + #":46 \+0x[0-9a-f]+"#,
                    #"InliningFixture\.Worker\.middle\(_:\)\(\.\.\.\)\n\t/\S+"# + file + ":40",
                    #"InliningFixture\.Worker\.outer\(_:\)\(\.\.\.\)\n\t/\S+"# + file + ":34",
                    #"InliningFixture\.Worker\.run\(_:\)\(\)\n\t/\S+"# + file + #":28 \+0x[0-9a-f]+"#,
                    #"InliningFixture\.InliningFixture\.spawnWorkers\(gate:\)\.closure1\(\)\n\t/\S+"# + file + #":13 \+0x[0-9a-f]+"#,
                    #"created by InliningFixture\.InliningFixture\.spawnWorkers\(gate:\)( in goroutine \d+)?\n\t/\S+"# + file + #":13 \+0x[0-9a-f]+$"#,
                ].joined(separator: "\n"), options: .regularExpression), block)
                // Every file line is `\tFILE:LINE +0xOFF`, without the offset only under an inlined frame.
                let lines = block.split(separator: "\n").dropFirst()
                for (name, location) in zip(lines.dropLast(2).enumerated().filter { $0.offset % 2 == 0 }.map(\.element),
                                            lines.dropLast(2).enumerated().filter { $0.offset % 2 == 1 }.map(\.element)) {
                    let inlined = name.hasSuffix("(...)")
                    XCTAssertTrue(inlined || name.hasSuffix("()"), String(name))
                    XCTAssertNotNil(location.range(of: inlined ? #"^\t/\S+:\d+$"# : #"^\t/\S+:\d+ \+0x[0-9a-f]+$"#,
                                                   options: .regularExpression), "\(name)\n\(location)")
                }
            }
            assertNoGlue(dump)
        }
    }

    /// The proto: one location per PC with one line per inlined frame, innermost first; mapping flags from
    /// what the lines carry; and Go 1.27's pprof reads the same functions and lines.
    func testProtoCarriesInlinedLinesAndGoToolPprofReadsThem() throws {
        let go = try XCTUnwrap(which("go"), "go is not installed")
        try withFixtureGoroutines {
            let profile = GoroutineProfiles.goroutine()
            let proto = try profile.pprofProfile()
            XCTAssertEqual(ProfileValidator.problems(inProto: proto.encodedProto()), [])
            let functions = Dictionary(proto.functions.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            let runLocation = try XCTUnwrap(proto.locations.first { location in
                location.lines.contains { functions[$0.functionID]?.name == "InliningFixture.Worker.run(_:)" }
            })
            XCTAssertEqual(runLocation.lines.map { functions[$0.functionID]!.name + ":" + String($0.line) },
                           ["InliningFixture.Worker.middle(_:):40", "InliningFixture.Worker.outer(_:):34",
                            "InliningFixture.Worker.run(_:):28"])
            let run = try XCTUnwrap(functions[runLocation.lines.last!.functionID])
            XCTAssertTrue(run.systemName.hasPrefix("$s15InliningFixture6WorkerO3run"), run.systemName)
            XCTAssertTrue(run.filename.hasSuffix(Self.fixtureFile), run.filename)
            XCTAssertEqual(run.startLine, 27)
            let executable = try XCTUnwrap(proto.mappings.first)
            XCTAssertTrue(executable.hasFunctions && executable.hasFilenames && executable.hasLineNumbers
                          && executable.hasInlineFrames, "\(executable)")
            for function in proto.functions {
                XCTAssertFalse(function.name.contains(" "), function.name)
                XCTAssertFalse(function.filename.contains("<compiler-generated>"), function.name)
            }

            let path = NSTemporaryDirectory() + "frame-fidelity-\(getpid()).pb.gz"
            defer { try? FileManager.default.removeItem(atPath: path) }
            try profile.write(.gzippedProto, to: FileHandle(forWritingTo: createEmptyFile(path)))
            let traces = try runProcess(go, ["tool", "pprof", "-traces", path])
            XCTAssertEqual(traces.status, 0, traces.stderr)
            XCTAssertNotNil(traces.stdout.range(of: [
                #"\s+10   Goroutines\.[^\n]+\n(?:[^\n]*\n)*?\s+InliningFixture\.park\(_:\)"#,
                #"\s+InliningFixture\.Worker\.middle\(_:\) \(inline\)"#,
                #"\s+InliningFixture\.Worker\.outer\(_:\) \(inline\)"#,
                #"\s+InliningFixture\.Worker\.run\(_:\)"#,
                #"\s+InliningFixture\.InliningFixture\.spawnWorkers\(gate:\)\.closure1\n-"#,
            ].joined(separator: "\n"), options: .regularExpression), traces.stdout)
            let list = try runProcess(go, ["tool", "pprof", "-list", #"Worker\.run"#, path])
            XCTAssertEqual(list.status, 0, list.stderr)
            XCTAssertTrue(list.stdout.contains("ROUTINE ======================== InliningFixture.Worker.run(_:) in /"), list.stdout)
            XCTAssertNotNil(list.stdout.range(of: #"\n\s+\.\s+10\s+28:\s+outer\(gate\)\n"#, options: .regularExpression), list.stdout)
            let raw = try runProcess(go, ["tool", "pprof", "-raw", path])
            XCTAssertEqual(raw.status, 0, raw.stderr)
            XCTAssertNotNil(raw.stdout.range(of: #"InliningFixture\.Worker\.run\(_:\) /\S+InliningFixture\.swift:28:0 s=27\("#,
                                             options: .regularExpression), raw.stdout)
        }
    }

    // MARK: Helpers

    /// The record of a `debug=1` text whose frames mention `marker`.
    private func record(in text: String, containing marker: String) -> String? {
        text.components(separatedBy: "\n\n").first { $0.contains(marker) }.map { record in
            record.hasPrefix("goroutine profile:") ? String(record.drop { $0 != "\n" }.dropFirst()) : record
        }
    }

    /// `NAME FILE:LINE` of each `#` frame line, with the path trimmed to the repository and the offset
    /// checked and dropped.
    private func frameLines(_ record: String) -> [String] {
        record.split(separator: "\n").filter { $0.hasPrefix("#\t0x") }.map { line -> String in
            let columns = line.split(separator: "\t", omittingEmptySubsequences: true)
            guard columns.count >= 4, let plus = columns[2].range(of: "+0x") else { return String(line) }
            var location = String(columns[3])
            if let repository = location.range(of: "/Tests/") ?? location.range(of: "/Sources/") {
                location = String(location[location.index(after: repository.lowerBound)...])
            }
            return String(columns[2][..<plus.lowerBound]) + " " + location
        }
    }

    private func assertNoGlue(_ text: String, file: StaticString = #filePath, line: UInt = #line) {
        for glue in ["goroutineEntry", "runGoroutineBody", "gr_goroutine_trampoline", "thunk", "partial apply",
                     "protocol witness", "<compiler-generated>", "closure #", "static ", "Scheduler."] {
            XCTAssertFalse(text.contains(glue), "\(glue) in:\n\(text)", file: file, line: line)
        }
    }
}
