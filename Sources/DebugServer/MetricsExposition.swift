// Prometheus text exposition 0.0.4 and OpenMetrics 1.0.0, written the way client_golang's expfmt writes
// them, so scrapers, promtool and dashboards see what they see from a Go service: families sorted by
// name, `# HELP`/`# TYPE` lines, Go's shortest float formatting (`1.35938328e+08`), histogram buckets
// with cumulative counts and a `+Inf` bucket, and for OpenMetrics the `_total` suffix kept off the
// family name, integer counts, floats always carrying a `.` or exponent, and the `# EOF` trailer.
//
// Why not swift-metrics/swift-prometheus: swift-metrics is a push API backed by one process-wide
// `MetricsSystem.bootstrap`, which belongs to the application (it may already feed StatsD or OTel);
// our metrics are pulled from the runtime's read-only snapshot at scrape time, which it cannot model
// without mirroring every value into registered gauges on a timer. swift-prometheus 2.x writes only the
// 0.0.4 text format. The formatting below is small, and keeps the debug server free of both.

/// One sample line's labels and value(s) within a family.
struct MetricSample: Sendable {
    var labels: [(name: String, value: String)] = []
    var value: Double
}

/// A histogram's cumulative buckets: (upper bound, count of observations ≤ bound), without `+Inf`.
struct MetricHistogram: Sendable {
    var labels: [(name: String, value: String)] = []
    var buckets: [(upperBound: Double, cumulativeCount: UInt64)]
    var count: UInt64
    var sum: Double
}

struct MetricFamily: Sendable {
    enum Kind: String, Sendable { case gauge, counter, histogram }
    /// The full name as the 0.0.4 text shows it (counters end in `_total`).
    var name: String
    var help: String
    var kind: Kind
    var samples: [MetricSample] = []
    var histograms: [MetricHistogram] = []
}

enum MetricsFormat: Sendable {
    case prometheusText
    case openMetrics

    var contentType: String {
        switch self {
        case .prometheusText: return "text/plain; version=0.0.4; charset=utf-8"
        case .openMetrics: return "application/openmetrics-text; version=1.0.0; charset=utf-8"
        }
    }

    /// OpenMetrics when the `Accept` header lists it with a quality above zero and at least that of
    /// the text format (Prometheus sends `application/openmetrics-text;version=1.0.0,…;q=0.5`).
    static func negotiate(accept: String?) -> MetricsFormat {
        guard let accept else { return .prometheusText }
        var openMetricsQuality = -1.0, textQuality = -1.0
        for range in accept.split(separator: ",") {
            let parts = range.split(separator: ";").map { $0.trimmingSpaces }
            guard let type = parts.first?.asciiLowercased else { continue }
            var quality = 1.0
            for parameter in parts.dropFirst() where parameter.hasPrefix("q=") {
                quality = Double(parameter.dropFirst(2)) ?? 0
            }
            if type == "application/openmetrics-text" { openMetricsQuality = max(openMetricsQuality, quality) }
            if type == "text/plain" || type == "*/*" || type == "text/*" { textQuality = max(textQuality, quality) }
        }
        return openMetricsQuality > 0 && openMetricsQuality >= textQuality ? .openMetrics : .prometheusText
    }
}

func renderMetrics(_ unsorted: [MetricFamily], format: MetricsFormat) -> [UInt8] {
    let families = unsorted.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
    var out = ""
    out.reserveCapacity(8192)
    for family in families {
        var familyName = family.name
        if format == .openMetrics && family.kind == .counter && familyName.hasSuffix("_total") {
            familyName.removeLast("_total".count)
        }
        out += "# HELP \(familyName) \(escapeHelp(family.help))\n"
        out += "# TYPE \(familyName) \(family.kind.rawValue)\n"
        for sample in family.samples {
            writeSample(&out, name: family.name, labels: sample.labels, value: formatValue(sample.value, format))
        }
        for histogram in family.histograms {
            for bucket in histogram.buckets {
                writeSample(&out, name: family.name + "_bucket",
                            labels: histogram.labels + [("le", formatValue(bucket.upperBound, format))],
                            value: formatCount(bucket.cumulativeCount, format))
            }
            writeSample(&out, name: family.name + "_bucket", labels: histogram.labels + [("le", "+Inf")],
                        value: formatCount(histogram.count, format))
            writeSample(&out, name: family.name + "_sum", labels: histogram.labels,
                        value: formatValue(histogram.sum, format))
            writeSample(&out, name: family.name + "_count", labels: histogram.labels,
                        value: formatCount(histogram.count, format))
        }
    }
    if format == .openMetrics { out += "# EOF\n" }
    return Array(out.utf8)
}

private func writeSample(_ out: inout String, name: String, labels: [(name: String, value: String)], value: String) {
    out += name
    if !labels.isEmpty {
        out += "{"
        out += labels.map { "\($0.name)=\"\(escapeLabelValue($0.value))\"" }.joined(separator: ",")
        out += "}"
    }
    out += " " + value + "\n"
}

private func formatValue(_ value: Double, _ format: MetricsFormat) -> String {
    let text = goFormatFloat(value)
    if format == .openMetrics && value.isFinite && !text.contains(".") && !text.contains("e") {
        return text + ".0"
    }
    return text
}

/// 0.0.4 writes counts as floats (`1.208354e+06`); OpenMetrics as integers.
private func formatCount(_ count: UInt64, _ format: MetricsFormat) -> String {
    format == .openMetrics ? String(count) : goFormatFloat(Double(count))
}

private func escapeHelp(_ text: String) -> String {
    var out = ""
    for character in text {
        switch character {
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        default: out.append(character)
        }
    }
    return out
}

private func escapeLabelValue(_ text: String) -> String {
    var out = ""
    for character in text {
        switch character {
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\"": out += "\\\""
        default: out.append(character)
        }
    }
    return out
}

/// Go's `strconv.FormatFloat(v, 'g', -1, 64)`: the shortest digits that round-trip, in exponent form
/// when the decimal exponent is below -4 or at least 6 (so 1234567 prints `1.234567e+06`, 86 prints
/// `86`, 0.0009 prints `0.0009`, 6.4e-08 prints `6.4e-08`).
func goFormatFloat(_ value: Double) -> String {
    if value.isNaN { return "NaN" }
    if value.isInfinite { return value < 0 ? "-Inf" : "+Inf" }
    if value == 0 { return value.sign == .minus ? "-0" : "0" }
    // Swift's description gives the shortest round-tripping digits; take them apart.
    let negative = value < 0
    let (_, digits, exponent) = shortestDigits(abs(value))
    let eprec = 6
    var out = negative ? "-" : ""
    if exponent < -4 || exponent >= eprec {
        out += String(digits.first!)
        if digits.count > 1 { out += "." + digits.dropFirst() }
        out += exponent < 0 ? "e-" : "e+"
        let magnitude = abs(exponent)
        out += magnitude < 10 ? "0\(magnitude)" : "\(magnitude)"
        return out
    }
    if exponent < 0 {
        out += "0." + String(repeating: "0", count: -exponent - 1) + digits
    } else if digits.count <= exponent + 1 {
        out += digits + String(repeating: "0", count: exponent + 1 - digits.count)
    } else {
        let split = digits.index(digits.startIndex, offsetBy: exponent + 1)
        out += digits[..<split] + "." + digits[split...]
    }
    return out
}

/// Decimal digits (no leading/trailing zeros) and the exponent of the first digit, from Swift's
/// shortest round-trip description (`1234.5`, `1.5e-07`, `1e+21`).
private func shortestDigits(_ value: Double) -> (negative: Bool, digits: String, exponent: Int) {
    var text = value.description
    let negative = text.hasPrefix("-")
    if negative { text.removeFirst() }
    var exponent = 0
    if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
        exponent = Int(text[text.index(after: e)...]) ?? 0
        text = String(text[..<e])
    }
    let point = text.firstIndex(of: ".")
    let integerPart = point.map { String(text[..<$0]) } ?? text
    let fractionPart = point.map { String(text[text.index(after: $0)...]) } ?? ""
    var digits = integerPart + fractionPart
    var firstDigitExponent = exponent + integerPart.count - 1
    while digits.hasPrefix("0") && digits.count > 1 {
        digits.removeFirst()
        firstDigitExponent -= 1
    }
    while digits.hasSuffix("0") && digits.count > 1 { digits.removeLast() }
    return (negative, digits, firstDigitExponent)
}

private extension Substring {
    var trimmingSpaces: String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
    var asciiLowercased: String { String(self).asciiLowercased }
}
