/// One value of an application's free parameter map: text, a whole number, a real number or a flag.
public enum ParameterValue: Hashable, Sendable, CustomStringConvertible {
    /// Text, e.g. a file path.
    case string(String)
    /// A whole number.
    case int(Int)
    /// A real number.
    case double(Double)
    /// A flag.
    case bool(Bool)

    /// Reads `text` the way an unquoted YAML scalar reads: `true`/`false` are flags, integers are
    /// whole numbers, decimals and exponents are real numbers, anything else is text.
    ///
    /// Command-line overrides (`--set rounds=5`) go through here so that they mean what the same
    /// text would mean in the topology file.
    public init(inferringTypeOf text: String) {
        if let flag = ScalarSyntax.bool(text) {
            self = .bool(flag)
        } else if let whole = ScalarSyntax.int(text) {
            self = .int(whole)
        } else if let real = ScalarSyntax.double(text) {
            self = .double(real)
        } else {
            self = .string(text)
        }
    }

    /// The name of the value's type in error messages.
    public var typeName: String {
        switch self {
        case .string: return "a string"
        case .int: return "an integer"
        case .double: return "a number"
        case .bool: return "a boolean"
        }
    }

    /// Text in quotes, everything else as written.
    public var description: String {
        switch self {
        case .string(let text): return "\"\(text)\""
        case .int(let value): return String(value)
        case .double(let value): return String(value)
        case .bool(let value): return String(value)
        }
    }
}
