/// What a message asks for or answers. Encoded as an unsigned integer in the header field `k`.
public enum MessageKind: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    // Membership and control (node <-> manager).
    /// A node announces itself to the manager: role, rank and the endpoint its ROUTER is bound to.
    case register = 1
    /// The manager's versioned node table: members, endpoints and the key ranges each server owns.
    case nodeTable = 2
    /// A node tells the manager it is alive.
    case heartbeat = 3
    /// A worker waits at a named barrier; the manager answers once every worker has arrived.
    case barrier = 4
    /// The manager releases a barrier.
    case barrierRelease = 5
    /// A worker reports that its application finished, with a one-line summary.
    case workerDone = 6
    /// The manager tells a node to stop; the node answers ``shutdownAck`` and exits.
    case shutdown = 7
    /// A node confirms it is about to exit.
    case shutdownAck = 8
    /// A server asked to stop (SIGTERM) asks the manager to take it out of the job: the manager
    /// moves its ranges to their replicas and answers ``shutdown``, or refuses with an ``error``.
    case leave = 9

    // Data (worker <-> server).
    /// Apply values to keys with the table's (or the named) updater. Payload: keys, values.
    case push = 16
    /// The server applied a push.
    case pushAck = 17
    /// Read the values of keys. Payload: keys.
    case pull = 18
    /// The values a pull asked for, in key order. Payload: values.
    case pullReply = 19
    /// Run a registered range function (name in `u`, arguments in `a`) on every stored key of the
    /// range `r` of table `t`. Header only.
    case rangeFunction = 20
    /// The server ran a range function; `n` is the number of keys it touched.
    case rangeFunctionAck = 21

    // Replication (server -> server, docs/FAULT-TOLERANCE.md).
    /// A primary (or a middle link of a replica chain) forwards what a push made of its keys: the
    /// stored values and updater state of every key it touched, under `org`, the identity of the
    /// push. Payload: keys, then per key `vl` floats (the values, then the updater state).
    case replicate = 22
    /// The next link of the chain holds a ``replicate`` (and so does every link after it).
    case replicateAck = 23
    /// A server tells the manager that every server after it in the chain of range `r` holds a
    /// full copy of it, made under node table version `tv`: the range has its replicas again.
    case replicaReady = 24

    /// A request could not be served; the header carries an ``ErrorCode`` and a message.
    case error = 31

    /// The payload frames that follow the header for this kind.
    public var payload: PayloadShape {
        switch self {
        case .push, .replicate: return .keysAndValues
        case .pull: return .keys
        case .pullReply: return .values
        default: return .none
        }
    }

    /// Whether a message of this kind answers an earlier request (and so carries its request id).
    public var isReply: Bool {
        switch self {
        case .pushAck, .pullReply, .rangeFunctionAck, .replicateAck, .error, .barrierRelease, .shutdownAck, .nodeTable: return true
        default: return false
        }
    }

    /// The kind's name as used in logs and docs/PROTOCOL.md.
    public var description: String {
        switch self {
        case .register: return "register"
        case .nodeTable: return "nodeTable"
        case .heartbeat: return "heartbeat"
        case .barrier: return "barrier"
        case .barrierRelease: return "barrierRelease"
        case .workerDone: return "workerDone"
        case .shutdown: return "shutdown"
        case .shutdownAck: return "shutdownAck"
        case .leave: return "leave"
        case .push: return "push"
        case .pushAck: return "pushAck"
        case .pull: return "pull"
        case .pullReply: return "pullReply"
        case .rangeFunction: return "rangeFunction"
        case .rangeFunctionAck: return "rangeFunctionAck"
        case .replicate: return "replicate"
        case .replicateAck: return "replicateAck"
        case .replicaReady: return "replicaReady"
        case .error: return "error"
        }
    }
}

/// Which binary frames follow the header.
public enum PayloadShape: Sendable, Equatable {
    /// Header only.
    case none
    /// A keys frame.
    case keys
    /// A values frame.
    case values
    /// A keys frame, then a values frame (then a lengths frame with ``MessageFlags/hasLengths``).
    case keysAndValues
}
