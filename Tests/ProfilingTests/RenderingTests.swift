import XCTest
@testable import Profiling
import Symbolication

final class RenderingTests: XCTestCase {
    private func sampleProfile() -> CountProfile {
        var resolver = FakeResolver(images: [ImageMapping(start: 0x1000, limit: 0x9000, fileOffset: 0, path: "/app", buildID: "ab")])
        resolver.add(pc: 0x1000, "App.a()")
        return CountProfile(name: "goroutine", records: [CountProfileRecord(stack: [0x1001])], resolver: resolver, timeNanos: 9)
    }

    func testEveryFormatRendersToBytes() throws {
        let profile = sampleProfile()
        let text = try profile.render(.legacyText)
        XCTAssertEqual(String(decoding: text, as: UTF8.self), profile.legacyText())
        let proto = try profile.render(.proto)
        XCTAssertEqual(try Profile(proto: proto), try profile.pprofProfile())
        let gzipped = try profile.render(.gzippedProto)
        XCTAssertEqual(Array(gzipped.prefix(2)), [0x1f, 0x8b])
        XCTAssertEqual(try Gzip.decompress(gzipped), proto)

        var buffer: [UInt8] = Array("prefix".utf8)
        try profile.render(.legacyText, appendingTo: &buffer)
        XCTAssertEqual(buffer, Array("prefix".utf8) + text)
    }

    func testWritingToAFileDescriptorThroughAPipe() async throws {
        // A pipe forces partial writes once the profile exceeds the pipe buffer; a reader drains it.
        var resolver = FakeResolver()
        for i in 0..<3000 { resolver.add(pc: UInt(0x10000 + i * 16), "App.function\(i)()") }
        let records = (0..<3000).map { CountProfileRecord(stack: [UInt(0x10001 + $0 * 16)]) }
        let profile = CountProfile(name: "goroutine", records: records, resolver: resolver)
        let expected = try profile.render(.legacyText)
        XCTAssertGreaterThan(expected.count, 65536)

        let pipe = Pipe()
        let readEnd = pipe.fileHandleForReading
        let reader = Task.detached { readEnd.readDataToEndOfFile() }
        try profile.write(.legacyText, to: pipe.fileHandleForWriting)
        try pipe.fileHandleForWriting.close()
        let received = await reader.value
        XCTAssertEqual(Array(received), expected)
    }

    func testErrorsSayWhatToDo() throws {
        let profile = try sampleProfile().pprofProfile()
        XCTAssertThrowsError(try profile.render(.legacyText)) { error in
            XCTAssertEqual(String(describing: error),
                           "profile goroutine/count has no legacy text form; render it as .gzippedProto or .proto")
        }
        XCTAssertThrowsError(try sampleProfile().write(.proto, toFileDescriptor: -1)) { error in
            XCTAssertEqual(error as? ProfileRenderingError, .writeFailed(errno: EBADF, bytesWritten: 0))
            XCTAssertTrue(String(describing: error).contains("Bad file descriptor"))
        }
        // A Profile renders as proto unchanged.
        XCTAssertEqual(try profile.render(.proto), profile.encodedProto())
    }
}

final class TextFormattingTests: XCTestCase {
    func testGoQuotingOfLabelValues() {
        XCTAssertEqual("plain".goQuoted, "\"plain\"")
        XCTAssertEqual("a\"b\\c".goQuoted, #""a\"b\\c""#)
        XCTAssertEqual("\n\t\r\u{07}\u{0B}".goQuoted, #""\n\t\r\a\v""#)
        XCTAssertEqual("\u{01}\u{7f}".goQuoted, #""\x01\x7f""#)
        XCTAssertEqual("héllo 世界 🎉".goQuoted, "\"héllo 世界 🎉\"")
        XCTAssertEqual("\u{00a0}\u{200b}\u{e000}".goQuoted, #""\u00a0\u200b\ue000""#)
        XCTAssertEqual("\u{f0000}".goQuoted, #""\U000f0000""#)
    }

    func testAlignmentBlocksNestAndBreakAtLinesWithoutTabs() {
        let input = """
            header
            #\t0x1\tshort+0x1\ta.go:1
            #\t0x2\tmuch_longer_function_name+0x2\tb.go:2
            #\t0x3
            #\t0x4\tx+0x4\tc.go:3
            1 @ 0x5
            #\t0x12345678\tf+0x1\td.go:4

            """
        XCTAssertEqual(TabAligner.align(input), """
            header
            #\t0x1\tshort+0x1\t\t\ta.go:1
            #\t0x2\tmuch_longer_function_name+0x2\tb.go:2
            #\t0x3
            #\t0x4\tx+0x4\tc.go:3
            1 @ 0x5
            #\t0x12345678\tf+0x1\td.go:4

            """)
        XCTAssertEqual(TabAligner.align("no tabs\nat all"), "no tabs\nat all")
        XCTAssertEqual(TabAligner.align("α\tb\nαβγδεζηθι\tc\n"), "α\t\tb\nαβγδεζηθι\tc\n")
    }
}
