/// What the workers run: an application kind and a free map of its parameters.
///
/// The topology loader cannot know each application's parameters, so it keeps them untyped and
/// remembers where each was written; the typed accessors then report a wrong type at that place,
/// e.g. `local.yaml:31:11: application.rounds: expected an integer, found "three"`.
public struct ApplicationSpec: Hashable, Sendable {
    /// The program the workers run.
    public var kind: ApplicationKind
    /// The parameters by name, as written.
    public var parameters: [String: ParameterValue]
    /// Where each parameter was set; a parameter without an entry was set on the command line.
    /// Locations are not part of equality: two specs with the same values are the same wherever
    /// they were written.
    public var locations: [String: TopologyLocation]
    /// Where the `application` section starts, for errors about parameters that are missing.
    public var sectionLocation: TopologyLocation

    /// Creates an application specification.
    public init(
        kind: ApplicationKind,
        parameters: [String: ParameterValue] = [:],
        locations: [String: TopologyLocation] = [:],
        sectionLocation: TopologyLocation = .commandLine
    ) {
        self.kind = kind
        self.parameters = parameters
        self.locations = locations
        self.sectionLocation = sectionLocation
    }

    public static func == (lhs: ApplicationSpec, rhs: ApplicationSpec) -> Bool {
        lhs.kind == rhs.kind && lhs.parameters == rhs.parameters
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(kind)
        hasher.combine(parameters)
    }

    /// The text parameter `name`, `nil` when absent; throws when it is not text.
    public func string(_ name: String) throws(TopologyError) -> String? {
        guard let value = parameters[name] else { return nil }
        if case .string(let text) = value { return text }
        throw wrongType(name, expected: "a string", found: value)
    }

    /// The whole-number parameter `name`, `nil` when absent; throws when it is not a whole number
    /// (a real number with no fraction counts, so `1e6` is a million) or lies outside `range`.
    public func int(_ name: String, in range: ClosedRange<Int>? = nil) throws(TopologyError) -> Int? {
        guard let value = parameters[name] else { return nil }
        let expected = range.map { "an integer in \($0.lowerBound)...\($0.upperBound)" } ?? "an integer"
        let whole: Int
        switch value {
        case .int(let number):
            whole = number
        case .double(let number) where number.rounded() == number && abs(number) < 0x1p63:
            whole = Int(number)
        default:
            throw wrongType(name, expected: expected, found: value)
        }
        if let range, !range.contains(whole) {
            throw invalid(name, "expected \(expected), found \(whole)")
        }
        return whole
    }

    /// The real-number parameter `name` (whole numbers count), `nil` when absent; throws when it is
    /// not a number or lies outside `range`.
    public func double(_ name: String, in range: ClosedRange<Double>? = nil) throws(TopologyError) -> Double? {
        guard let value = parameters[name] else { return nil }
        let expected = range.map { "a number in \($0.lowerBound)...\($0.upperBound)" } ?? "a number"
        let real: Double
        switch value {
        case .int(let number): real = Double(number)
        case .double(let number): real = number
        default: throw wrongType(name, expected: expected, found: value)
        }
        if let range, !range.contains(real) {
            throw invalid(name, "expected \(expected), found \(value)")
        }
        return real
    }

    /// The flag parameter `name`, `nil` when absent; throws when it is not `true` or `false`.
    public func bool(_ name: String) throws(TopologyError) -> Bool? {
        guard let value = parameters[name] else { return nil }
        if case .bool(let flag) = value { return flag }
        throw wrongType(name, expected: "a boolean (true or false)", found: value)
    }

    /// Where parameter `name` was set: its place in the file, the command line, or the start of the
    /// `application` section when it is not set at all.
    public func location(of name: String) -> TopologyLocation {
        if let location = locations[name] { return location }
        return parameters[name] == nil ? sectionLocation : .commandLine
    }

    /// An error about parameter `name` at ``location(of:)``, for checks only the application can make.
    public func invalid(_ name: String, _ message: String) -> TopologyError {
        TopologyError(.invalidValue, at: location(of: name), path: "application.\(name)", message: message)
    }

    /// An error saying that the application needs parameter `name`.
    public func missing(_ name: String, expected: String) -> TopologyError {
        TopologyError(
            .missing, at: sectionLocation, path: "application.\(name)",
            message: "required parameter is missing (expected \(expected))")
    }

    private func wrongType(_ name: String, expected: String, found value: ParameterValue) -> TopologyError {
        TopologyError(
            .wrongType, at: location(of: name), path: "application.\(name)",
            message: "expected \(expected), found \(value)")
    }
}
