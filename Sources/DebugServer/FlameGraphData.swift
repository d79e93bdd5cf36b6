// The data behind `/debug/flamegraph`: a decoded profile folded into a call tree (root = outermost
// caller, inlined frames expanded innermost last), children merged by function name, one value per
// sample type. Serialized as compact JSON the page's script reads.
import Profiling

struct FlameGraphTree {
    struct Node {
        var name: String
        var location: String  // file:line of the first call site seen
        var values: [Int64]
        var children: [String: Int] = [:]  // name -> index into nodes
        var childOrder: [Int] = []
    }

    let sampleTypes: [ValueType]
    let defaultIndex: Int
    private(set) var nodes: [Node]

    init(profile: Profile) {
        sampleTypes = profile.sampleTypes
        let defaultName = profile.defaultSampleType
        defaultIndex = profile.sampleTypes.lastIndex { $0.type == defaultName } ?? max(0, profile.sampleTypes.count - 1)
        nodes = [Node(name: "root", location: "", values: Array(repeating: 0, count: profile.sampleTypes.count))]
        let functions = Dictionary(profile.functions.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        let locations = Dictionary(profile.locations.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        for sample in profile.samples {
            var path: [(String, String)] = []
            for locationID in sample.locationIDs.reversed() {
                guard let location = locations[locationID] else { continue }
                if location.lines.isEmpty {
                    path.append(("0x" + String(location.address, radix: 16), ""))
                }
                for line in location.lines.reversed() {
                    let function = functions[line.functionID]
                    let file = function?.filename ?? ""
                    path.append((function?.name ?? "?", file.isEmpty ? "" : "\(file):\(line.line)"))
                }
            }
            add(path: path, values: sample.values)
        }
    }

    private mutating func add(path: [(String, String)], values: [Int64]) {
        var current = 0
        accumulate(0, values)
        for (name, location) in path {
            if let child = nodes[current].children[name] {
                current = child
            } else {
                nodes.append(Node(name: name, location: location, values: Array(repeating: 0, count: values.count)))
                let index = nodes.count - 1
                nodes[current].children[name] = index
                nodes[current].childOrder.append(index)
                current = index
            }
            accumulate(current, values)
        }
    }

    private mutating func accumulate(_ index: Int, _ values: [Int64]) {
        for column in values.indices where column < nodes[index].values.count {
            nodes[index].values[column] += values[column]
        }
    }

    /// `{"types":[["alloc_space","bytes"],…],"default":1,"root":[name,location,[values],[children]]}`
    func json() -> String {
        var out = "{\"types\":["
        out += sampleTypes.map { "[\(jsonString($0.type)),\(jsonString($0.unit))]" }.joined(separator: ",")
        out += "],\"default\":\(defaultIndex),\"root\":"
        appendNode(0, to: &out)
        out += "}"
        return out
    }

    private func appendNode(_ index: Int, to out: inout String) {
        let node = nodes[index]
        out += "[" + jsonString(node.name) + "," + jsonString(node.location) + ",["
        out += node.values.map(String.init).joined(separator: ",") + "],["
        // Biggest first under the default type, so the widest frames line up on the left.
        let ordered = node.childOrder.sorted { nodes[$0].values[safe: defaultIndex] > nodes[$1].values[safe: defaultIndex] }
        for (position, child) in ordered.enumerated() {
            if position > 0 { out += "," }
            appendNode(child, to: &out)
        }
        out += "]]"
    }
}

/// A JSON string literal that is also safe inside an HTML `<script>` element (`<`, `>`, `&` escaped).
func jsonString(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "<": out += "\\u003c"
        case ">": out += "\\u003e"
        case "&": out += "\\u0026"
        default:
            if scalar.value < 0x20 || scalar.value == 0x2028 || scalar.value == 0x2029 {
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}

private extension Array where Element == Int64 {
    subscript(safe index: Int) -> Int64 { indices.contains(index) ? self[index] : 0 }
}
