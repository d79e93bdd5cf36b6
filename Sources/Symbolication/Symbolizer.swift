#if canImport(Glibc)
import Glibc
#endif

// Interim symbolizer (dladdr + swift_demangle): names only, no lines. Replaced by the full ELF/DWARF one.
@_silgen_name("swift_demangle")
private func _swiftDemangle(_ mangled: UnsafePointer<CChar>?, _ length: Int, _ out: UnsafeMutablePointer<CChar>?,
                            _ outLength: UnsafeMutablePointer<Int>?, _ flags: UInt32) -> UnsafeMutablePointer<CChar>?

private struct DlInfo {
    var fname: UnsafePointer<CChar>? = nil
    var fbase: UnsafeRawPointer? = nil
    var sname: UnsafePointer<CChar>? = nil
    var saddr: UnsafeRawPointer? = nil
}

@_silgen_name("dladdr")
private func _dladdr(_ addr: UnsafeRawPointer?, _ info: UnsafeMutablePointer<DlInfo>) -> Int32

public final class Symbolizer: Sendable {
    public static let shared = Symbolizer()

    public func frames(at pc: UInt) -> [SymbolicatedFrame] {
        var info = DlInfo()
        guard _dladdr(UnsafeRawPointer(bitPattern: pc), &info) != 0, let sname = info.sname else {
            return [SymbolicatedFrame(function: "?", systemName: "?")]
        }
        let raw = String(cString: sname)
        var name = raw
        if let d = _swiftDemangle(sname, strlen(sname), nil, nil, 0) {
            name = String(cString: d)
            free(d)
        }
        return [SymbolicatedFrame(function: name, systemName: raw, entry: UInt(bitPattern: info.saddr))]
    }

    public func frames(at pcs: [UInt]) -> [[SymbolicatedFrame]] { pcs.map { frames(at: $0) } }
    public func mappings() -> [ImageMapping] { [] }
    public func mappingIndex(containing pc: UInt) -> Int? { nil }
    public func refresh() {}
}
