import CSampling
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Turns linker symbols into the names people search for in `go tool pprof -top`, flame graphs and
/// Go-style tracebacks, and tells which frames are thunks (`FrameClassifier`).
///
/// Swift symbols are demangled with the runtime's own demangler (`swift_demangle`), then shortened here to
/// the *declaration* a Swift programmer would write (argument labels kept; argument types, return types,
/// effects and generic `where` clauses dropped; specialization prefixes dropped so specialized copies
/// aggregate with the generic function), and finally made one token by `GoStyleName` (closures as
/// `.closureN` suffixes, no `static`, witnesses and thunks named after what they run):
///     `$s8MyModule6WorkerV3run3jobS2i_tF`                           → `MyModule.Worker.run(job:)`
///     `closure #1 (Swift.Int) -> Swift.Int in MyModule.main() -> ()` → `MyModule.main().closure1`
///     `static MyModule.Worker.make() -> MyModule.Worker`             → `MyModule.Worker.make()`
///     `MyModule.f<A where A: Swift.Equatable>(A) -> A`               → `MyModule.f<A>(_:)`
///     `(extension in MyModule):Swift.String.shout() -> Swift.String` → `Swift.String.shout()`
/// C++ symbols are demangled with `__cxa_demangle` when the process has it, spaces removed; everything else
/// (C functions such as `malloc`) is returned unchanged.
enum SwiftNameFormatter {
    private typealias CxxDemangle = @convention(c) (
        UnsafePointer<CChar>?, UnsafeMutablePointer<CChar>?, UnsafeMutablePointer<Int>?, UnsafeMutablePointer<Int32>?
    ) -> UnsafeMutablePointer<CChar>?

    // Looked up once: the C++ runtime's demangler is optional (present whenever libstdc++ is loaded).
    private static let cxxDemangle: CxxDemangle? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__cxa_demangle")
        .map { unsafeBitCast($0, to: CxxDemangle.self) }

    /// The readable name for linker symbol `symbol` (see the type's documentation for the convention).
    static func readableName(forSymbol symbol: String) -> String {
        describe(symbol: symbol).name
    }

    /// The readable name of linker symbol `symbol` and how stacks treat its frames.
    static func describe(symbol: String) -> (name: String, kind: FrameKind) {
        if isSwiftMangled(symbol) {
            guard let demangled = demangleSwift(symbol) else { return (symbol, .code) }
            let name = GoStyleName.rewrite(simplify(demangled))
            return (name, FrameClassifier.kind(ofSwiftSymbol: demangled, named: name))
        }
        if symbol.hasPrefix("_Z"), let demangled = demangleCxx(symbol) {
            return (demangled.filter { $0 != " " }, .code)
        }
        return (symbol, FrameClassifier.kind(ofCSymbol: symbol))
    }

    static func isSwiftMangled(_ symbol: String) -> Bool {
        symbol.hasPrefix("$s") || symbol.hasPrefix("$S") || symbol.hasPrefix("$e") || symbol.hasPrefix("_$s")
            || symbol.hasPrefix("_T0") || symbol.hasPrefix("@__swiftmacro_")
    }

    /// The runtime demangler's full output for a Swift symbol, nil when it does not parse.
    static func demangleSwift(_ symbol: String) -> String? {
        symbol.withCString { mangled -> String? in
            guard let result = gr_swift_demangle(mangled, strlen(mangled), nil, nil, 0) else { return nil }
            defer { free(result) }
            return String(cString: result)
        }
    }

    private static func demangleCxx(_ symbol: String) -> String? {
        guard let cxxDemangle else { return nil }
        var status: Int32 = -1
        guard let result = cxxDemangle(symbol, nil, nil, &status) else { return nil }
        defer { free(result) }
        return status == 0 ? String(cString: result) : nil
    }

    // MARK: Shortening demangled names

    /// Shortens a full demangled Swift name to the readable convention.
    static func simplify(_ demangled: String) -> String {
        var text = Array(demangled.utf8)
        dropSpecializationPrefixes(&text)
        var output: [UInt8] = []
        output.reserveCapacity(text.count)
        simplify(text, from: 0, to: text.count, into: &output)
        return String(decoding: output, as: UTF8.self)
    }

    private static func dropSpecializationPrefixes(_ text: inout [UInt8]) {
        let bracketed = ["generic specialization <", "function signature specialization <",
                         "generic partial specialization <", "generic not re-abstracted specialization <"]
        var changed = true
        while changed {
            changed = false
            if text.starts(with: Literal.merged) {
                text.removeFirst(7)
                changed = true
            }
            // The demangler's specialization parameters are not always bracket-balanced (closure
            // propagation prints "[Closure Propagated : …, Argument Types : []>"), so look for "> of ".
            for prefix in bracketed where text.starts(with: Array(prefix.utf8)) {
                guard let close = find(Literal.closeOf, in: text, from: prefix.utf8.count, to: text.count,
                                       bracketAware: false) else { continue }
                text.removeFirst(close + Literal.closeOf.count)
                changed = true
            }
        }
    }

    private static func simplify(_ text: [UInt8], from start: Int, to end: Int, into output: inout [UInt8]) {
        var index = start
        while index < end {
            let byte = text[index]
            switch byte {
            case UInt8(ascii: "("):
                guard let close = matchingClose(text, index, end) else {
                    output.append(byte)
                    index += 1
                    continue
                }
                if let last = output.last, isNameByte(last) {
                    // A parameter list: keep only the labels, then drop effects and the return type.
                    output.append(UInt8(ascii: "("))
                    appendLabels(text, from: index + 1, to: close, into: &output)
                    output.append(UInt8(ascii: ")"))
                    index = skipEffectsAndReturnType(text, after: close + 1, end: end)
                } else if let name = privateDeclarationName(text, from: index + 1, to: close) {
                    // "(name in _0123ABCD)" is a fileprivate/private declaration's discriminator.
                    output.append(contentsOf: name)
                    index = close + 1
                } else if text[(index + 1)..<close].starts(with: Literal.extensionIn),
                          close + 1 < end, text[close + 1] == UInt8(ascii: ":") {
                    index = close + 2  // "(extension in Module):" says where an extension lives; not needed
                } else {
                    output.append(byte)
                    simplify(text, from: index + 1, to: close, into: &output)
                    output.append(UInt8(ascii: ")"))
                    index = close + 1
                }
            case UInt8(ascii: "<"):
                guard let close = matchingClose(text, index, end) else {
                    output.append(byte)
                    index += 1
                    continue
                }
                // Generic parameters stay, their requirements go.
                let whereClause = find(Literal.whereClause, in: text, from: index + 1, to: close)
                output.append(contentsOf: text[index..<(whereClause ?? close)])
                output.append(UInt8(ascii: ">"))
                index = close + 1
            case UInt8(ascii: "["):
                guard let close = matchingClose(text, index, end) else {
                    output.append(byte)
                    index += 1
                    continue
                }
                output.append(contentsOf: text[index...close])
                index = close + 1
            case UInt8(ascii: "#"):
                // "closure #1 <type> in …", "name #2 <type> in …": keep the number, drop the type.
                let hash = index
                var digitsEnd = index + 1
                while digitsEnd < end, text[digitsEnd] >= 0x30, text[digitsEnd] <= 0x39 { digitsEnd += 1 }
                output.append(contentsOf: text[index..<digitsEnd])
                index = digitsEnd
                if digitsEnd > hash + 1, digitsEnd < end, text[digitsEnd] == UInt8(ascii: " "),
                   !text[digitsEnd...].starts(with: Literal.inSeparator) {
                    index = endOfType(text, from: digitsEnd + 1, end: end)
                }
            case UInt8(ascii: " "):
                if text[index..<end].starts(with: Literal.unmangledSuffix)
                    || text[index..<end].starts(with: Literal.thunkSignature) {
                    index = end  // thunks: "… from @callee_guaranteed (…) -> … to …" is noise in a profile
                } else if text[index..<end].starts(with: Literal.typeAnnotation), typeAnnotationFollowsName(output) {
                    index = endOfType(text, from: index + 3, end: end)  // "x.getter : Swift.Int"
                } else {
                    output.append(byte)
                    index += 1
                }
            default:
                output.append(byte)
                index += 1
            }
        }
    }

    /// Writes `label:` (or `_:`) for each top-level comma-separated parameter in `text[start..<end]`.
    private static func appendLabels(_ text: [UInt8], from start: Int, to end: Int, into output: inout [UInt8]) {
        guard start < end else { return }
        var elementStart = start
        var index = start
        var depth = 0
        func emit(_ elementEnd: Int) {
            var cursor = elementStart
            while cursor < elementEnd, isNameByte(text[cursor]), text[cursor] != UInt8(ascii: ">") { cursor += 1 }
            if cursor > elementStart, cursor + 1 < elementEnd, text[cursor] == UInt8(ascii: ":"),
               text[cursor + 1] == UInt8(ascii: " ") {
                output.append(contentsOf: text[elementStart..<cursor])
            } else {
                output.append(UInt8(ascii: "_"))
            }
            output.append(UInt8(ascii: ":"))
        }
        while index < end {
            let byte = text[index]
            if byte == UInt8(ascii: "(") || byte == UInt8(ascii: "[") || byte == UInt8(ascii: "<") {
                depth += 1
            } else if byte == UInt8(ascii: ")") || byte == UInt8(ascii: "]")
                        || (byte == UInt8(ascii: ">") && !(index > start && text[index - 1] == UInt8(ascii: "-"))) {
                depth -= 1
            } else if depth == 0, byte == UInt8(ascii: ","), index + 1 < end, text[index + 1] == UInt8(ascii: " ") {
                emit(index)
                elementStart = index + 2
                index += 2
                continue
            }
            index += 1
        }
        emit(end)
    }

    /// After a parameter list: skips ` async`, ` throws`, ` throws(E)`, ` rethrows` and ` -> Result`.
    private static func skipEffectsAndReturnType(_ text: [UInt8], after start: Int, end: Int) -> Int {
        var index = start
        var progressed = true
        while progressed {
            progressed = false
            for bytes in Literal.effects {
                if text[index..<end].starts(with: bytes) {
                    let after = index + bytes.count
                    if after < end, text[after] == UInt8(ascii: "("), let close = matchingClose(text, after, end) {
                        index = close + 1  // typed throws
                    } else {
                        index = after
                    }
                    progressed = true
                }
            }
        }
        guard text[index..<end].starts(with: Literal.arrow) else { return start }
        return endOfType(text, from: index + Literal.arrow.count, end: end)
    }

    /// End of a type that starts at `start`: the next top-level " in " (the context of a closure or
    /// accessor), or the end of the text.
    private static func endOfType(_ text: [UInt8], from start: Int, end: Int) -> Int {
        var index = start
        var depth = 0
        while index < end {
            let byte = text[index]
            if byte == UInt8(ascii: "(") || byte == UInt8(ascii: "[") || byte == UInt8(ascii: "<") {
                depth += 1
            } else if byte == UInt8(ascii: ")") || byte == UInt8(ascii: "]")
                        || (byte == UInt8(ascii: ">") && !(index > start && text[index - 1] == UInt8(ascii: "-"))) {
                depth = max(0, depth - 1)
            } else if depth == 0, byte == UInt8(ascii: " "),
                      text[index..<end].starts(with: Literal.inSeparator) || text[index..<end].starts(with: Literal.unmangledSuffix) {
                return index
            }
            index += 1
        }
        return end
    }

    /// True when the output ends in a dotted name (`M.T.x.getter`) that is not a conformance subject,
    /// i.e. a following " : T" is just the declaration's type.
    private static func typeAnnotationFollowsName(_ output: [UInt8]) -> Bool {
        let wordStart = (output.lastIndex(of: UInt8(ascii: " ")).map { $0 + 1 }) ?? 0
        let word = output[wordStart...]
        guard word.contains(UInt8(ascii: ".")), word.first != UInt8(ascii: "[") else { return false }
        return !output[..<wordStart].reversed().starts(with: Literal.conformanceReversed)
    }

    private static func matchingClose(_ text: [UInt8], _ open: Int, _ end: Int) -> Int? {
        var stack: [UInt8] = []
        var index = open
        while index < end {
            let byte = text[index]
            switch byte {
            case UInt8(ascii: "("): stack.append(UInt8(ascii: ")"))
            case UInt8(ascii: "["): stack.append(UInt8(ascii: "]"))
            case UInt8(ascii: "<"): stack.append(UInt8(ascii: ">"))
            case UInt8(ascii: ")"), UInt8(ascii: "]"), UInt8(ascii: ">"):
                if byte == UInt8(ascii: ">"), index > 0, text[index - 1] == UInt8(ascii: "-") { break }
                guard stack.last == byte else { return nil }
                stack.removeLast()
                if stack.isEmpty { return index }
            default: break
            }
            index += 1
        }
        return nil
    }

    private static func find(_ needle: [UInt8], in text: [UInt8], from start: Int, to end: Int,
                             bracketAware: Bool = true) -> Int? {
        guard end - start >= needle.count else { return nil }
        var depth = 0
        for index in start...(end - needle.count) {
            let byte = text[index]
            if bracketAware {
                if byte == UInt8(ascii: "(") || byte == UInt8(ascii: "[") || byte == UInt8(ascii: "<") { depth += 1 }
                if byte == UInt8(ascii: ")") || byte == UInt8(ascii: "]") || byte == UInt8(ascii: ">") { depth -= 1 }
            }
            if depth == 0, text[index..<(index + needle.count)].elementsEqual(needle) { return index }
        }
        return nil
    }

    /// For "name in _0123ABCD" (the inside of a private declaration's parentheses), the name.
    private static func privateDeclarationName(_ text: [UInt8], from start: Int, to end: Int) -> ArraySlice<UInt8>? {
        guard let separator = find(Literal.privateDiscriminator, in: text, from: start, to: end, bracketAware: false),
              separator > start, !text[start..<separator].contains(UInt8(ascii: " ")) else { return nil }
        let discriminator = text[(separator + Literal.privateDiscriminator.count)..<end]
        guard !discriminator.isEmpty, discriminator.allSatisfy({ isNameByte($0) && $0 != UInt8(ascii: ">") }) else { return nil }
        return text[start..<separator]
    }

    /// Byte patterns the shortener looks for, built once.
    private enum Literal {
        static let merged = Array("merged ".utf8)
        static let closeOf = Array("> of ".utf8)
        static let thunkSignature = Array(" from @".utf8)
        static let privateDiscriminator = Array(" in _".utf8)
        static let extensionIn = Array("extension in ".utf8)
        static let whereClause = Array(" where ".utf8)
        static let inSeparator = Array(" in ".utf8)
        static let unmangledSuffix = Array(" with unmangled suffix ".utf8)
        static let typeAnnotation = Array(" : ".utf8)
        static let arrow = Array(" -> ".utf8)
        static let conformanceReversed = Array("conformance ".utf8.reversed())
        static let effects = [" async", " reasync", " rethrows", " throws", " sending"].map { Array($0.utf8) }
    }

    private static func isNameByte(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)
            || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "$") || byte == UInt8(ascii: ">")
            || byte == UInt8(ascii: "`") || byte >= 0x80
    }
}
