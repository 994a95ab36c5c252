import ZeroMQ

/// What ``ChainReplication`` holds for the server and asks it to do.
extension ChainReplication {
    /// A reply to a worker held until the chain holds what the request changed.
    struct HeldReply {
        var reply: Message
        var peer: PeerAddress
        /// The sender and request id, to record the reply for the sender's retries once it is sent.
        var sender: NodeID
        var requestID: UInt64
        /// The push was sent again and this server held its result already: what it sent down the
        /// chains before may still be on its way, so the reply also waits for everything sent
        /// before it to be acknowledged.
        var behindSent = false
    }

    /// What the server is to do.
    enum Directive {
        /// Send a ``MessageKind/replicate`` or ``MessageKind/replicateAck`` to a server.
        case send(Message, to: NodeID)
        /// Every server of the chains concerned holds the request's result: send its reply now.
        case release(HeldReply)
        /// Every server after this one in the chain of the range holds a full copy of it, copied
        /// under node table `version`: tell the manager (``MessageKind/replicaReady``).
        case replicaReady(KeyRange, version: UInt64)
    }
}
