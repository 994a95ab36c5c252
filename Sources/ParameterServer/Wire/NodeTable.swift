import ZeroMQ

/// The identity of a node in a cluster, assigned by the manager at registration. The manager is node 0.
public struct NodeID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The numeric id carried in header field `s`.
    public var rawValue: UInt32
    /// Wraps a numeric id.
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// Wraps a numeric id.
    public init(_ rawValue: UInt32) { self.rawValue = rawValue }
    /// The manager's id.
    public static let manager = NodeID(0)
    /// The id a node uses before the manager assigned it one.
    public static let unassigned = NodeID(UInt32.max)
    /// Orders ids numerically.
    public static func < (a: NodeID, b: NodeID) -> Bool { a.rawValue < b.rawValue }
    /// `node 3`, or `node ?` before registration.
    public var description: String { self == .unassigned ? "node ?" : "node \(rawValue)" }
}

/// The part a node plays in a cluster.
public enum NodeRole: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// Keeps membership and the assignment of key ranges.
    case manager = 0
    /// Owns key ranges and applies updates to them.
    case server = 1
    /// Runs the application: pushes gradients, pulls weights.
    case worker = 2
    /// A foreign program that only pushes and pulls (it takes no part in barriers or job completion).
    case client = 3

    /// The role's name.
    public var description: String {
        switch self {
        case .manager: return "manager"
        case .server: return "server"
        case .worker: return "worker"
        case .client: return "client"
        }
    }
}

/// One member of the cluster as the manager sees it.
public struct NodeInfo: Hashable, Sendable, CustomStringConvertible {
    /// The id the manager assigned.
    public var id: NodeID
    /// The node's role.
    public var role: NodeRole
    /// The node's rank among the nodes of its role (0-based), as named in the topology.
    public var rank: UInt32
    /// The ZeroMQ endpoint the node's ROUTER socket is bound to, e.g. `tcp://127.0.0.1:40123`.
    public var endpoint: String
    /// The key ranges the node owns (servers only), sorted and disjoint.
    public var ranges: [KeyRange]
    /// The ZeroMQ routing id the node's DEALERs connect with (`rid`), the same at every ROUTER:
    /// a server accepts the node's data requests only from the connection of that id. Only the
    /// servers' copies of the table carry it (docs/PROTOCOL.md, section 7.8).
    public var routingID: [UInt8]?
    /// Under CurveZMQ, the public key the node registered with (`pk`); servers' copies only.
    public var publicKey: CurveKey?

    /// Creates a node entry.
    public init(
        id: NodeID, role: NodeRole, rank: UInt32, endpoint: String, ranges: [KeyRange] = [], routingID: [UInt8]? = nil,
        publicKey: CurveKey? = nil
    ) {
        self.id = id
        self.role = role
        self.rank = rank
        self.endpoint = endpoint
        self.ranges = ranges
        self.routingID = routingID
        self.publicKey = publicKey
    }

    /// The entry without what binds the node to its connection: the copy workers and clients get.
    public var withoutConnection: NodeInfo {
        var copy = self
        copy.routingID = nil
        copy.publicKey = nil
        return copy
    }

    /// The name used in logs and errors, e.g. `server-1`.
    public var name: String { "\(role)-\(rank)" }

    /// The name, id and endpoint in one line.
    public var description: String { "\(name) (\(id), \(endpoint))" }
}

/// The manager's versioned view of the cluster. Every change bumps `version` and is broadcast.
public struct NodeTable: Hashable, Sendable {
    /// Increases by one with every change.
    public var version: UInt64
    /// The members, ordered by id.
    public var nodes: [NodeInfo]
    /// With replication: every range's chain, primary first (`chains`; empty without replication).
    /// A server's ``NodeInfo/ranges`` are the ranges whose chain it heads.
    public var chains: [ReplicaChain]
    /// For a change rather than a whole table (`base`): the version it applies to. ``nodes`` then
    /// holds only the members added or changed since `base`, and ``chains`` is unchanged.
    public var base: UInt64?

    /// Creates a node table, or with `base` the change from table `base` to this one.
    public init(version: UInt64, nodes: [NodeInfo], chains: [ReplicaChain] = [], base: UInt64? = nil) {
        self.version = version
        self.nodes = nodes
        self.chains = chains
        self.base = base
    }

    /// Applies `change` (a table whose ``base`` is this table's version): members are replaced or
    /// inserted by id. Returns false, changing nothing, when the change is based on another version.
    public mutating func apply(_ change: NodeTable) -> Bool {
        guard change.base == version, change.version > version else { return false }
        version = change.version
        for node in change.nodes {
            // Ids come from a counter, so an added member usually goes at the end.
            if let last = nodes.last, last.id < node.id {
                nodes.append(node)
            } else if let index = nodes.firstIndex(where: { $0.id >= node.id }) {
                if nodes[index].id == node.id { nodes[index] = node } else { nodes.insert(node, at: index) }
            } else {
                nodes.append(node)
            }
        }
        return true
    }

    /// The members with the given role, ordered by rank.
    public func nodes(withRole role: NodeRole) -> [NodeInfo] {
        nodes.filter { $0.role == role }.sorted { $0.rank < $1.rank }
    }

    /// The member with the given id.
    public func node(_ id: NodeID) -> NodeInfo? { nodes.first { $0.id == id } }
}

/// The servers that hold one key range, in chain order: the primary (head) applies pushes and
/// forwards their result down the chain; the last one (tail) acknowledges back up
/// (docs/FAULT-TOLERANCE.md). On the wire, `[lower, upper, primary, replica, …]`.
public struct ReplicaChain: Hashable, Sendable, CustomStringConvertible {
    /// The keys the chain holds.
    public var range: KeyRange
    /// The servers, primary first.
    public var nodes: [NodeID]
    /// How many servers at the end of the chain are still receiving their copy of the range
    /// (`catchup`): they hold part of it, are never promoted, and do not count as copies; the
    /// others hold the whole range.
    public var catchingUp: Int

    /// Creates a chain whose last `catchingUp` servers are still receiving their copy.
    public init(range: KeyRange, nodes: [NodeID], catchingUp: Int = 0) {
        self.range = range
        self.nodes = nodes
        self.catchingUp = catchingUp
    }

    /// Whether `node` is one of the servers still receiving their copy.
    public func isCatchingUp(_ node: NodeID) -> Bool {
        guard let index = nodes.firstIndex(of: node) else { return false }
        return index >= nodes.count - catchingUp
    }

    /// The server after `node` in the chain, or `nil` for the tail (or a node not in it).
    public func successor(of node: NodeID) -> NodeID? {
        guard let index = nodes.firstIndex(of: node), index + 1 < nodes.count else { return nil }
        return nodes[index + 1]
    }

    /// The server before `node` in the chain, or `nil` for the primary (or a node not in it).
    public func predecessor(of node: NodeID) -> NodeID? {
        guard let index = nodes.firstIndex(of: node), index > 0 else { return nil }
        return nodes[index - 1]
    }

    /// `[0, 500) on node 1 → node 2`, with ` (1 catching up)` when some are.
    public var description: String {
        "\(range) on " + nodes.map(\.description).joined(separator: " → ") + (catchingUp > 0 ? " (\(catchingUp) catching up)" : "")
    }
}
