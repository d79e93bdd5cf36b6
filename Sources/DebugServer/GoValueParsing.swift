// Query and number parsing with the exact leniency of Go's net/url and strconv, because the pprof
// contract is defined by what Go's handlers make of `debug=`, `gc=`, `seconds=` and `/symbol` input.

/// `application/x-www-form-urlencoded` query values, first value per key, as Go's `FormValue` sees
/// them: pairs split on `&`, pairs containing `;` or bad `%` escapes skipped, `+` meaning space.
struct QueryParameters {
    private var values: [String: String] = [:]

    init(rawQuery: String) {
        for pair in rawQuery.split(separator: "&", omittingEmptySubsequences: true) {
            if pair.contains(";") { continue }
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let key = formUnescape(parts[0]) else { continue }
            guard let value = parts.count > 1 ? formUnescape(parts[1]) : "" else { continue }
            if values[key] == nil { values[key] = value }
        }
    }

    subscript(_ key: String) -> String? { values[key] }
}

/// Decodes `%XX` escapes and `+`; nil when an escape is malformed (Go's QueryUnescape error).
func formUnescape<S: StringProtocol>(_ text: S) -> String? {
    percentDecode(text, plusIsSpace: true)
}

func percentDecode<S: StringProtocol>(_ text: S, plusIsSpace: Bool) -> String? {
    var out: [UInt8] = []
    out.reserveCapacity(text.utf8.count)
    var iterator = text.utf8.makeIterator()
    while let byte = iterator.next() {
        switch byte {
        case UInt8(ascii: "%"):
            guard let hi = iterator.next().flatMap(hexValue), let lo = iterator.next().flatMap(hexValue) else {
                return nil
            }
            out.append(hi << 4 | lo)
        case UInt8(ascii: "+") where plusIsSpace:
            out.append(UInt8(ascii: " "))
        default:
            out.append(byte)
        }
    }
    return String(decoding: out, as: UTF8.self)
}

private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
    default: return nil
    }
}

/// Go's `strconv.Atoi` as the pprof handlers use it (`x, _ := strconv.Atoi(s)`): optional sign and
/// decimal digits; syntax errors give 0, out-of-range values give the clamped extreme.
func goAtoiIgnoringErrors(_ text: String?) -> Int {
    guard let text, !text.isEmpty else { return 0 }
    var digits = Substring(text)
    var negative = false
    if let sign = digits.first, sign == "+" || sign == "-" {
        negative = sign == "-"
        digits = digits.dropFirst()
    }
    guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return 0 }
    if let magnitude = Int(digits) { return negative ? -magnitude : magnitude }
    return negative ? Int.min : Int.max
}

/// Go's `strconv.ParseInt(s, 10, 64)`: nil on any syntax or range error.
func goParseInt(_ text: String) -> Int? {
    var digits = Substring(text)
    var negative = false
    if let sign = digits.first, sign == "+" || sign == "-" {
        negative = sign == "-"
        digits = digits.dropFirst()
    }
    guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
    if negative { return Int("-" + digits) }
    return Int(digits)
}

/// Go's `strconv.ParseUint(s, 0, 64)`: `0x`/`0o`/`0b` prefixes and a bare leading `0` for octal.
/// nil on error. (Go also allows `_` digit separators after a prefix; pprof never sends them and we
/// reject them.)
func goParseUintBaseZero<S: StringProtocol>(_ text: S) -> UInt64? {
    var body = Substring(text)
    var radix = 10
    let lower = body.lowercased()
    if lower.hasPrefix("0x") { radix = 16; body = body.dropFirst(2) }
    else if lower.hasPrefix("0o") { radix = 8; body = body.dropFirst(2) }
    else if lower.hasPrefix("0b") { radix = 2; body = body.dropFirst(2) }
    else if body.count > 1 && body.hasPrefix("0") { radix = 8; body = body.dropFirst(1) }
    guard !body.isEmpty, !body.hasPrefix("+"), !body.hasPrefix("-") else { return nil }
    return UInt64(body, radix: radix)
}
