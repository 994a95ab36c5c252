/// How much a node holds for one peer, so that a peer that sends without end or never reads its
/// replies costs a bounded amount of memory (docs/PROTOCOL.md section "Limits per peer").
///
/// The transport part bounds the queues of the node's ROUTER: ZeroMQ high-water marks count
/// messages, so a byte budget of replies queued per peer comes on top. The server part bounds the
/// requests a server holds before it can serve them (waiting for a node table, for the sender's
/// earlier requests, or for a sender the node table does not list yet). ``validate()`` is the one
/// place that says which settings make sense.
public struct PeerLimits: Hashable, Sendable {
    /// Messages the ROUTER queues for one peer (`ZMQ_SNDHWM`). A reply beyond it is dropped and
    /// counted: the node never blocks on a peer that does not read.
    public var sendHighWaterMark: Int
    /// Messages the ROUTER queues from one peer before it stops reading that connection
    /// (`ZMQ_RCVHWM`): the peer's sends then wait in TCP, nothing is lost.
    public var receiveHighWaterMark: Int
    /// Bytes of replies queued for one peer that libzmq has not written out yet. A reply that
    /// would go beyond it is dropped and counted; a reply to a peer with nothing queued always goes,
    /// however large, so one large reply is never refused.
    public var replyBytesPerPeer: Int
    /// Requests a server holds for one sender of its node table (waiting for a newer node table,
    /// or for the sender's earlier requests); more are refused with ``ErrorCode/busy``.
    public var heldRequestsPerSender: Int
    /// The payload bytes of those requests.
    public var heldBytesPerSender: Int
    /// Requests a server holds, all together, from senders its node table does not list (yet), or
    /// before it has a node table; more are refused with ``ErrorCode/busy``.
    public var unknownSenderRequests: Int
    /// The payload bytes of those requests.
    public var unknownSenderBytes: Int

    /// Creates limits; every argument defaults to the value of ``default``.
    public init(
        sendHighWaterMark: Int = 1_000,
        receiveHighWaterMark: Int = 1_000,
        replyBytesPerPeer: Int = 256 << 20,
        heldRequestsPerSender: Int = 1_024,
        heldBytesPerSender: Int = 256 << 20,
        unknownSenderRequests: Int = 1_024,
        unknownSenderBytes: Int = 64 << 20
    ) {
        self.sendHighWaterMark = sendHighWaterMark
        self.receiveHighWaterMark = receiveHighWaterMark
        self.replyBytesPerPeer = replyBytesPerPeer
        self.heldRequestsPerSender = heldRequestsPerSender
        self.heldBytesPerSender = heldBytesPerSender
        self.unknownSenderRequests = unknownSenderRequests
        self.unknownSenderBytes = unknownSenderBytes
    }

    /// 1,000 messages queued each way per peer and 256 MiB of replies; 1,024 requests and 256 MiB
    /// held per sender; 1,024 requests and 64 MiB held from unknown senders in all.
    public static let `default` = PeerLimits()

    /// The settings by their topology names, for validation and messages.
    var named: [(String, Int)] {
        [
            ("send_hwm", sendHighWaterMark), ("receive_hwm", receiveHighWaterMark),
            ("reply_bytes", replyBytesPerPeer), ("held_requests", heldRequestsPerSender),
            ("held_bytes", heldBytesPerSender), ("unknown_sender_requests", unknownSenderRequests),
            ("unknown_sender_bytes", unknownSenderBytes),
        ]
    }

    /// Checks that every limit is positive (0 would mean "unlimited" to libzmq, which is what these
    /// limits exist to prevent); the error names the offending setting.
    public func validate() throws(WireError) {
        for (name, value) in named where value <= 0 {
            throw WireError(.invalidRequest, field: name, "must be positive, got \(value)")
        }
        for (name, value) in named.prefix(2) where value > Int(Int32.max) {
            throw WireError(.invalidRequest, field: name, "must be at most \(Int32.max), got \(value)")
        }
    }
}
