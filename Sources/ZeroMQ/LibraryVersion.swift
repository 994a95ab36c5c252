import CZeroMQ

/// The version of the libzmq library loaded at run time.
public struct LibraryVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The major version (4 for libzmq 4.3.4).
    public var major: Int
    /// The minor version.
    public var minor: Int
    /// The patch version.
    public var patch: Int

    /// Creates a version from its three parts.
    public init(major: Int, minor: Int, patch: Int) {
        self.major = major
        self.minor = minor
        self.patch = patch
    }

    /// Orders versions by major, then minor, then patch.
    public static func < (lhs: LibraryVersion, rhs: LibraryVersion) -> Bool {
        (lhs.major, lhs.minor, lhs.patch) < (rhs.major, rhs.minor, rhs.patch)
    }

    /// `major.minor.patch`.
    public var description: String { "\(major).\(minor).\(patch)" }
}

/// The version of the libzmq library this process runs against (read as `ZeroMQ.version`).
public var version: LibraryVersion {
    var major: Int32 = 0
    var minor: Int32 = 0
    var patch: Int32 = 0
    zmq_version(&major, &minor, &patch)
    return LibraryVersion(major: Int(major), minor: Int(minor), patch: Int(patch))
}
