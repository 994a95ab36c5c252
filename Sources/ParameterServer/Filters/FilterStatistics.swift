/// One filter's effect: how many messages it saw, and the payload bytes and keys before and after.
public struct FilterStatistics: Hashable, Sendable {
    /// Messages the filter processed.
    public var messages: Int = 0
    /// Payload bytes (keys, values and lengths frames) going in.
    public var bytesBefore: Int = 0
    /// Payload bytes coming out.
    public var bytesAfter: Int = 0
    /// Keys going in (for key caching: keys named by the message).
    public var keysBefore: Int = 0
    /// Keys coming out (for key caching: keys actually carried in a keys frame).
    public var keysAfter: Int = 0

    /// Creates empty statistics.
    public init() {}

    /// Records one message passing the filter.
    public mutating func record(bytesBefore: Int, bytesAfter: Int, keysBefore: Int, keysAfter: Int) {
        messages += 1
        self.bytesBefore += bytesBefore
        self.bytesAfter += bytesAfter
        self.keysBefore += keysBefore
        self.keysAfter += keysAfter
    }

    /// Adds another filter's figures to these.
    public mutating func add(_ other: FilterStatistics) {
        messages += other.messages
        bytesBefore += other.bytesBefore
        bytesAfter += other.bytesAfter
        keysBefore += other.keysBefore
        keysAfter += other.keysAfter
    }

    /// The fraction of bytes the filter removed (0 when it saw nothing).
    public var bytesSaved: Double {
        bytesBefore == 0 ? 0 : 1 - Double(bytesAfter) / Double(bytesBefore)
    }
}

/// The filters a ``FilterChain`` runs, for naming their statistics.
public enum FilterStage: String, CaseIterable, Hashable, Sendable {
    /// ``SignificantlyModifiedFilter``.
    case significantlyModified = "significantly_modified"
    /// ``KKTFilter``.
    case kkt
    /// ``ValueQuantization``.
    case quantization
    /// ``KeyCacheSender`` and ``KeyCacheReceiver``.
    case keyCaching = "key_caching"
    /// ``SnappyCompression``.
    case compression
}

/// Statistics per filter stage and direction.
public struct FilterReport: Hashable, Sendable {
    /// What each stage did to outgoing messages.
    public var sent: [FilterStage: FilterStatistics] = [:]
    /// What each stage did to incoming messages (bytes before = on the wire, after = decoded).
    public var received: [FilterStage: FilterStatistics] = [:]
    /// Key cache misses this node answered (receiver) or was told about (sender).
    public var keyCacheMisses = 0
    /// Key lists the sender sent in full because their hash named another cached list.
    public var keyCacheCollisions = 0

    /// Creates an empty report.
    public init() {}

    /// One line per stage that saw traffic, for logs and bench output.
    public var lines: [String] {
        var lines: [String] = []
        for (direction, table) in [("sent", sent), ("received", received)] {
            for stage in FilterStage.allCases {
                guard let figures = table[stage], figures.messages > 0 else { continue }
                lines.append(
                    "\(direction) \(stage.rawValue): \(figures.messages) messages, bytes \(figures.bytesBefore) -> \(figures.bytesAfter), keys \(figures.keysBefore) -> \(figures.keysAfter)")
            }
        }
        return lines
    }
}

extension Message {
    /// The bytes of the payload frames (keys, values, lengths), without the header.
    public var payloadBytes: Int { (keys?.count ?? 0) + (values?.count ?? 0) + (lengths?.count ?? 0) }
}
