// Column alignment for the legacy text profiles, with the same results as the aligner Go's runtime/pprof
// writes through (minimum width 1, tab stops every 8, one unit of padding, padding made of TABs).
//
// A cell is text ended by a TAB; the text after a line's last TAB is not part of any column. A column
// block is a run of consecutive lines that all have a cell in that column; every cell of the block is
// padded with TABs to the block's widest cell plus one, rounded up to the next tab stop. Blocks nest:
// column j+1 is aligned separately inside each block of column j. So a line without TABs (`1 @ 0x…`,
// `# labels: …`) or a blank line separates alignment groups. Widths count characters (UTF-8 lead bytes),
// as Go counts runes.
//
// Works on UTF-8 bytes: text profiles of thousands of records are megabytes, and this runs per request.
enum TabAligner {
    private static let tabWidth = 8
    private static let padding = 1
    private static let minimumWidth = 1

    static func align(_ text: String) -> String {
        String(decoding: align(Array(text.utf8)), as: UTF8.self)
    }

    /// Aligns UTF-8 `text`, whose lines end in "\n".
    static func align(_ text: [UInt8]) -> [UInt8] {
        var pass = AlignmentPass(text: text)
        var widths: [Int] = []
        pass.format(&widths, 0, pass.lineCount)
        return pass.output
    }

    private struct AlignmentPass {
        let text: [UInt8]
        /// Cells of all lines, flattened: byte range and character width of each.
        var cellStart: [Int] = []
        var cellEnd: [Int] = []
        var cellWidth: [Int] = []
        /// Index of each line's first cell in the arrays above; one extra entry marks the end.
        var lineFirstCell: [Int] = []
        var endsWithNewline = false
        var output: [UInt8] = []

        var lineCount: Int { lineFirstCell.count - 1 }

        init(text: [UInt8]) {
            self.text = text
            endsWithNewline = text.last == UInt8(ascii: "\n")
            var start = 0, width = 0
            lineFirstCell.append(0)
            for (index, byte) in text.enumerated() {
                if byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n") {
                    cellStart.append(start)
                    cellEnd.append(index)
                    cellWidth.append(width)
                    start = index + 1
                    width = 0
                    if byte == UInt8(ascii: "\n") { lineFirstCell.append(cellStart.count) }
                } else if byte & 0xC0 != 0x80 {
                    width += 1
                }
            }
            if !endsWithNewline {
                cellStart.append(start)
                cellEnd.append(text.count)
                cellWidth.append(width)
                lineFirstCell.append(cellStart.count)
            }
            output.reserveCapacity(text.count + text.count / 4)
        }

        private func cellCount(_ line: Int) -> Int { lineFirstCell[line + 1] - lineFirstCell[line] }

        mutating func format(_ widths: inout [Int], _ firstLine: Int, _ endLine: Int) {
            let column = widths.count
            var pending = firstLine
            var line = firstLine
            while line < endLine {
                if column >= cellCount(line) - 1 {
                    line += 1
                    continue
                }
                write(widths, pending, line)
                let blockStart = line
                var width = TabAligner.minimumWidth
                while line < endLine && column < cellCount(line) - 1 {
                    width = max(width, cellWidth[lineFirstCell[line] + column] + TabAligner.padding)
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
            for line in firstLine..<endLine {
                let first = lineFirstCell[line]
                for column in 0..<cellCount(line) {
                    let cell = first + column
                    output.append(contentsOf: text[cellStart[cell]..<cellEnd[cell]])
                    if column < widths.count {
                        let stop = (widths[column] + TabAligner.tabWidth - 1) / TabAligner.tabWidth * TabAligner.tabWidth
                        let tabs = (stop - cellWidth[cell] + TabAligner.tabWidth - 1) / TabAligner.tabWidth
                        for _ in 0..<tabs { output.append(UInt8(ascii: "\t")) }
                    }
                }
                if line + 1 < lineCount || endsWithNewline { output.append(UInt8(ascii: "\n")) }
            }
        }
    }
}
