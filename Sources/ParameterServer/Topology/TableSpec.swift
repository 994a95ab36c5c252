/// One table of parameters: keys map to float vectors of a fixed length, changed by a named updater.
public struct TableSpec: Hashable, Sendable {
    /// The name applications use to find the table, unique in a topology.
    public var name: String
    /// The id carried in message headers (field `t`), unique in a topology.
    public var id: UInt32
    /// Floats per key, in ``TableSpec/valueLengthLimits``.
    public var valueLength: Int
    /// The name of the registered updater a push applies, e.g. `add` or `ftrl`.
    public var updater: String
    /// Numeric settings handed to the updater, e.g. `learning_rate`; the updater checks the names.
    public var updaterOptions: [String: Double]
    /// How a worker's requests to the table may overlap.
    public var consistency: ConsistencyModel
    /// The communication filters requests to and replies from this table pass (all off by default).
    public var filters: FilterSettings

    /// Creates a table specification.
    public init(
        name: String,
        id: UInt32,
        valueLength: Int = 1,
        updater: String = TableSpec.defaultUpdater,
        updaterOptions: [String: Double] = [:],
        consistency: ConsistencyModel = .eventual,
        filters: FilterSettings = .none
    ) {
        self.name = name
        self.id = id
        self.valueLength = valueLength
        self.updater = updater
        self.updaterOptions = updaterOptions
        self.consistency = consistency
        self.filters = filters
    }

    /// The values `valueLength` may take.
    public static let valueLengthLimits = 1...65536

    /// The updater a table uses when its topology names none: pushes add to the stored values.
    public static let defaultUpdater = "add"

    /// The names of the updaters the parameter server ships with; callers that register more pass
    /// their own list to the loader.
    public static let standardUpdaters = ["assign", "add", "sgd", "adagrad", "ftrl"]
}
