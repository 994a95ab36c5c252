import ZeroMQ

/// The requests a server holds before it can serve them, counted per sender, so that no sender can
/// make it hold without limit (``PeerLimits``).
///
/// A server holds a request that was routed by a newer node table than it has, one that is ahead
/// of its sender's order (the deduplicator's buffer), a push or pull of a `bsp` table waiting for an iteration not
/// applied yet, one from a sender its node table does not
/// list yet (a client whose first requests overtook the table that admits it), and any request
/// that comes before its first node table. Senders of the node table are counted one by one;
/// every other sender shares one pool, since a peer can make up any number of ids. A request that
/// does not fit is refused with ``ErrorCode/busy``, counted, and warned about at the 1st, 2nd,
/// 4th, 8th, … refusal.
struct HeldRequestBudget {
    /// Whose budget a held request counts in.
    enum Pool: Hashable {
        /// A sender of the node table.
        case sender(NodeID)
        /// Every sender the node table does not list, and every sender before the first table.
        case unknownSenders
    }

    /// The requests held in one pool and their payload bytes.
    struct Usage: Hashable {
        var requests = 0
        var bytes = 0
    }

    let limits: PeerLimits
    private(set) var usage: [Pool: Usage] = [:]
    /// Requests refused because their pool was full.
    private(set) var refused = 0

    init(limits: PeerLimits) {
        self.limits = limits
    }

    /// What `pool` holds now.
    func held(in pool: Pool) -> Usage { usage[pool] ?? Usage() }

    /// Counts a request of `bytes` payload bytes in `pool`, or returns why it cannot be held (a
    /// ``ErrorCode/busy`` error naming the limit) and counts the refusal.
    mutating func hold(_ pool: Pool, bytes: Int) -> WireError? {
        if let refusal = refusal(pool, bytes: bytes) { return refusal }
        commit(pool, bytes: bytes)
        return nil
    }

    /// Why `pool` cannot hold a request of `bytes` more (then counted as refused), or `nil`
    /// (nothing counted: ``commit(_:bytes:)`` does once it is held).
    mutating func refusal(_ pool: Pool, bytes: Int) -> WireError? {
        let current = usage[pool] ?? Usage()
        let (maxRequests, maxBytes) = limits(of: pool)
        guard current.requests < maxRequests, current.bytes + bytes <= maxBytes || current.requests == 0 else {
            refused += 1
            let whose: String
            switch pool {
            case .sender(let id): whose = "of sender \(id)"
            case .unknownSenders: whose = "of senders it does not know yet"
            }
            return WireError(
                .busy, field: "s",
                "the server holds \(current.requests) requests (\(current.bytes) bytes) \(whose), the limit is \(maxRequests) requests and \(maxBytes) bytes; send it again later")
        }
        return nil
    }

    /// Counts a request of `bytes` held in `pool`.
    mutating func commit(_ pool: Pool, bytes: Int) {
        let current = usage[pool] ?? Usage()
        usage[pool] = Usage(requests: current.requests + 1, bytes: current.bytes + bytes)
    }

    /// Forgets what is counted for `sender`, whose held requests were dropped with it (it left the
    /// node table).
    mutating func forget(sender: NodeID) {
        usage[.sender(sender)] = nil
    }

    /// Takes a request of `bytes` bytes that `pool` held off its count (served, refused or expired).
    mutating func release(_ pool: Pool, bytes: Int) {
        guard var current = usage[pool] else { return }
        current.requests -= 1
        current.bytes -= bytes
        usage[pool] = current.requests <= 0 ? nil : current
    }

    /// Whether the latest refusal is one to warn about (the 1st, 2nd, 4th, 8th, …).
    var refusalIsWorthAWarning: Bool { refused > 0 && refused & (refused - 1) == 0 }

    private func limits(of pool: Pool) -> (requests: Int, bytes: Int) {
        switch pool {
        case .sender: (limits.heldRequestsPerSender, limits.heldBytesPerSender)
        case .unknownSenders: (limits.unknownSenderRequests, limits.unknownSenderBytes)
        }
    }

    /// The payload bytes of a request's frames (the header frame is not counted: it is bounded by
    /// ``WireLimits/maxHeaderBytes``).
    static func payloadBytes(of frames: [Frame]) -> Int {
        frames.dropFirst().reduce(0) { $0 + $1.count }
    }
}
