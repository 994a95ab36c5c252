/// A request made under an older node table than the one in force: its keys may now belong to other
/// servers. The sender must fetch the table of ``currentVersion`` (the manager broadcasts every
/// change; a node that missed one asks for it), re-slice the request by the new ranges and resend it.
public struct StaleTableError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The table version the request was made under.
    public var requestVersion: UInt64
    /// The version in force where the request arrived.
    public var currentVersion: UInt64

    /// Creates the error.
    public init(requestVersion: UInt64, currentVersion: UInt64) {
        self.requestVersion = requestVersion
        self.currentVersion = currentVersion
    }

    public var description: String {
        "request made under node table version \(requestVersion), but version \(currentVersion) is in force: "
            + "fetch the current table, re-slice the request and resend it"
    }
}

/// What a node that holds table version `current` does with a request made under `request`.
public enum TableVersionVerdict: Hashable, Sendable {
    /// Both use the same table: serve the request.
    case current
    /// The request knows a newer table than this node: hold the request until the node has that table.
    case newerThanLocal

    /// Compares a request's table version with the one in force; throws ``StaleTableError`` carrying
    /// the version in force when the request's is older.
    public static func check(requestVersion: UInt64, currentVersion: UInt64) throws(StaleTableError) -> TableVersionVerdict {
        if requestVersion < currentVersion {
            throw StaleTableError(requestVersion: requestVersion, currentVersion: currentVersion)
        }
        return requestVersion == currentVersion ? .current : .newerThanLocal
    }
}
