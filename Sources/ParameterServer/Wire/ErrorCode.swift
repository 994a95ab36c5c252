/// The reason carried by an ``MessageKind/error`` reply (header field `ec`), and by ``WireError``.
///
/// A struct rather than an enum so that new codes do not break callers that switch over old ones.
public struct ErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The numeric code sent on the wire.
    public var rawValue: UInt16
    /// Wraps a numeric code.
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// The message has the wrong number of frames for its kind, or a frame is empty where it must not be.
    public static let malformedFrame = ErrorCode(rawValue: 1)
    /// The header frame is not a valid msgpack map, or a field has the wrong type.
    public static let malformedHeader = ErrorCode(rawValue: 2)
    /// The header's protocol version is not one this node speaks.
    public static let unsupportedVersion = ErrorCode(rawValue: 3)
    /// The header names a message kind this node does not know or does not accept.
    public static let unknownKind = ErrorCode(rawValue: 4)
    /// A required header field is missing.
    public static let missingField = ErrorCode(rawValue: 5)
    /// The keys are not strictly ascending (unsorted or duplicate).
    public static let unsortedKeys = ErrorCode(rawValue: 6)
    /// A frame's size does not match what the header declares.
    public static let sizeMismatch = ErrorCode(rawValue: 7)
    /// A declared or actual size exceeds the node's limits.
    public static let tooLarge = ErrorCode(rawValue: 8)
    /// The request names a table the node does not have.
    public static let unknownTable = ErrorCode(rawValue: 9)
    /// A key lies outside the ranges the receiving server owns.
    public static let keyOutOfRange = ErrorCode(rawValue: 10)
    /// The request names an updater or function that is not registered.
    public static let unknownFunction = ErrorCode(rawValue: 11)
    /// The sender has not registered with the manager.
    public static let notRegistered = ErrorCode(rawValue: 12)
    /// A peer did not answer within its deadline.
    public static let timeout = ErrorCode(rawValue: 13)
    /// The node is shutting down and takes no new requests.
    public static let shuttingDown = ErrorCode(rawValue: 14)
    /// The request is well formed but not valid here (e.g. a second registration for a taken rank).
    public static let invalidRequest = ErrorCode(rawValue: 15)
    /// The node failed to serve the request for a reason of its own.
    public static let internalError = ErrorCode(rawValue: 16)
    /// The request names a cached key list (`kh`) the receiver does not hold (evicted, restarted,
    /// or never cached); the sender resends the request with its keys frame.
    public static let keyCacheMiss = ErrorCode(rawValue: 17)
    /// The message uses a payload encoding the receiver does not accept for this table, or its
    /// encoded frames do not decode.
    public static let unsupportedEncoding = ErrorCode(rawValue: 18)
    /// The request was routed by an older node table than the server's (header field `tv`): some
    /// of its keys now belong to another server. The reply's `tv` is the server's table version;
    /// the sender waits for that table and sends the request again by it.
    public static let staleTable = ErrorCode(rawValue: 19)
    /// The request's sender id (`s`) belongs to another connection: the node of that id registered
    /// with another routing id (or, under CurveZMQ, another public key). Nothing of it is applied
    /// and its request id is not used up.
    public static let wrongConnection = ErrorCode(rawValue: 20)
    /// The server already holds as many requests of this sender (or of senders it does not know
    /// yet) as its limits allow (``PeerLimits``): nothing of the request was applied; the sender
    /// sends it again later (docs/PROTOCOL.md section 10.1).
    public static let busy = ErrorCode(rawValue: 21)

    /// A short, stable name for logs and messages.
    public var name: String {
        switch self {
        case .malformedFrame: return "malformedFrame"
        case .malformedHeader: return "malformedHeader"
        case .unsupportedVersion: return "unsupportedVersion"
        case .unknownKind: return "unknownKind"
        case .missingField: return "missingField"
        case .unsortedKeys: return "unsortedKeys"
        case .sizeMismatch: return "sizeMismatch"
        case .tooLarge: return "tooLarge"
        case .unknownTable: return "unknownTable"
        case .keyOutOfRange: return "keyOutOfRange"
        case .unknownFunction: return "unknownFunction"
        case .notRegistered: return "notRegistered"
        case .timeout: return "timeout"
        case .shuttingDown: return "shuttingDown"
        case .invalidRequest: return "invalidRequest"
        case .internalError: return "internalError"
        case .keyCacheMiss: return "keyCacheMiss"
        case .unsupportedEncoding: return "unsupportedEncoding"
        case .staleTable: return "staleTable"
        case .wrongConnection: return "wrongConnection"
        case .busy: return "busy"
        default: return "error\(rawValue)"
        }
    }

    /// The name and number, e.g. `tooLarge (8)`.
    public var description: String { "\(name) (\(rawValue))" }
}

/// A message that could not be decoded or served: a code, the field or frame at fault, and details.
public struct WireError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong.
    public var code: ErrorCode
    /// Where: a header field name (`ts`, `k`, …) or a frame (`frame 2 (keys)`).
    public var field: String
    /// A human-readable explanation.
    public var detail: String

    /// Creates a wire error.
    public init(_ code: ErrorCode, field: String, _ detail: String) {
        self.code = code
        self.field = field
        self.detail = detail
    }

    /// The code, field and detail in one line.
    public var description: String { "\(code.name) at \(field): \(detail)" }
}
