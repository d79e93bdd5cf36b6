// Every ```swift block of README.md compiles: ReadmeSnippets.swift holds them (imports hoisted, each
// body wrapped in a function that is type-checked but never run) and is built with the tests. This
// test fails when README.md and that file disagree; run it with UPDATE_README_SNIPPETS=1 to rewrite
// the file from the README, then build to see whether the new snippets compile.
import Foundation
import XCTest

final class ReadmeSnippetsTests: XCTestCase {
    private var root: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    func testEveryReadmeSwiftBlockIsInTheCompiledSnippetsFile() throws {
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let generatedPath = root.appendingPathComponent("Tests/ReadmeSnippets/ReadmeSnippets.swift")
        let expected = Self.snippetsFile(fromReadme: readme)
        XCTAssertFalse(Self.swiftBlocks(in: readme).isEmpty, "README.md has Swift snippets to check")
        if ProcessInfo.processInfo.environment["UPDATE_README_SNIPPETS"] == "1" {
            try expected.write(to: generatedPath, atomically: true, encoding: .utf8)
        }
        let committed = try String(contentsOf: generatedPath, encoding: .utf8)
        XCTAssertEqual(committed, expected, """
            README.md's Swift snippets changed: run `UPDATE_README_SNIPPETS=1 swift test --filter ReadmeSnippetsTests`, \
            then `swift build --build-tests` to check that they compile
            """)
    }

    /// The bodies of the ```swift fenced blocks, in order.
    static func swiftBlocks(in markdown: String) -> [[String]] {
        var blocks: [[String]] = []
        var current: [String]?
        for line in markdown.components(separatedBy: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if current == nil {
                if trimmed == "```swift" { current = [] }
            } else if trimmed == "```" {
                blocks.append(current!)
                current = nil
            } else {
                current!.append(line)
            }
        }
        return blocks
    }

    static func snippetsFile(fromReadme readme: String) -> String {
        let blocks = swiftBlocks(in: readme)
        var imports = Set<String>()
        var bodies: [String] = []
        for (index, block) in blocks.enumerated() {
            var body: [String] = []
            for line in block {
                if line.hasPrefix("import ") { imports.insert(line) } else { body.append(line) }
            }
            let indented = body.map { $0.isEmpty ? "" : "    " + $0 }.joined(separator: "\n")
            bodies.append("func readmeSnippet\(index + 1)() throws {\n\(indented)\n}\n")
        }
        return "// Generated from README.md's ```swift blocks by ReadmeSnippetsTests (UPDATE_README_SNIPPETS=1).\n"
            + "// Do not edit: change README.md and regenerate. Reader-side names live in SnippetContext.swift.\n"
            + imports.sorted().joined(separator: "\n") + "\n\n" + bodies.joined(separator: "\n")
    }
}
