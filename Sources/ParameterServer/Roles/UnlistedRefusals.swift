import ZeroMQ

/// Refusals a server sent to requests of senders its node table did not list yet, kept until a
/// table lists them (bounded, oldest first out).
///
/// A client's first requests can reach a server before the node table that lists the client, and
/// are held until it comes; when there is no room to hold them they are refused (`busy`) at once.
/// The server cannot know then whether the sender registered, nor from which connection, so the
/// refusal cannot use up the request id yet. Kept here, it does once a table lists the sender and
/// the refused request came from the sender's connection: a refused request of a registered
/// sender uses up its id whenever it was refused (docs/PROTOCOL.md section 8.1), so the sender's
/// later requests do not wait for it. Only the newest ``limit`` are kept: an unknown peer can make
/// up any number of sender ids.
struct UnlistedRefusals {
    /// A refusal: the request's sender and id, the connection it came on, and the reply sent.
    struct Refusal {
        var sender: NodeID
        var requestID: UInt64
        var peer: PeerAddress
        var publicKey: CurveKey?
        var reply: Message
    }

    /// The most refusals kept.
    let limit: Int
    private(set) var refusals: [Refusal] = []

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// Keeps `refusal`, forgetting the oldest beyond the limit.
    mutating func keep(_ refusal: Refusal) {
        if refusals.count >= limit { refusals.removeFirst(refusals.count - limit + 1) }
        refusals.append(refusal)
    }

    /// Takes out, in the order they were refused, the refusals of the senders `isListed` accepts;
    /// the others stay.
    mutating func take(where isListed: (NodeID) -> Bool) -> [Refusal] {
        guard refusals.contains(where: { isListed($0.sender) }) else { return [] }
        let taken = refusals.filter { isListed($0.sender) }
        refusals.removeAll { isListed($0.sender) }
        return taken
    }
}
