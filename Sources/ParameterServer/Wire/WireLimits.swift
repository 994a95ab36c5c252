/// The sizes a node accepts from the wire. Anything larger is rejected with ``ErrorCode/tooLarge``
/// before memory is committed to it.
///
/// The defaults suit a cluster on a fast network; a node facing untrusted peers may lower them.
/// ``validate()`` is the one place that says which settings make sense.
public struct WireLimits: Hashable, Sendable {
    /// The largest header frame, in bytes.
    public var maxHeaderBytes: Int
    /// The most keys one message may carry (header field `n`).
    public var maxKeysPerMessage: Int
    /// The most floats per key (header field `vl`, or one entry of a lengths frame).
    public var maxValueLength: Int
    /// The largest payload frame, in bytes.
    public var maxFrameBytes: Int
    /// The longest string header field (`u`, `ep`, `name`, `em`, a node's endpoint), in UTF-8 bytes.
    public var maxStringBytes: Int
    /// The most nodes in a node table, and the most entries in a vector clock (`clk`).
    public var maxNodes: Int
    /// The most key ranges one node of a node table may own.
    public var maxRangesPerNode: Int
    /// The largest node id a header (`s`, `org`) or a node table may name, besides
    /// ``NodeID/unassigned``. Vector clocks hold one entry per node id, so this bounds their size;
    /// a manager gives out no id beyond it.
    public var maxNodeID: Int

    /// The largest header this build will ever accept, whatever the settings say: the msgpack-c
    /// decoder allocates up to 24 bytes per encoded byte, so the header limit bounds that memory.
    public static let headerBytesCeiling = 1 << 20

    /// Creates limits; every argument defaults to the value of ``default``.
    public init(
        maxHeaderBytes: Int = 64 << 10,
        maxKeysPerMessage: Int = 64 << 20,
        maxValueLength: Int = 65_536,
        maxFrameBytes: Int = 1 << 30,
        maxStringBytes: Int = 8 << 10,
        maxNodes: Int = 4_096,
        maxRangesPerNode: Int = 4_096,
        maxNodeID: Int = 65_535
    ) {
        self.maxHeaderBytes = maxHeaderBytes
        self.maxKeysPerMessage = maxKeysPerMessage
        self.maxValueLength = maxValueLength
        self.maxFrameBytes = maxFrameBytes
        self.maxStringBytes = maxStringBytes
        self.maxNodes = maxNodes
        self.maxRangesPerNode = maxRangesPerNode
        self.maxNodeID = maxNodeID
    }

    /// Whether `id` may appear in a header or a node table: at most ``maxNodeID``, or
    /// ``NodeID/unassigned`` where `unassignedAllowed`.
    public func admits(_ id: NodeID, unassignedAllowed: Bool = true) -> Bool {
        Int(id.rawValue) <= maxNodeID || (unassignedAllowed && id == .unassigned)
    }

    /// 64 KiB headers, 64 Mi keys per message, 65,536 floats per key, 1 GiB frames, 8 KiB strings,
    /// 4,096 nodes with up to 4,096 ranges each, node ids up to 65,535.
    public static let `default` = WireLimits()

    /// Checks that every limit is positive and that the header limit stays under
    /// ``headerBytesCeiling``; the error names the offending setting.
    public func validate() throws(WireError) {
        let settings: [(String, Int)] = [
            ("maxHeaderBytes", maxHeaderBytes), ("maxKeysPerMessage", maxKeysPerMessage),
            ("maxValueLength", maxValueLength), ("maxFrameBytes", maxFrameBytes),
            ("maxStringBytes", maxStringBytes), ("maxNodes", maxNodes),
            ("maxRangesPerNode", maxRangesPerNode), ("maxNodeID", maxNodeID),
        ]
        for (name, value) in settings where value <= 0 {
            throw WireError(.invalidRequest, field: name, "must be positive, got \(value)")
        }
        if maxHeaderBytes > Self.headerBytesCeiling {
            throw WireError(
                .invalidRequest, field: "maxHeaderBytes",
                "\(maxHeaderBytes) exceeds the ceiling of \(Self.headerBytesCeiling) bytes")
        }
        if maxNodeID >= Int(NodeID.unassigned.rawValue) {
            throw WireError(
                .invalidRequest, field: "maxNodeID", "must stay below \(NodeID.unassigned.rawValue), the unassigned id")
        }
        // Sizes are multiplied (keys × value length × 4) before they are compared, so the factors
        // must leave room in an Int.
        if maxKeysPerMessage > 1 << 40 || maxValueLength > 1 << 20 {
            throw WireError(
                .invalidRequest, field: maxKeysPerMessage > 1 << 40 ? "maxKeysPerMessage" : "maxValueLength",
                "too large to compute frame sizes safely")
        }
    }
}
