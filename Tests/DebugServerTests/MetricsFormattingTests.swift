// Number formatting and content negotiation of /metrics against client_golang's expfmt: Go's
// strconv 'g' shortest form, and which format an Accept header selects.
@testable import DebugServer
import XCTest

final class MetricsFormattingTests: XCTestCase {
    func testFloatsPrintAsGoFormatsThem() {
        let cases: [(Double, String)] = [
            (0, "0"), (1, "1"), (86, "86"), (123456, "123456"), (1234567, "1.234567e+06"),
            (1.35938328e+08, "1.35938328e+08"), (0.5, "0.5"), (0.0001, "0.0001"), (0.00001, "1e-05"),
            (6.4e-08.nextDown, "6.399999999999999e-08"), (0.000917504.nextDown, "0.0009175039999999999"),
            (1e21, "1e+21"), (-2.5, "-2.5"), (18446744073709551615, "1.8446744073709552e+19"),
            (.infinity, "+Inf"), (-.infinity, "-Inf"), (.nan, "NaN"),
        ]
        for (value, expected) in cases {
            XCTAssertEqual(goFormatFloat(value), expected, "\(value)")
        }
    }

    func testAcceptHeaderSelectsTheFormat() {
        XCTAssertEqual(MetricsFormat.negotiate(accept: nil).contentType, "text/plain; version=0.0.4; charset=utf-8")
        XCTAssertEqual(MetricsFormat.negotiate(accept: "*/*").contentType, "text/plain; version=0.0.4; charset=utf-8")
        XCTAssertEqual(MetricsFormat.negotiate(accept: "application/openmetrics-text; version=1.0.0").contentType,
                       "application/openmetrics-text; version=1.0.0; charset=utf-8")
        XCTAssertEqual(MetricsFormat.negotiate(accept: "application/openmetrics-text;q=0,text/plain").contentType,
                       "text/plain; version=0.0.4; charset=utf-8")
        XCTAssertEqual(MetricsFormat.negotiate(accept: "text/plain;q=0.9,application/openmetrics-text;q=0.5").contentType,
                       "text/plain; version=0.0.4; charset=utf-8")
    }

    func testOpenMetricsCountersAndHistograms() {
        let families = [
            MetricFamily(name: "b_total", help: "B.", kind: .counter, samples: [MetricSample(value: 3)]),
            MetricFamily(name: "a_seconds", help: "A\\n.", kind: .histogram, histograms: [
                MetricHistogram(buckets: [(0.5, 1), (1, 2)], count: 3, sum: 2.5),
            ]),
            MetricFamily(name: "c", help: "C.", kind: .gauge,
                          samples: [MetricSample(labels: [("k", "a\"b\\c\nd")], value: 1)]),
        ]
        XCTAssertEqual(String(decoding: renderMetrics(families, format: .openMetrics), as: UTF8.self), """
            # HELP a_seconds A\\\\n.
            # TYPE a_seconds histogram
            a_seconds_bucket{le="0.5"} 1
            a_seconds_bucket{le="1.0"} 2
            a_seconds_bucket{le="+Inf"} 3
            a_seconds_sum 2.5
            a_seconds_count 3
            # HELP b B.
            # TYPE b counter
            b_total 3.0
            # HELP c C.
            # TYPE c gauge
            c{k="a\\"b\\\\c\\nd"} 1.0
            # EOF

            """)
        XCTAssertEqual(String(decoding: renderMetrics(families, format: .prometheusText), as: UTF8.self), """
            # HELP a_seconds A\\\\n.
            # TYPE a_seconds histogram
            a_seconds_bucket{le="0.5"} 1
            a_seconds_bucket{le="1"} 2
            a_seconds_bucket{le="+Inf"} 3
            a_seconds_sum 2.5
            a_seconds_count 3
            # HELP b_total B.
            # TYPE b_total counter
            b_total 3
            # HELP c C.
            # TYPE c gauge
            c{k="a\\"b\\\\c\\nd"} 1

            """)
    }
}
