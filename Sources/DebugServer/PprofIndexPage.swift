// The `/debug/pprof/` HTML page, laid out byte for byte as Go 1.27's net/http/pprof writes it
// (go-captures/go1.27/index.txt): rows sorted by name, relative `?debug=1` links, escaped text, and
// no newline after `</html>`.

/// Descriptions of the routes the server itself provides, worded as Go 1.27 words them.
enum BuiltinProfileDescriptions {
    static let cmdline = "The command line invocation of the current program"
    static let profile = "CPU profile. You can specify the duration in the seconds GET parameter. After you get the profile file, use the go tool pprof command to investigate the profile."
    static let symbol = "Maps given program counters to function names. Counters can be specified in a GET raw query or POST body, multiple counters are separated by '+'."
}

func renderPprofIndexPage(rows unsortedRows: [PprofProfileInfo]) -> [UInt8] {
    // Go sorts by name with byte-wise string comparison.
    let rows = unsortedRows.sorted { Array($0.name.utf8).lexicographicallyPrecedes(Array($1.name.utf8)) }
    var html = """
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

        """
    for row in rows {
        let name = htmlEscape(row.name)
        html += "<tr><td>\(row.count)</td><td><a href='\(name)?debug=1'>\(name)</a></td></tr>\n"
    }
    html += """
        </table>
        <a href="goroutine?debug=2">full goroutine stack dump</a>
        <br>
        <p>
        Profile Descriptions:
        <ul>

        """
    for row in rows {
        html += "<li><div class=profile-name>\(htmlEscape(row.name)): </div> \(htmlEscape(row.description))</li>\n"
    }
    html += """
        </ul>
        </p>
        </body>
        </html>
        """
    return Array(html.utf8)
}

/// The five characters Go's `html.EscapeString` replaces, with the same entities.
func htmlEscape(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for character in text.unicodeScalars {
        switch character {
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "&": out += "&amp;"
        case "'": out += "&#39;"
        case "\"": out += "&#34;"
        default: out.unicodeScalars.append(character)
        }
    }
    return out
}
