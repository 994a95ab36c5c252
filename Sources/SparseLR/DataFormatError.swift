/// Input data that could not be read: the file, the 1-based line and field at fault, and what was wrong.
///
/// Its description reads like a compiler diagnostic:
/// `train.tsv:1234: field 5 (I4): expected an integer, found "x1"`.
public struct DataFormatError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The file (as given to the reader) or the name of an in-memory source.
    public var file: String
    /// The 1-based physical line number, or nil for errors about the whole file.
    public var line: Int?
    /// The 1-based field number within the line, or nil when the error concerns the whole line.
    public var field: Int?
    /// The field's name (`I4`, `click`, `index`), if it has one.
    public var fieldName: String?
    /// What was wrong.
    public var detail: String

    /// Creates a data format error.
    public init(file: String, line: Int?, field: Int? = nil, fieldName: String? = nil, detail: String) {
        self.file = file
        self.line = line
        self.field = field
        self.fieldName = fieldName
        self.detail = detail
    }

    public var description: String {
        var text = file
        if let line { text += ":\(line)" }
        text += ": "
        if let field {
            text += "field \(field)"
            if let fieldName { text += " (\(fieldName))" }
            text += ": "
        }
        return text + detail
    }
}

/// What a line format reports about a bad line; the reader adds the file name and line number.
public struct LineFormatError: Error, Hashable, Sendable {
    /// The 1-based field number, or nil when the error concerns the whole line.
    public var field: Int?
    /// The field's name, if it has one.
    public var fieldName: String?
    /// What was wrong.
    public var detail: String

    /// Creates a line format error.
    public init(field: Int? = nil, fieldName: String? = nil, detail: String) {
        self.field = field
        self.fieldName = fieldName
        self.detail = detail
    }

    /// `detail` of the form `expected <what>, found "<bytes>"`, quoting at most 40 bytes of the input.
    public init(field: Int?, fieldName: String?, expected: String, found bytes: UnsafeRawBufferPointer) {
        let shown = bytes.prefix(40)
        var text = String(decoding: shown, as: UTF8.self)
        if bytes.count > shown.count { text += "…" }
        self.init(field: field, fieldName: fieldName, detail: "expected \(expected), found \"\(text)\"")
    }
}
