// Column alignment for the legacy text profiles, with the same results as the aligner Go's runtime/pprof
// writes through (minimum width 1, tab stops every 8, one unit of padding, padding made of TABs).
//
// A cell is text ended by a TAB; the text after a line's last TAB is not part of any column. A column
// block is a run of consecutive lines that all have a cell in that column; every cell of the block is
// padded with TABs to the block's widest cell plus one, rounded up to the next tab stop. Blocks nest:
// column j+1 is aligned separately inside each block of column j. So a line without TABs (`1 @ 0x…`,
// `# labels: …`) or a blank line separates alignment groups.
struct TabAligner {
    private static let tabWidth = 8
    private static let padding = 1
    private static let minimumWidth = 1

    /// Aligns `text`, whose lines end in "\n".
    static func align(_ text: String) -> String {
        var aligner = AlignmentPass(text: text)
        var widths: [Int] = []
        aligner.format(&widths, 0, aligner.lines.count)
        return aligner.output
    }

    private struct AlignmentPass {
        /// Cells of each line, with their widths in Unicode scalars (Go counts runes).
        let lines: [[(text: Substring, width: Int)]]
        let endsWithNewline: Bool
        var output = ""

        init(text: String) {
            endsWithNewline = text.hasSuffix("\n")
            var rawLines = text.split(separator: "\n", omittingEmptySubsequences: false)
            if endsWithNewline { rawLines.removeLast() }
            lines = rawLines.map { line in
                line.split(separator: "\t", omittingEmptySubsequences: false).map { ($0, $0.unicodeScalars.count) }
            }
            output.reserveCapacity(text.utf8.count + text.utf8.count / 4)
        }

        mutating func format(_ widths: inout [Int], _ firstLine: Int, _ endLine: Int) {
            let column = widths.count
            var pending = firstLine
            var line = firstLine
            while line < endLine {
                if column >= lines[line].count - 1 {
                    line += 1
                    continue
                }
                write(widths, pending, line)
                let blockStart = line
                var width = TabAligner.minimumWidth
                while line < endLine && column < lines[line].count - 1 {
                    width = max(width, lines[line][column].width + TabAligner.padding)
                    line += 1
                }
                widths.append(width)
                format(&widths, blockStart, line)
                widths.removeLast()
                pending = line
            }
            write(widths, pending, endLine)
        }

        private mutating func write(_ widths: [Int], _ firstLine: Int, _ endLine: Int) {
            guard firstLine < endLine else { return }
            for index in firstLine..<endLine {
                for (column, cell) in lines[index].enumerated() {
                    output += cell.text
                    if column < widths.count {
                        let stop = (widths[column] + TabAligner.tabWidth - 1) / TabAligner.tabWidth * TabAligner.tabWidth
                        let tabs = (stop - cell.width + TabAligner.tabWidth - 1) / TabAligner.tabWidth
                        output += String(repeating: "\t", count: tabs)
                    }
                }
                if index + 1 < lines.count || endsWithNewline { output += "\n" }
            }
        }
    }
}
