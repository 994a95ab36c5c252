/// A membership change the manager refuses.
public struct MembershipError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Why a change was refused. A struct so that new codes do not break callers.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        /// The numeric code.
        public var rawValue: UInt16
        /// Wraps a numeric code.
        public init(rawValue: UInt16) { self.rawValue = rawValue }

        /// The node is not a member (it never joined, or it already left or died).
        public static let unknownNode = Code(rawValue: 1)
        /// The manager (node 0) cannot join or leave.
        public static let managerChange = Code(rawValue: 2)

        public var description: String {
            switch self {
            case .unknownNode: return "unknownNode"
            case .managerChange: return "managerChange"
            default: return "membershipError\(rawValue)"
            }
        }
    }

    /// What went wrong.
    public var code: Code
    /// The node the change was about.
    public var node: NodeID
    /// A human-readable explanation.
    public var detail: String

    /// Creates a membership error.
    public init(_ code: Code, node: NodeID, _ detail: String) {
        self.code = code
        self.node = node
        self.detail = detail
    }

    public var description: String { "\(code) for \(node): \(detail)" }
}
