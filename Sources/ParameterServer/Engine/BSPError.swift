/// A push the ``BSPAggregator`` refuses.
public struct BSPError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Why a push was refused. A struct so that new codes do not break callers.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        /// The numeric code.
        public var rawValue: UInt16
        /// Wraps a numeric code.
        public init(rawValue: UInt16) { self.rawValue = rawValue }

        /// The sender is not one of the workers the table aggregates.
        public static let unknownWorker = Code(rawValue: 1)
        /// The iteration's aggregate was already applied.
        public static let iterationClosed = Code(rawValue: 2)
        /// The worker already pushed this iteration (a retry is caught earlier, by the
        /// ``RequestDeduplicator``; this is a second, different push).
        public static let duplicatePush = Code(rawValue: 3)
        /// The push counts toward a segment this server does not head.
        public static let unknownSegment = Code(rawValue: 4)

        public var description: String {
            switch self {
            case .unknownWorker: return "unknownWorker"
            case .iterationClosed: return "iterationClosed"
            case .duplicatePush: return "duplicatePush"
            case .unknownSegment: return "unknownSegment"
            default: return "bspError\(rawValue)"
            }
        }
    }

    /// What went wrong.
    public var code: Code
    /// The worker whose push was refused.
    public var worker: NodeID
    /// The iteration the push named.
    public var iteration: Int64
    /// A human-readable explanation.
    public var detail: String

    /// Creates an aggregation error.
    public init(_ code: Code, worker: NodeID, iteration: Int64, _ detail: String) {
        self.code = code
        self.worker = worker
        self.iteration = iteration
        self.detail = detail
    }

    /// The error to send back to the worker.
    public var wireError: WireError { WireError(.invalidRequest, field: "iteration", description) }

    public var description: String { "\(code) for iteration \(iteration) from \(worker): \(detail)" }
}
