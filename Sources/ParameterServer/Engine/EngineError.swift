/// A task the engine cannot accept.
public struct EngineError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Why a task was refused. A struct so that new codes do not break callers.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        /// The numeric code.
        public var rawValue: UInt16
        /// Wraps a numeric code.
        public init(rawValue: UInt16) { self.rawValue = rawValue }

        /// An `after` entry names a timestamp the engine has not issued yet, which could never finish.
        public static let unknownDependency = Code(rawValue: 1)
        /// A task under ``ConsistencyModel/bsp`` carries no iteration.
        public static let missingIteration = Code(rawValue: 2)
        /// A task's iteration is lower than that of an earlier ``ConsistencyModel/bsp`` task of its table.
        public static let iterationWentBack = Code(rawValue: 3)
        /// A bounded delay is negative.
        public static let invalidModel = Code(rawValue: 4)

        public var description: String {
            switch self {
            case .unknownDependency: return "unknownDependency"
            case .missingIteration: return "missingIteration"
            case .iterationWentBack: return "iterationWentBack"
            case .invalidModel: return "invalidModel"
            default: return "engineError\(rawValue)"
            }
        }
    }

    /// What went wrong.
    public var code: Code
    /// The table of the refused task.
    public var table: UInt32
    /// A human-readable explanation.
    public var detail: String

    /// Creates an engine error.
    public init(_ code: Code, table: UInt32, _ detail: String) {
        self.code = code
        self.table = table
        self.detail = detail
    }

    public var description: String { "\(code) on table \(table): \(detail)" }
}
