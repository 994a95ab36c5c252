/// A request the ``RequestDeduplicator`` refuses.
public struct DeliveryError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Why a request was refused. A struct so that new codes do not break callers.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        /// The numeric code.
        public var rawValue: UInt16
        /// Wraps a numeric code.
        public init(rawValue: UInt16) { self.rawValue = rawValue }

        /// Too many requests from the sender are waiting for an earlier one that has not arrived.
        public static let bufferFull = Code(rawValue: 1)
        /// A retry of a request applied so long ago that its reply is no longer cached.
        public static let replyExpired = Code(rawValue: 2)
        /// An id below the first one senders count from.
        public static let beforeFirstID = Code(rawValue: 3)

        public var description: String {
            switch self {
            case .bufferFull: return "bufferFull"
            case .replyExpired: return "replyExpired"
            case .beforeFirstID: return "beforeFirstID"
            default: return "deliveryError\(rawValue)"
            }
        }
    }

    /// What went wrong.
    public var code: Code
    /// The sender of the refused request.
    public var sender: NodeID
    /// The id of the refused request.
    public var requestID: UInt64
    /// A human-readable explanation.
    public var detail: String

    /// Creates a delivery error.
    public init(_ code: Code, sender: NodeID, requestID: UInt64, _ detail: String) {
        self.code = code
        self.sender = sender
        self.requestID = requestID
        self.detail = detail
    }

    /// The error to send back: ``ErrorCode/tooLarge`` for a full buffer, ``ErrorCode/invalidRequest``
    /// otherwise.
    public var wireError: WireError {
        WireError(code == .bufferFull ? .tooLarge : .invalidRequest, field: "id", description)
    }

    public var description: String { "\(code) for request \(requestID) from \(sender): \(detail)" }
}
