/// The last step of naming a Swift frame: the shortened demangler output (`SwiftNameFormatter.simplify`)
/// becomes one whitespace-free word in the shape Go's tools and people expect, `Module.Type.method(label:)`.
/// Parsers of Go tracebacks split `NAME(ARGS)` at the last `(` and treat a space as the end of a name, so
/// every name this produces is a single token.
///
/// The scheme (README "Frame names"):
/// - declarations: `Module.Type.method(label:_:)`, argument labels kept (overloads stay distinct); accessors
///   `Module.Type.property.getter`; initializers `Module.Type.init(label:)`; no `static `.
/// - generic parameters as the declaration spells them, without spaces or requirements:
///   `Swift.Collection.map<A,B>(_:)`; specialized copies carry the generic function's name.
/// - closures and other nested code as a suffix of the enclosing declaration, numbered from 1 in source
///   order as Swift numbers them (Go's `.func1`): `Module.Type.run(_:).closure1`, nested
///   `Module.main().closure2.closure1`, `….implicitclosure1`, `….defer1`, a local function `….helper`
///   (`….helper_2` for the second local function of that name).
/// - compiler thunks are named after what they forward to (`partial apply for X`, `@objc X`, `dispatch
///   thunk of X` are all `X`); a protocol witness is named after the method that implements it:
///   `protocol witness for P.area() in conformance M.Square : P` is `M.Square.area()`.
/// - other compiler-made helpers: `<Type>.<what>` in lower camel case, e.g. `Swift.Array<Swift.Int>.outlinedDestroy`,
///   `M.Box.typeMetadataAccessor`; `variable initialization expression of X` is `X.init`.
/// - anything still holding spaces has them removed next to punctuation and replaced by `_` elsewhere.
enum GoStyleName {
    static func rewrite(_ name: String) -> String {
        let text = Array(name.utf8)
        var output: [UInt8] = []
        output.reserveCapacity(text.count)
        rewrite(text[...], into: &output)
        return String(decoding: squeezeSpaces(output), as: UTF8.self)
    }

    /// Prefixes of thunks that forward to the declaration named after them.
    private static let forwardingPrefixes = [
        "partial apply forwarder for ", "partial apply for ", "@objc ", "dispatch thunk of ", "merged ",
        "static ", "@nonobjc ", "method descriptor for ",
    ].map { Array($0.utf8) }

    /// `<phrase> of|for <type>` helpers, named `<type>.<phrase in lower camel case>`.
    private static let helperPhrases = [
        "outlined copy of ", "outlined consume of ", "outlined destroy of ", "outlined retain of ",
        "outlined release of ", "outlined init with take of ", "outlined init with copy of ",
        "outlined assign with take of ", "outlined assign with copy of ", "outlined bridged method of ",
        "type metadata accessor for ", "type metadata instantiation function for ",
        "type metadata completion function for ", "one-time initialization function for ",
        "one-time initialization token for ", "key path getter for ", "key path setter for ",
        "key path equality operator for ", "key path hash function for ", "default argument ",
        "lazy protocol witness table accessor for type ", "associated type descriptor for ",
        "value witness for ", "coroutine continuation prototype for ", "reflection metadata field descriptor ",
    ].map { Array($0.utf8) }

    private static func rewrite(_ text: ArraySlice<UInt8>, into output: inout [UInt8]) {
        var text = text
        var stripped = true
        while stripped {
            stripped = false
            for prefix in forwardingPrefixes where text.starts(with: prefix) {
                text = text.dropFirst(prefix.count)
                stripped = true
            }
        }
        if text.starts(with: Literal.witness) {
            rewriteWitness(text.dropFirst(Literal.witness.count), into: &output)
            return
        }
        if text.starts(with: Literal.variableInitialization) {
            rewrite(text.dropFirst(Literal.variableInitialization.count), into: &output)
            output.append(contentsOf: Literal.dotInit)
            return
        }
        if text.starts(with: Literal.reabstractionThunk) || text.starts(with: Literal.thunkFor) {
            output.append(contentsOf: Literal.thunkName)
            return
        }
        for phrase in helperPhrases where text.starts(with: phrase) {
            var subject = text.dropFirst(phrase.count)
            if let and = find(Literal.andConformance, in: subject) { subject = subject[..<and] }
            rewrite(subject, into: &output)
            output.append(UInt8(ascii: "."))
            appendLowerCamelCase(phrase.dropLast(phrase.last == UInt8(ascii: " ") ? 1 : 0), into: &output)
            return
        }
        // "<kind> #<n> in <context>": nested code named as a suffix of its context.
        if let separator = find(Literal.inSeparator, in: text),
           let suffix = nestedSuffix(text[text.startIndex..<separator]) {
            rewrite(text[(separator + Literal.inSeparator.count)...], into: &output)
            output.append(UInt8(ascii: "."))
            output.append(contentsOf: suffix)
            return
        }
        // "M.T.x.modify with unmangled suffix ..." and similar were trimmed by the shortener already.
        output.append(contentsOf: text)
    }

    /// For `closure #2`, `implicit closure #1`, `$defer #1`, `helper #1`: the suffix that names it.
    private static func nestedSuffix(_ head: ArraySlice<UInt8>) -> [UInt8]? {
        guard let hash = head.lastIndex(of: UInt8(ascii: "#")), hash > head.startIndex,
              head[hash - 1] == UInt8(ascii: " ") else { return nil }
        let digits = head[(hash + 1)...]
        guard !digits.isEmpty, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        let kind = head[head.startIndex..<(hash - 1)]
        if kind.elementsEqual(Literal.closure) { return Literal.closure + digits }
        if kind.elementsEqual(Literal.implicitClosure) { return Literal.implicitClosureName + digits }
        if kind.elementsEqual(Literal.deferKind) { return Literal.deferName + digits }
        // A local function: its own name, numbered only when a second one shares it.
        guard !kind.isEmpty, !kind.contains(UInt8(ascii: " ")) else { return nil }
        return digits.elementsEqual([UInt8(ascii: "1")]) ? Array(kind) : Array(kind) + [UInt8(ascii: "_")] + digits
    }

    /// `P.method(labels) in conformance T : P in M` → `T.method(labels)`.
    private static func rewriteWitness(_ text: ArraySlice<UInt8>, into output: inout [UInt8]) {
        guard let conformance = find(Literal.inConformance, in: text) else {
            rewrite(text, into: &output)
            return
        }
        var requirement = text[text.startIndex..<conformance]
        while requirement.starts(with: Literal.staticPrefix) { requirement = requirement.dropFirst(Literal.staticPrefix.count) }
        var conformingType = text[(conformance + Literal.inConformance.count)...]
        if let colon = find(Literal.colonSeparator, in: conformingType) {
            conformingType = conformingType[conformingType.startIndex..<colon]
        }
        // The member is the last component before the parameter list, or the last two for accessors
        // (`count.getter`).
        let declarationEnd = firstTopLevel(UInt8(ascii: "("), in: requirement) ?? requirement.endIndex
        let head = requirement[requirement.startIndex..<declarationEnd]
        var memberStart = head.lastIndex(of: UInt8(ascii: ".")).map { $0 + 1 } ?? head.startIndex
        if declarationEnd == requirement.endIndex, memberStart > head.startIndex,
           let previousDot = head[head.startIndex..<(memberStart - 1)].lastIndex(of: UInt8(ascii: ".")) {
            memberStart = previousDot + 1
        }
        rewrite(conformingType, into: &output)
        output.append(UInt8(ascii: "."))
        output.append(contentsOf: requirement[memberStart...])
    }

    /// `outlined destroy of` → `outlinedDestroyOf` without the trailing preposition: `outlinedDestroy`.
    private static func appendLowerCamelCase(_ phrase: ArraySlice<UInt8>, into output: inout [UInt8]) {
        var words = phrase.split(separator: UInt8(ascii: " "))
        while let last = words.last, ["of", "for", "type"].contains(String(decoding: last, as: UTF8.self)) {
            words.removeLast()
        }
        for (index, word) in words.enumerated() {
            for (offset, byte) in word.enumerated() where byte != UInt8(ascii: "-") {
                let capitalize = offset == 0 && index > 0 || (offset > 0 && word[word.startIndex + offset - 1] == UInt8(ascii: "-"))
                output.append(capitalize && byte >= 0x61 && byte <= 0x7a ? byte - 0x20 : byte)
            }
        }
    }

    /// Removes spaces next to punctuation (`<A, B>` → `<A,B>`, `[K : V]` → `[K:V]`, `.< infix` → `.<infix`)
    /// and turns any other space into `_`.
    private static func squeezeSpaces(_ text: [UInt8]) -> [UInt8] {
        guard text.contains(UInt8(ascii: " ")) else { return text }
        var output: [UInt8] = []
        output.reserveCapacity(text.count)
        for (index, byte) in text.enumerated() {
            guard byte == UInt8(ascii: " ") else {
                output.append(byte)
                continue
            }
            let previous = output.last ?? UInt8(ascii: " ")
            let next = index + 1 < text.count ? text[index + 1] : UInt8(ascii: " ")
            if isWordByte(previous) && isWordByte(next) { output.append(UInt8(ascii: "_")) }
        }
        return output
    }

    private static func isWordByte(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)
            || byte == UInt8(ascii: "_") || byte >= 0x80
    }

    /// First top-level (outside brackets) occurrence of `needle`.
    private static func find(_ needle: [UInt8], in text: ArraySlice<UInt8>) -> Int? {
        guard text.count >= needle.count else { return nil }
        var depth = 0
        var index = text.startIndex
        while index <= text.endIndex - needle.count {
            let byte = text[index]
            if byte == UInt8(ascii: "(") || byte == UInt8(ascii: "[") || byte == UInt8(ascii: "<") { depth += 1 }
            if byte == UInt8(ascii: ")") || byte == UInt8(ascii: "]") || byte == UInt8(ascii: ">") { depth = max(0, depth - 1) }
            if depth == 0, text[index..<(index + needle.count)].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }

    private static func firstTopLevel(_ byte: UInt8, in text: ArraySlice<UInt8>) -> Int? {
        var depth = 0
        for index in text.indices {
            let current = text[index]
            if current == byte, depth == 0 { return index }
            if current == UInt8(ascii: "[") || current == UInt8(ascii: "<") { depth += 1 }
            if current == UInt8(ascii: "]") || current == UInt8(ascii: ">") { depth = max(0, depth - 1) }
        }
        return nil
    }

    private enum Literal {
        static let witness = Array("protocol witness for ".utf8)
        static let inConformance = Array(" in conformance ".utf8)
        static let colonSeparator = Array(" : ".utf8)
        static let staticPrefix = Array("static ".utf8)
        static let variableInitialization = Array("variable initialization expression of ".utf8)
        static let dotInit = Array(".init".utf8)
        static let reabstractionThunk = Array("reabstraction thunk".utf8)
        static let thunkFor = Array("thunk for ".utf8)
        static let thunkName = Array("thunk".utf8)
        static let andConformance = Array(" and conformance ".utf8)
        static let inSeparator = Array(" in ".utf8)
        static let closure = Array("closure".utf8)
        static let implicitClosure = Array("implicit closure".utf8)
        static let implicitClosureName = Array("implicitclosure".utf8)
        static let deferKind = Array("$defer".utf8)
        static let deferName = Array("defer".utf8)
    }
}
