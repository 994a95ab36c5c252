/// Comma-separated lines under a header (Avazu style): one label column, some ignored columns, and
/// every other column a categorical feature hashed as the token `column=value` with value 1.
///
/// Fields are raw bytes between separators; quoting is not interpreted. Every line must have as many
/// fields as the header, and the label must be `0` or `1`.
public struct CSVFormat: ExampleLineFormat, Sendable {
    /// The header names the columns.
    public var hasHeader: Bool { true }
    /// The name of the label column.
    public let labelColumn: String
    /// Columns that are neither label nor feature (e.g. `id`, `hour`).
    public let ignoredColumns: Set<String>
    /// The field separator.
    public let separator: UInt8
    /// The hasher turning tokens into keys.
    public let hasher: FeatureHasher
    /// The column names, from the header (empty before it is read).
    public private(set) var columnNames: [String] = []

    private var labelIndex = 0
    /// Per column, the hash state after `"<name>="`, or nil for the label and ignored columns.
    private var columnStates: [TokenHash?] = []

    /// Creates the format; the header must name `labelColumn` and every ignored column.
    public init(
        labelColumn: String, ignoredColumns: Set<String> = [], separator: UInt8 = UInt8(ascii: ","),
        hasher: FeatureHasher = FeatureHasher(bits: 20)
    ) {
        self.labelColumn = labelColumn
        self.ignoredColumns = ignoredColumns
        self.separator = separator
        self.hasher = hasher
    }

    /// The Avazu CTR layout: label `click`, ignoring `id` and `hour`.
    public static func avazu(hasher: FeatureHasher = FeatureHasher(bits: 20)) -> CSVFormat {
        CSVFormat(labelColumn: "click", ignoredColumns: ["id", "hour"], hasher: hasher)
    }

    public mutating func readHeader(_ line: UnsafeRawBufferPointer) throws(LineFormatError) {
        columnNames = line.split(separator: separator, omittingEmptySubsequences: false).map {
            String(decoding: $0, as: UTF8.self)
        }
        guard let label = columnNames.firstIndex(of: labelColumn) else {
            throw LineFormatError(detail: "the header has no label column \"\(labelColumn)\"")
        }
        if let missing = ignoredColumns.subtracting(columnNames).sorted().first {
            throw LineFormatError(detail: "the header has no column \"\(missing)\" to ignore")
        }
        labelIndex = label
        columnStates = columnNames.enumerated().map { index, name in
            index == label || ignoredColumns.contains(name) ? nil : hasher.fieldState(name)
        }
    }

    public func appendFeatures(
        from line: UnsafeRawBufferPointer, to batch: inout ExampleBatch
    ) throws(LineFormatError) -> Float {
        var label: Float = 0
        var column = 0
        var fieldStart = 0
        let count = line.count
        for position in 0...count where position == count || line[position] == separator {
            let bytes = UnsafeRawBufferPointer(rebasing: line[fieldStart..<position])
            fieldStart = position + 1
            guard column < columnStates.count else {
                column += 1
                continue
            }
            if let state = columnStates[column] {
                batch.appendFeature(key: hasher.key(continuing: state, value: bytes), value: 1)
            } else if column == labelIndex {
                guard bytes.count == 1, bytes[0] == UInt8(ascii: "0") || bytes[0] == UInt8(ascii: "1") else {
                    throw LineFormatError(field: column + 1, fieldName: labelColumn, expected: "a label 0 or 1", found: bytes)
                }
                label = bytes[0] == UInt8(ascii: "1") ? 1 : 0
            }
            column += 1
        }
        guard column == columnStates.count else {
            throw LineFormatError(detail: "expected \(columnStates.count) fields as in the header, found \(column)")
        }
        return label
    }
}
