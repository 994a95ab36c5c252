/// Where a topology value came from: a file position, or the command line (line and column 0).
public struct TopologyLocation: Hashable, Sendable, CustomStringConvertible {
    /// The file as the user named it, or ``TopologyLocation/commandLineFile``.
    public var file: String
    /// The 1-based line, or 0 when the value has no line (command-line overrides).
    public var line: Int
    /// The 1-based column in Unicode scalars, or 0 when the value has no column.
    public var column: Int

    /// Creates a location.
    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    /// The file name given to values set by command-line flags.
    public static let commandLineFile = "command line"

    /// The location of a value set by a command-line flag.
    public static let commandLine = TopologyLocation(file: commandLineFile, line: 0, column: 0)

    /// `FILE:LINE:COLUMN`, or just `FILE` when there is no line.
    public var description: String { line > 0 ? "\(file):\(line):\(column)" : file }
}

/// A topology that could not be read or is not valid: where, which field, and what was expected.
///
/// The description reads like a compiler diagnostic, e.g.
/// `Topologies/bad.yaml:7:19: tables[1].value_length: expected an integer in 1...65536, found "many"`.
public struct TopologyError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of problem this is. A struct rather than an enum so that new codes do not break callers.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        /// A short, stable name.
        public var rawValue: String
        /// Wraps a name.
        public init(rawValue: String) { self.rawValue = rawValue }

        /// The file could not be read.
        public static let unreadable = Code(rawValue: "unreadable")
        /// The text is not valid YAML (or holds more than one document, or a duplicate key).
        public static let syntax = Code(rawValue: "syntax")
        /// A value has the wrong type or shape, e.g. text where an integer belongs.
        public static let wrongType = Code(rawValue: "wrongType")
        /// A key the schema does not know.
        public static let unknownKey = Code(rawValue: "unknownKey")
        /// A required section or field is absent.
        public static let missing = Code(rawValue: "missing")
        /// A value of the right type that is out of range or not one of the allowed names.
        public static let invalidValue = Code(rawValue: "invalidValue")
        /// A table id or name, or a fixed port, used twice.
        public static let duplicate = Code(rawValue: "duplicate")
        /// A field that is not allowed together with another one (e.g. `max_delay` without `bounded_delay`).
        public static let conflict = Code(rawValue: "conflict")
        /// Plaintext where the file must say it accepts it: a bind beyond loopback without
        /// `security: { insecure: true }`.
        public static let insecure = Code(rawValue: "insecure")

        public var description: String { rawValue }
    }

    /// What kind of problem this is.
    public var code: Code
    /// The file as the user named it, or ``TopologyLocation/commandLineFile``.
    public var file: String
    /// The 1-based line of the offending node, or 0 when unknown.
    public var line: Int
    /// The 1-based column of the offending node, or 0 when unknown.
    public var column: Int
    /// The field path, e.g. `tables[1].value_length`; empty for problems with the file as a whole.
    public var path: String
    /// What was expected and what was found.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, file: String, line: Int, column: Int, path: String, message: String) {
        self.code = code
        self.file = file
        self.line = line
        self.column = column
        self.path = path
        self.message = message
    }

    /// Creates an error at `location`.
    public init(_ code: Code, at location: TopologyLocation, path: String, message: String) {
        self.init(code, file: location.file, line: location.line, column: location.column, path: path, message: message)
    }

    /// The position of the error.
    public var location: TopologyLocation { TopologyLocation(file: file, line: line, column: column) }

    /// `FILE:LINE:COLUMN: PATH: MESSAGE`, leaving out the parts that are unknown.
    public var description: String {
        var text = location.description
        if !path.isEmpty { text += ": \(path)" }
        return text + ": \(message)"
    }
}
