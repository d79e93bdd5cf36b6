// One way to write any profile: as the gzipped proto that pprof tools fetch, as raw proto, or as the
// legacy text (`debug=1`). Output goes to a byte buffer, or straight to a file descriptor / FileHandle for
// programs that save profiles to files, as Go's runtime/pprof lets them.
import Foundation
import Glibc

/// How a profile is written.
public enum ProfileFormat: Sendable, Hashable {
    /// profile.proto, gzip-compressed at BestSpeed: what `/debug/pprof/<name>` serves.
    case gzippedProto
    /// profile.proto without compression (pprof accepts it too).
    case proto
    /// The human-readable `debug=1` form.
    case legacyText
}

/// Why a profile could not be written in the asked format.
public enum ProfileRenderingError: Error, Equatable, CustomStringConvertible {
    case noLegacyText(profile: String)
    case writeFailed(errno: Int32, bytesWritten: Int)

    /// What went wrong and what to use instead.
    public var description: String {
        switch self {
        case .noLegacyText(let profile):
            return "profile \(profile) has no legacy text form; render it as .gzippedProto or .proto"
        case .writeFailed(let code, let written):
            return "writing the profile failed after \(written) bytes: \(String(cString: strerror(code)))"
        }
    }
}

/// A profile that can be written out in every `ProfileFormat` it supports.
public protocol RenderableProfile: Sendable {
    /// The pprof form, symbolized.
    func pprofProfile() throws -> Profile
    /// The `debug=1` text; throws `ProfileRenderingError.noLegacyText` when the profile has none.
    func legacyText() throws -> String
}

extension RenderableProfile {
    /// The profile in `format`, as bytes.
    public func render(_ format: ProfileFormat) throws -> [UInt8] {
        var bytes: [UInt8] = []
        try render(format, appendingTo: &bytes)
        return bytes
    }

    /// Appends the profile in `format` to `buffer`.
    public func render(_ format: ProfileFormat, appendingTo buffer: inout [UInt8]) throws {
        switch format {
        case .gzippedProto: buffer += try pprofProfile().gzippedProto()
        case .proto: buffer += try pprofProfile().encodedProto()
        case .legacyText: buffer += Array(try legacyText().utf8)
        }
    }

    /// Writes the whole rendering to `fileDescriptor`, retrying short writes and interruptions.
    public func write(_ format: ProfileFormat, toFileDescriptor fileDescriptor: Int32) throws {
        try writeAll(try render(format), to: fileDescriptor)
    }

    /// Writes the profile in `format` to `handle`.
    public func write(_ format: ProfileFormat, to handle: FileHandle) throws {
        try write(format, toFileDescriptor: handle.fileDescriptor)
    }
}

/// A finished `Profile` renders as proto; it has no text form of its own.
extension Profile: RenderableProfile {
    /// A `Profile` is its own pprof form.
    public func pprofProfile() throws -> Profile { self }

    /// A plain `Profile` has no Go text form: throws.
    public func legacyText() throws -> String {
        throw ProfileRenderingError.noLegacyText(profile: sampleTypes.map { "\($0.type)/\($0.unit)" }.joined(separator: ","))
    }
}

func writeAll(_ bytes: [UInt8], to fileDescriptor: Int32) throws {
    var written = 0
    try bytes.withUnsafeBytes { raw in
        while written < raw.count {
            let result = Glibc.write(fileDescriptor, raw.baseAddress! + written, raw.count - written)
            if result < 0 {
                if errno == EINTR { continue }
                throw ProfileRenderingError.writeFailed(errno: errno, bytesWritten: written)
            }
            written += result
        }
    }
}
