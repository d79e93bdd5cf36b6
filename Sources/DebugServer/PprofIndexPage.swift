// The `/debug/pprof/` HTML page, laid out byte for byte as Go 1.27's net/http/pprof writes it
// (go-captures/go1.27/index.txt): rows sorted by name, relative `?debug=1` links, escaped text, and
// no newline after `</html>`.

/// Descriptions of the routes the server itself provides, worded as Go 1.27 words them.
enum BuiltinProfileDescriptions {
    static let cmdline = "The command line invocation of the current program"
    static let profile = "CPU profile. You can specify the duration in the seconds GET parameter. After you get the profile file, use the go tool pprof command to investigate the profile."
    static let symbol = "Maps given program counters to function names. Counters can be specified in a GET raw query or POST body, multiple counters are separated by '+'."
}

/// `notice`: a line shown first in the body (a deadlocked process kept running says `deadlocked: …`).
func renderPprofIndexPage(rows unsortedRows: [PprofProfileInfo], notice: String? = nil) -> [UInt8] {
    // Go sorts by name with byte-wise string comparison.
    let rows = unsortedRows.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
    // Built as bytes: this page is what scrapers and benchmarks hit most often.
    var html: [UInt8] = []
    html.reserveCapacity(3072)
    html += indexPageHead
    if let notice {
        // Right after `<body>\n`, before the title line.
        let title = Array("/debug/pprof/\n<br>\n<p>Set debug".utf8)
        if let at = html.firstRange(of: title)?.lowerBound {
            var line = Array("<p><b>deadlocked</b>: ".utf8)
            appendHTMLEscaped(notice, to: &line)
            line += "</p>\n".utf8
            html.insert(contentsOf: line, at: at)
        }
    }
    for row in rows {
        html += "<tr><td>".utf8
        html += String(row.count).utf8
        html += "</td><td><a href='".utf8
        appendHTMLEscaped(row.name, to: &html)
        html += "?debug=1'>".utf8
        appendHTMLEscaped(row.name, to: &html)
        html += "</a></td></tr>\n".utf8
    }
    html += indexPageMiddle
    for row in rows {
        html += "<li><div class=profile-name>".utf8
        appendHTMLEscaped(row.name, to: &html)
        html += ": </div> ".utf8
        appendHTMLEscaped(row.description, to: &html)
        html += "</li>\n".utf8
    }
    html += indexPageTail
    return html
}

private let indexPageHead = Array("""
    <html>
    <head>
    <title>/debug/pprof/</title>
    <style>
    .profile-name{
    \tdisplay:inline-block;
    \twidth:6rem;
    }
    </style>
    </head>
    <body>
    /debug/pprof/
    <br>
    <p>Set debug=1 as a query parameter to export in legacy text format</p>
    <br>
    Types of profiles available:
    <table>
    <thead><td>Count</td><td>Profile</td></thead>

    """.utf8)

private let indexPageMiddle = Array("""
    </table>
    <a href="goroutine?debug=2">full goroutine stack dump</a>
    <br>
    <p>
    Profile Descriptions:
    <ul>

    """.utf8)

private let indexPageTail = Array("""
    </ul>
    </p>
    \(operatorLinks)</body>
    </html>
    """.utf8)

/// Our routes beyond net/http/pprof, after Go's page body so everything before stays byte-exact.
private let operatorLinks = """
    <p>
    Beyond net/http/pprof:
    <ul>
    <li><a href="/debug/flamegraph?profile=goroutine">flame graph</a>: goroutine, heap, allocs, block, mutex, threadcreate; profile&amp;seconds=N for CPU</li>
    <li><a href="/metrics">/metrics</a>: Prometheus and OpenMetrics</li>
    <li><a href="delta_heap">delta_heap</a>, <a href="delta_block">delta_block</a>, <a href="delta_mutex">delta_mutex</a>: changes since the previous call (godeltaprof; one consumer per endpoint)</li>
    <li><a href="/debug/schedtrace?interval=1000">/debug/schedtrace?interval=1000</a>: GODEBUG=schedtrace lines, streamed (detail=1 for scheddetail)</li>
    </ul>
    </p>

    """

/// The five characters Go's `html.EscapeString` replaces, with the same entities.
func appendHTMLEscaped(_ text: String, to out: inout [UInt8]) {
    for byte in text.utf8 {
        switch byte {
        case UInt8(ascii: "<"): out += "&lt;".utf8
        case UInt8(ascii: ">"): out += "&gt;".utf8
        case UInt8(ascii: "&"): out += "&amp;".utf8
        case UInt8(ascii: "'"): out += "&#39;".utf8
        case UInt8(ascii: "\""): out += "&#34;".utf8
        default: out.append(byte)
        }
    }
}

func htmlEscape(_ text: String) -> String {
    var bytes: [UInt8] = []
    appendHTMLEscaped(text, to: &bytes)
    return String(decoding: bytes, as: UTF8.self)
}
