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

    /// Throws for the first parameter, in the order written, that is not in `known`: a misspelt
    /// parameter must not silently leave its default in place. The error suggests the closest known
    /// name, e.g. `local.yaml:38:10: application.epoch: unknown parameter of sparse_lr; did you mean "epochs"?`;
    /// a topology field given as a parameter (`--set workers=3`) names the flag that overrides it.
    public func checkParameterNames(known: [String]) throws(TopologyError) {
        let unknown = parameters.keys.filter { !known.contains($0) }.sorted { a, b in
            let (left, right) = (location(of: a), location(of: b))
            return (left.line, left.column, a) < (right.line, right.column, b)
        }
        guard let name = unknown.first else { return }
        var message = "unknown parameter of \(kind.rawValue)"
        if let flag = Self.topologyFieldFlags[name] {
            message += "; \(name) is a topology field, set with \(flag)"
        } else if let suggestion = NameSuggestion.closest(to: name, among: known) {
            message += "; did you mean \"\(suggestion)\"?"
        } else {
            message += " (expected one of \(known.joined(separator: ", ")))"
        }
        throw TopologyError(.unknownKey, at: location(of: name), path: "application.\(name)", message: message)
    }

    /// Topology fields that the command line overrides with flags of their own, by the names a
    /// user may try as parameters.
    static let topologyFieldFlags = [
        "servers": "--servers N", "workers": "--workers N", "key_space": "--key-space N",
        "manager_host": "--manager-host HOST", "manager_port": "--manager-port PORT",
    ]

    /// `path` as parameter `name` means it: a path written in a topology file is relative to that
    /// file's directory, one given on the command line to the working directory.
    public func resolvedPath(_ path: String, of name: String) -> String {
        let file = locations[name]?.file ?? TopologyLocation.commandLineFile
        guard !path.hasPrefix("/"), file != TopologyLocation.commandLineFile,
              let slash = file.lastIndex(of: "/")
        else { return path }
        return String(file[...slash]) + path
    }

    private func wrongType(_ name: String, expected: String, found value: ParameterValue) -> TopologyError {
        TopologyError(
            .wrongType, at: location(of: name), path: "application.\(name)",
            message: "expected \(expected), found \(value)")
    }
}
