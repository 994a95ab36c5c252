/// The ZeroMQ Authentication Protocol handler of one context (ZeroMQ RFC 27): it admits the
/// CurveZMQ clients whose public keys are on its allow-list and refuses every other peer.
///
/// libzmq asks the socket bound to `inproc://zeromq.zap.01` in a context about every connection a
/// CURVE server socket of that context accepts, after the client proved it holds the secret key
/// of the public key it presents; the connection stays silent until the answer comes. Bind the
/// handler before the server sockets: a CURVE server whose context has no handler admits every
/// client. The handler owns a socket, so it lives on one thread: that thread polls ``socket`` next
/// to its others and calls ``answerPending()`` when it may be readable, or connections wait.
///
/// An admitted connection's messages carry the client's public key in Z85 as their `User-Id`
/// property (``Frame/curvePublicKey``). A refused one gets status 400, and libzmq drops it
/// without delivering a message.
public struct ZAPHandler: ~Copyable {
    /// The endpoint libzmq sends a context's ZAP requests to.
    public static let endpoint = "inproc://zeromq.zap.01"

    /// The REP socket the requests arrive on; poll it, never receive from it directly.
    public let socket: Socket
    /// The public keys of the clients to admit.
    public var allowedClients: Set<CurveKey>
    /// How many connections the handler admitted.
    public private(set) var admitted = 0
    /// How many connections it refused: unknown keys, other mechanisms, malformed requests.
    public private(set) var refused = 0

    /// Binds the handler in `context`, admitting `allowedClients`. Fails with
    /// ``ZMQError/Code/addressInUse`` when the context has a handler already.
    public init(context: Context, allowedClients: Set<CurveKey>) throws(ZMQError) {
        let socket = try Socket(.reply, context: context)
        try socket.set(.linger, to: 0)
        try socket.bind(to: Self.endpoint)
        self.socket = socket
        self.allowedClients = allowedClients
    }

    /// Answers every request waiting, without blocking; returns how many it answered.
    @discardableResult
    public mutating func answerPending() throws(ZMQError) -> Int {
        var answered = 0
        while let request = try socket.receiveMultipart(dontWait: true, maximumParts: 16) {
            let reply = decide(request)
            if reply.status == Reply.admitted { admitted += 1 } else { refused += 1 }
            try socket.send(reply.frames)
            answered += 1
        }
        return answered
    }

    /// Closes the socket; libzmq then admits every client of the context's CURVE servers again,
    /// so close the handler after them.
    public consuming func close() {
        socket.close()
    }

    /// The answer to one request.
    struct Reply {
        static let admitted = "200"
        static let refused = "400"
        static let malformed = "500"

        var requestID: Frame
        var status: String
        var text: String
        var userID: String

        /// Version, request id, status code, status text, user id, metadata (RFC 27).
        var frames: [Frame] {
            [Frame(string: "1.0"), requestID, Frame(string: status), Frame(string: text), Frame(string: userID), Frame()]
        }
    }

    /// Admits a CURVE client on the allow-list, with its key in Z85 as the user id; refuses the rest.
    func decide(_ request: [Frame]) -> Reply {
        // version, request id, domain, address, routing id, mechanism, credentials…
        guard request.count >= 6, request[0] == Frame(string: "1.0") else {
            let requestID = request.count >= 2 ? request[1] : Frame()
            return Reply(requestID: requestID, status: Reply.malformed, text: "malformed ZAP request", userID: "")
        }
        let requestID = request[1]
        guard request[5] == Frame(string: "CURVE") else {
            return Reply(requestID: requestID, status: Reply.refused, text: "only CURVE clients are admitted", userID: "")
        }
        guard request.count == 7, let key = CurveKey(bytes: request[6].bytes) else {
            return Reply(requestID: requestID, status: Reply.malformed, text: "malformed CURVE credentials", userID: "")
        }
        guard allowedClients.contains(key) else {
            return Reply(requestID: requestID, status: Reply.refused, text: "client key not allowed", userID: "")
        }
        return Reply(requestID: requestID, status: Reply.admitted, text: "OK", userID: key.z85)
    }
}

// Owns a socket, which only its thread may use.
@available(*, unavailable)
extension ZAPHandler: Sendable {}
