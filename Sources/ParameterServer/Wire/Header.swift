/// The version of the wire protocol this build speaks (header field `v`).
public enum WireProtocol {
    /// Sent in every header; a receiver rejects other versions with ``ErrorCode/unsupportedVersion``.
    public static let version: UInt16 = 1
}

/// Bits in header field `f`.
///
/// Bits this build does not know are kept and ignored, so that newer peers can add flags.
public struct MessageFlags: OptionSet, Hashable, Sendable {
    /// The bits as sent on the wire.
    public var rawValue: UInt32
    /// Wraps raw flag bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// A lengths frame follows the values frame: per-key value counts instead of a fixed `valueLength`.
    public static let hasLengths = MessageFlags(rawValue: 1 << 0)
    /// The sender asks for the vector clock of what a pull read (reply field `clk`).
    public static let wantClock = MessageFlags(rawValue: 1 << 1)
    /// The request is a retry of one sent earlier with the same sender and request id.
    public static let retry = MessageFlags(rawValue: 1 << 2)
    /// The request names a key range (`r`) instead of a keys frame (pull of a whole range).
    public static let rangeRequest = MessageFlags(rawValue: 1 << 3)
}

/// The header frame of every message: one msgpack map. Field names on the wire are given with each
/// property; optional fields are omitted when `nil`. See docs/PROTOCOL.md.
///
/// The fields every data message uses are stored inline; those only membership, errors, range
/// functions, replication and bsp tables set live together in one shared, immutable box
/// (``RareFields``), so that copying a header on the request path retains one reference at most
/// instead of one per string and array.
public struct Header: Hashable, Sendable {
    // Stored properties run from the widest to the narrowest, so that no padding falls between them.

    /// `id`: the request id, unique per sender; a reply echoes the id of its request.
    public var requestID: UInt64
    /// `ts`: the task timestamp assigned by the sender (data messages), or 0.
    public var timestamp: Int64
    // The optional scalar fields are stored as plain values with one presence bit each (0 when
    // absent, so that equal headers have equal storage): a header stays small enough that copying
    // it along the request path is a few register moves rather than a call to `memmove`.
    private var storedKeyRange = KeyRange(0, 0)
    private var storedKeyCacheHash: UInt64 = 0
    private var storedIteration: Int64 = 0
    private var storedTableVersion: UInt64 = 0
    /// The rarely set fields (``RareFields``), when any is set (`nil` when all are absent, so that
    /// equal headers have equal storage).
    private var rare: RareFieldsBox?
    /// `s`: the sender's node id (``NodeID/unassigned`` before registration).
    public var sender: NodeID
    /// `t`: the table the request addresses (data messages).
    public var table: UInt32
    /// `f`: flag bits.
    public var flags: MessageFlags
    /// `n`: the number of keys in the keys frame (or of values in a pull reply, divided by `vl`).
    public var keyCount: UInt32
    /// `vl`: floats per key for fixed-length values.
    public var valueLength: UInt32
    private var storedRank: UInt32 = 0
    private var storedAcceptedEncodings: UInt32 = 0
    /// `v`: protocol version.
    public var version: UInt16
    private var storedErrorCode: UInt16 = 0
    /// `k`: what the message is.
    public var kind: MessageKind
    private var present: PresentFields = []
    private var storedRole: UInt8 = 0

    /// Which of the optional scalar fields are set.
    private struct PresentFields: OptionSet, Hashable, Sendable {
        var rawValue: UInt8
        static let keyRange = PresentFields(rawValue: 1 << 0)
        static let role = PresentFields(rawValue: 1 << 1)
        static let rank = PresentFields(rawValue: 1 << 2)
        static let errorCode = PresentFields(rawValue: 1 << 3)
        static let keyCacheHash = PresentFields(rawValue: 1 << 4)
        static let acceptedEncodings = PresentFields(rawValue: 1 << 5)
        static let iteration = PresentFields(rawValue: 1 << 6)
        static let tableVersion = PresentFields(rawValue: 1 << 7)
    }

    /// The value of an optional scalar field: `stored` when `field` is present.
    @inline(__always)
    private func scalar<Value>(_ field: PresentFields, _ stored: Value) -> Value? {
        present.contains(field) ? stored : nil
    }

    /// Sets or clears an optional scalar field, storing `absent` when it is cleared.
    @inline(__always)
    private static func assign<Value>(
        _ value: Value?, absent: Value, to stored: inout Value, _ field: PresentFields, in present: inout PresentFields
    ) {
        if let value {
            present.insert(field)
            stored = value
        } else {
            present.remove(field)
            stored = absent
        }
    }

    /// `r`: the key range the request covers, as `[lower, upper]`.
    public var keyRange: KeyRange? {
        get { scalar(.keyRange, storedKeyRange) }
        set { Self.assign(newValue, absent: KeyRange(0, 0), to: &storedKeyRange, .keyRange, in: &present) }
    }
    /// `role`: the role of a registering node.
    public var role: NodeRole? {
        get { present.contains(.role) ? NodeRole(rawValue: storedRole) : nil }
        set { Self.assign(newValue?.rawValue, absent: 0, to: &storedRole, .role, in: &present) }
    }
    /// `rank`: the rank of a registering node among its role.
    public var rank: UInt32? {
        get { scalar(.rank, storedRank) }
        set { Self.assign(newValue, absent: 0, to: &storedRank, .rank, in: &present) }
    }
    /// `ec`: the error code of an ``MessageKind/error`` reply, or a non-zero status with `workerDone`.
    public var errorCode: ErrorCode? {
        get { present.contains(.errorCode) ? ErrorCode(rawValue: storedErrorCode) : nil }
        set { Self.assign(newValue?.rawValue, absent: 0, to: &storedErrorCode, .errorCode, in: &present) }
    }
    /// `kh`: the hash naming a cached key list (key caching; see ``MessageFlags/keysCached`` and
    /// ``MessageFlags/cacheKeys``). In a reply, the hash the responder has just cached.
    public var keyCacheHash: UInt64? {
        get { scalar(.keyCacheHash, storedKeyCacheHash) }
        set { Self.assign(newValue, absent: 0, to: &storedKeyCacheHash, .keyCacheHash, in: &present) }
    }
    /// `fa`: the payload encodings the sender accepts in the reply to this request.
    public var acceptedEncodings: PayloadEncodings? {
        get { present.contains(.acceptedEncodings) ? PayloadEncodings(rawValue: storedAcceptedEncodings) : nil }
        set { Self.assign(newValue?.rawValue, absent: 0, to: &storedAcceptedEncodings, .acceptedEncodings, in: &present) }
    }
    /// `it`: the iteration a push or pull of a `bsp` table belongs to (docs/CONSISTENCY.md); replies
    /// echo it. Absent on tables under other models.
    public var iteration: Int64? {
        get { scalar(.iteration, storedIteration) }
        set { Self.assign(newValue, absent: 0, to: &storedIteration, .iteration, in: &present) }
    }
    /// `tv`: the node table version the sender routed a data request by. A server that owns none of
    /// the request's keys under its newer table answers ``ErrorCode/staleTable`` with its version.
    public var tableVersion: UInt64? {
        get { scalar(.tableVersion, storedTableVersion) }
        set { Self.assign(newValue, absent: 0, to: &storedTableVersion, .tableVersion, in: &present) }
    }
    /// The fields that hold strings or arrays, which most data messages leave absent.
    struct RareFields: Hashable, Sendable {
        var updater: String?
        var endpoint: String?
        var nodeTable: NodeTable?
        var name: String?
        var errorMessage: String?
        var clock: [Int64]?
        var compressedSizes: [UInt32]?
        var arguments: [Double]?
        var origins: [RequestOrigin] = []
        var clockRecords: [ClockRecord] = []
        var segments: [KeyRange] = []

        var isEmpty: Bool {
            updater == nil && endpoint == nil && nodeTable == nil && name == nil && errorMessage == nil && clock == nil
                && compressedSizes == nil && arguments == nil && origins.isEmpty && clockRecords.isEmpty && segments.isEmpty
        }
    }

    /// Shared by every copy of a header; a change makes a new box.
    final class RareFieldsBox: Hashable, Sendable {
        let fields: RareFields
        init(_ fields: RareFields) { self.fields = fields }
        static func == (lhs: RareFieldsBox, rhs: RareFieldsBox) -> Bool { lhs === rhs || lhs.fields == rhs.fields }
        func hash(into hasher: inout Hasher) { hasher.combine(fields) }
    }

    /// All the rarely set fields at once.
    var rareFields: RareFields {
        get { rare?.fields ?? RareFields() }
        set { rare = newValue.isEmpty ? nil : RareFieldsBox(newValue) }
    }

    /// Sets one rarely set field; setting an absent one on a header without any makes no box.
    private mutating func setRare<Value>(_ field: WritableKeyPath<RareFields, Value?>, to value: Value?) {
        if value != nil || rare != nil { rareFields[keyPath: field] = value }
    }

    /// Sets one rarely set list; an empty one on a header without any makes no box.
    private mutating func setRare<Element>(_ field: WritableKeyPath<RareFields, [Element]>, to value: [Element]) {
        if !value.isEmpty || rare != nil { rareFields[keyPath: field] = value }
    }

    /// `u`: the updater a push applies (default: the table's).
    public var updater: String? {
        get { rare?.fields.updater }
        set { setRare(\.updater, to: newValue) }
    }
    /// `ep`: the endpoint others reach a registering node's ROUTER at (`tcp://HOST:PORT`).
    public var endpoint: String? {
        get { rare?.fields.endpoint }
        set { setRare(\.endpoint, to: newValue) }
    }
    /// `nt`: the node table (kind ``MessageKind/nodeTable``).
    public var nodeTable: NodeTable? {
        get { rare?.fields.nodeTable }
        set { setRare(\.nodeTable, to: newValue) }
    }
    /// `name`: a barrier's name, or a worker's summary line with ``MessageKind/workerDone``.
    public var name: String? {
        get { rare?.fields.name }
        set { setRare(\.name, to: newValue) }
    }
    /// `em`: the human-readable error message.
    public var errorMessage: String? {
        get { rare?.fields.errorMessage }
        set { setRare(\.errorMessage, to: newValue) }
    }
    /// `clk`: the vector clock of what a pull read (one timestamp per node, indexed by node id),
    /// sent in a ``MessageKind/pullReply`` when the pull set ``MessageFlags/wantClock``.
    public var clock: [Int64]? {
        get { rare?.fields.clock }
        set { setRare(\.clock, to: newValue) }
    }
    /// `cz`: one entry per payload frame in wire order: the frame's size before Snappy compression,
    /// or 0 for a frame sent as it is. Absent when no frame is compressed.
    public var compressedSizes: [UInt32]? {
        get { rare?.fields.compressedSizes }
        set { setRare(\.compressedSizes, to: newValue) }
    }
    /// `a`: the arguments of a ``MessageKind/rangeFunction`` call.
    public var arguments: [Double]? {
        get { rare?.fields.arguments }
        set { setRare(\.arguments, to: newValue) }
    }
    /// `org`: the identity a request had when it was first sent, as `[server, sender, id]`: on a
    /// ``MessageKind/replicate``, the push whose result it carries (the primary it was sent to, the
    /// worker, the worker's request id); on a push a worker sends again to a range's new primary after
    /// a fail-over, the request it repeats, so that a push the dead primary had already replicated is
    /// acknowledged and not applied twice (docs/FAULT-TOLERANCE.md).
    public var origin: RequestOrigin? {
        get { origins.first }
        set { origins = newValue.map { [$0] } ?? [] }
    }
    /// `org` with several identities, `[server, sender, id, server, sender, id, …]`: a
    /// ``MessageKind/replicate`` of results that several pushes made (empty when absent).
    public var origins: [RequestOrigin] {
        get { rare?.fields.origins ?? [] }
        set { setRare(\.origins, to: newValue) }
    }
    /// `vc`: on a ``MessageKind/replicate``, vector clock entries as `[node, lower, upper,
    /// timestamp, …]` in fours (``ClockRecord``): what the pushes of a batch recorded, or a copied
    /// range's clock, so that a replica's clock follows its primary's and a promoted range answers
    /// `clk` as its primary did (empty when absent).
    public var clockRecords: [ClockRecord] {
        get { rare?.fields.clockRecords ?? [] }
        set { setRare(\.clockRecords, to: newValue) }
    }
    /// `sg`: on a push of a `bsp` table, the key ranges whose iteration it counts toward, as
    /// `[lower, upper, lower, upper, …]`, ascending and disjoint: the segments its sender's node
    /// table gave the server, whether or not the push has keys in them (docs/CONSISTENCY.md). Empty
    /// when absent: the push counts toward every segment the server heads.
    public var segments: [KeyRange] {
        get { rare?.fields.segments ?? [] }
        set { setRare(\.segments, to: newValue) }
    }

    /// Creates a header with the current protocol version.
    public init(
        kind: MessageKind,
        sender: NodeID = .unassigned,
        requestID: UInt64 = 0,
        table: UInt32 = 0,
        timestamp: Int64 = 0,
        keyRange: KeyRange? = nil,
        flags: MessageFlags = [],
        keyCount: UInt32 = 0,
        valueLength: UInt32 = 0,
        updater: String? = nil,
        role: NodeRole? = nil,
        rank: UInt32? = nil,
        endpoint: String? = nil,
        nodeTable: NodeTable? = nil,
        name: String? = nil,
        errorCode: ErrorCode? = nil,
        errorMessage: String? = nil,
        clock: [Int64]? = nil
    ) {
        self.version = WireProtocol.version
        self.kind = kind
        self.sender = sender
        self.requestID = requestID
        self.table = table
        self.timestamp = timestamp
        self.flags = flags
        self.keyCount = keyCount
        self.valueLength = valueLength
        self.keyRange = keyRange
        self.role = role
        self.rank = rank
        self.errorCode = errorCode
        if updater != nil || endpoint != nil || nodeTable != nil || name != nil || errorMessage != nil || clock != nil {
            rareFields = RareFields(
                updater: updater, endpoint: endpoint, nodeTable: nodeTable, name: name, errorMessage: errorMessage, clock: clock)
        }
    }

    /// An error reply to this header's request, from `sender`.
    public func errorReply(from sender: NodeID, _ error: WireError) -> Header {
        Header(
            kind: .error, sender: sender, requestID: requestID, table: table, timestamp: timestamp,
            errorCode: error.code, errorMessage: error.description)
    }
}


/// Who first sent a request, to whom, under which id: header field `org` (see ``Header/origin``).
public struct RequestOrigin: Hashable, Sendable, CustomStringConvertible {
    /// The server the request was first sent to.
    public var server: NodeID
    /// The worker or client that sent it.
    public var sender: NodeID
    /// The request id it had there.
    public var requestID: UInt64

    /// Creates an origin.
    public init(server: NodeID, sender: NodeID, requestID: UInt64) {
        self.server = server
        self.sender = sender
        self.requestID = requestID
    }

    /// `request 7 of node 4 to node 2`.
    public var description: String { "request \(requestID) of \(sender) to \(server)" }
}
