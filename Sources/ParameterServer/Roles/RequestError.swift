/// A push, pull or barrier that failed: the server or manager refused it, or did not answer in time.
public struct RequestError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Why, as a wire error code (``ErrorCode/timeout`` when the peer did not answer).
    public var code: ErrorCode
    /// The peer at fault, e.g. `server-1 (tcp://127.0.0.1:41234)`.
    public var peer: String
    /// What happened.
    public var message: String

    /// Creates a request error.
    public init(code: ErrorCode, peer: String, message: String) {
        self.code = code
        self.peer = peer
        self.message = message
    }

    public var description: String { "\(peer): \(message) [\(code.name)]" }
}
