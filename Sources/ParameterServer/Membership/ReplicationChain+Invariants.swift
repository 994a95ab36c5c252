extension ReplicationChain {
    /// A broken chain-replication invariant, found by ``ReplicationChain/violations()``.
    public struct Violation: Hashable, Sendable, CustomStringConvertible {
        /// Which rule broke. A struct so that new rules do not break callers.
        public struct Rule: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
            /// The rule's number.
            public var rawValue: UInt16
            /// Wraps a rule number.
            public init(rawValue: UInt16) { self.rawValue = rawValue }

            /// Update Propagation: a replica's history is a prefix of its predecessor's.
            public static let updatePropagation = Rule(rawValue: 1)
            /// Inprocess Requests: a predecessor's history is its successor's followed by exactly the
            /// updates in flight between them.
            public static let inprocessRequests = Rule(rawValue: 2)
            /// A ``Replica/sent`` list is the end of the replica's history and holds every update of
            /// it the tail may lack; the tail's is empty.
            public static let sentList = Rule(rawValue: 3)
            /// An update acknowledged to workers is on every replica, except on new tails still
            /// catching up (it flows down to them by Inprocess Requests).
            public static let acknowledgedEverywhere = Rule(rawValue: 4)

            public var description: String {
                switch self {
                case .updatePropagation: return "updatePropagation"
                case .inprocessRequests: return "inprocessRequests"
                case .sentList: return "sentList"
                case .acknowledgedEverywhere: return "acknowledgedEverywhere"
                default: return "rule\(rawValue)"
                }
            }
        }

        /// The rule that broke.
        public var rule: Rule
        /// The replica where it broke.
        public var node: NodeID
        /// What was found.
        public var detail: String

        public var description: String { "\(rule) at \(node): \(detail)" }
    }

    /// The forwards on their way from `from` to `to`, oldest first.
    public func forwardsInFlight(from: NodeID, to: NodeID) -> [UInt64] {
        (inFlight[Link(from: from, to: to)] ?? []).compactMap {
            if case .forward(let sequence) = $0 { sequence } else { nil }
        }
    }

    /// Every broken invariant of the chain as it stands; empty for a correct chain at any point
    /// between events. A pure function of the state, so tests call it after every event.
    public func violations() -> [Violation] {
        var found: [Violation] = []
        guard let tail = replicas.last else { return found }
        for index in replicas.indices.dropFirst() {
            let predecessor = replicas[index - 1]
            let replica = replicas[index]
            if !predecessor.history.starts(with: replica.history) {
                found.append(
                    Violation(
                        rule: .updatePropagation, node: replica.node,
                        detail: "history \(replica.history) is not a prefix of \(predecessor.node)'s \(predecessor.history)"))
            }
            let inFlight = forwardsInFlight(from: predecessor.node, to: replica.node)
            if predecessor.history != replica.history + inFlight {
                found.append(
                    Violation(
                        rule: .inprocessRequests, node: replica.node,
                        detail: "\(predecessor.node) has \(predecessor.history), but \(replica.node) has \(replica.history) "
                            + "with \(inFlight) in flight"))
            }
        }
        for replica in replicas {
            let isSuffix = replica.sent.count <= replica.history.count && replica.history.suffix(replica.sent.count).elementsEqual(replica.sent)
            let coversTail = replica.history.count - replica.sent.count <= tail.history.count
            if !isSuffix || !coversTail || (replica.node == tail.node && !replica.sent.isEmpty) {
                found.append(
                    Violation(
                        rule: .sentList, node: replica.node,
                        detail: "sent \(replica.sent) with history \(replica.history); the tail has \(tail.history.count) updates"))
            }
        }
        for replica in replicas where !replica.isCatchingUp && UInt64(replica.history.count) < completedThrough {
            found.append(
                Violation(
                    rule: .acknowledgedEverywhere, node: replica.node,
                    detail: "update \(completedThrough) was acknowledged, but the replica has \(replica.history)"))
        }
        return found
    }
}
