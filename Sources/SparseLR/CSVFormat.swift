/// Comma-separated lines under a header (Avazu style): one label column, some ignored columns, and
/// every other column a categorical feature hashed as the token `column=value` with value 1.
///
/// Fields follow RFC 4180: a field that starts with `"` is quoted, may hold separators, and writes
/// a `"` of its value as `""`; the value without its quotes is what is hashed, so `"abc"` and `abc`
/// are the same token. A `"` inside an unquoted field is an ordinary byte. Lines without a quoted
/// field are split as fast as before quoting was read: only the first byte of each field is looked
/// at for a quote, and a quoted field sends its line to a separate path. A quoted field cannot span
/// lines (the reader splits the file into lines first): an unclosed quote is an error. Every line
/// must have as many fields as the header, and the label must be `0` or `1`.
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
        var names: [String] = []
        try Self.forEachQuotedField(in: line, separator: separator) { (field: UnsafeRawBufferPointer, _: Int) throws(LineFormatError) in
            names.append(String(decoding: field, as: UTF8.self))
        }
        columnNames = names
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
            if fieldStart < count, line[fieldStart] == UInt8(ascii: "\"") {
                // A quoted field (it may hold separators): the line is read again on the quoting path.
                batch.discardUnfinishedExample()
                return try appendQuotedFeatures(from: line, to: &batch)
            }
            fieldStart = position + 1
            guard column < columnStates.count else {
                column += 1
                continue
            }
            try take(bytes, column: column, label: &label, to: &batch)
            column += 1
        }
        guard column == columnStates.count else {
            throw LineFormatError(detail: "expected \(columnStates.count) fields as in the header, found \(column)")
        }
        return label
    }

    /// Field `column` of a line: a feature of a hashed column, or the label (a column below
    /// `columnStates.count`).
    @inline(__always)
    private func take(
        _ bytes: UnsafeRawBufferPointer, column: Int, label: inout Float, to batch: inout ExampleBatch
    ) throws(LineFormatError) {
        if let state = columnStates[column] {
            batch.appendFeature(key: hasher.key(continuing: state, value: bytes), value: 1)
        } else if column == labelIndex {
            guard bytes.count == 1, bytes[0] == UInt8(ascii: "0") || bytes[0] == UInt8(ascii: "1") else {
                throw LineFormatError(field: column + 1, fieldName: labelColumn, expected: "a label 0 or 1", found: bytes)
            }
            label = bytes[0] == UInt8(ascii: "1") ? 1 : 0
        }
    }

    /// The features of a line that holds a `"`: the same as ``appendFeatures(from:to:)``, reading
    /// the fields as RFC 4180 does.
    private func appendQuotedFeatures(
        from line: UnsafeRawBufferPointer, to batch: inout ExampleBatch
    ) throws(LineFormatError) -> Float {
        var label: Float = 0
        var count = 0
        try Self.forEachQuotedField(in: line, separator: separator) { (bytes: UnsafeRawBufferPointer, column: Int) throws(LineFormatError) in
            count = column + 1
            guard column < columnStates.count else { return }
            try take(bytes, column: column, label: &label, to: &batch)
        }
        guard count == columnStates.count else {
            throw LineFormatError(detail: "expected \(columnStates.count) fields as in the header, found \(count)")
        }
        return label
    }

    /// Calls `body` with the value and 0-based column of every field of `line`, quoted or not.
    ///
    /// A quoted value without `""` is passed where it lies in the line; one with `""` is copied
    /// once, with each `""` made one `"`.
    static func forEachQuotedField(
        in line: UnsafeRawBufferPointer, separator: UInt8,
        _ body: (UnsafeRawBufferPointer, Int) throws(LineFormatError) -> Void
    ) throws(LineFormatError) {
        let quote = UInt8(ascii: "\"")
        let count = line.count
        var position = 0
        var column = 0
        while true {
            if position < count, line[position] == quote {
                // A quoted field: up to the quote that is not doubled.
                let start = position + 1
                var cursor = start
                var escaped = false
                while true {
                    guard cursor < count else {
                        throw LineFormatError(
                            field: column + 1, fieldName: nil,
                            detail: "a quoted field has no closing quote (a quoted field cannot span lines)")
                    }
                    if line[cursor] == quote {
                        if cursor + 1 < count, line[cursor + 1] == quote {
                            escaped = true
                            cursor += 2
                            continue
                        }
                        break
                    }
                    cursor += 1
                }
                let value = UnsafeRawBufferPointer(rebasing: line[start..<cursor])
                if escaped {
                    var unescaped: [UInt8] = []
                    unescaped.reserveCapacity(value.count)
                    var index = 0
                    while index < value.count {
                        unescaped.append(value[index])
                        index += value[index] == quote ? 2 : 1
                    }
                    // withUnsafeBytes rethrows untyped errors: carry the typed one out by hand.
                    let failure = unescaped.withUnsafeBytes { bytes -> LineFormatError? in
                        do throws(LineFormatError) {
                            try body(bytes, column)
                            return nil
                        } catch {
                            return error
                        }
                    }
                    if let failure { throw failure }
                } else {
                    try body(value, column)
                }
                position = cursor + 1
                guard position == count || line[position] == separator else {
                    throw LineFormatError(
                        field: column + 1, fieldName: nil, expected: "a separator after the closing quote",
                        found: UnsafeRawBufferPointer(rebasing: line[position..<min(position + 1, count)]))
                }
            } else {
                var end = position
                while end < count, line[end] != separator { end += 1 }
                try body(UnsafeRawBufferPointer(rebasing: line[position..<end]), column)
                position = end
            }
            column += 1
            guard position < count else { return }
            position += 1  // the separator
        }
    }
}
