import Yams

/// Reads typed fields out of a composed YAML tree, turning every surprise into a ``TopologyError``
/// that names the file, the line and column of the offending node, and the field path.
///
/// It also records where each field it reads was written, so that later validation of the built
/// ``Topology`` can point at the same places.
struct YAMLFieldReader {
    /// The file name errors report.
    let file: String
    /// Where each field path was written.
    private(set) var locations: [String: TopologyLocation] = [:]

    init(file: String) {
        self.file = file
    }

    /// The keys of one mapping with their nodes, in document order; null values count as absent.
    struct Fields {
        let path: String
        let location: TopologyLocation
        fileprivate var entries: [(key: String, keyLocation: TopologyLocation, value: Node)]

        /// The keys present, in document order.
        var keys: [String] { entries.map(\.key) }

        /// The value of `key`, or `nil` when the key is absent or its value is null.
        func value(_ key: String) -> Node? {
            entries.first { $0.key == key }.map(\.value)
        }

        /// Where `key` itself is written, for errors about its value being absent.
        func keyLocation(_ key: String) -> TopologyLocation? {
            entries.first { $0.key == key }?.keyLocation
        }

        /// The path of field `key` of this mapping.
        func path(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
    }

    func location(of node: Node) -> TopologyLocation {
        guard let mark = node.mark else { return TopologyLocation(file: file, line: 0, column: 0) }
        return TopologyLocation(file: file, line: mark.line, column: mark.column)
    }

    mutating func record(_ node: Node, at path: String) {
        locations[path] = location(of: node)
    }

    func error(_ code: TopologyError.Code, _ node: Node, _ path: String, _ message: String) -> TopologyError {
        TopologyError(code, at: location(of: node), path: path, message: message)
    }

    func wrongType(_ node: Node, _ path: String, expected: String) -> TopologyError {
        error(.wrongType, node, path, "expected \(expected), found \(Self.describe(node))")
    }

    /// A node as error messages show it: scalars quoted as written, containers by kind.
    static func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar):
            return isNull(scalar) ? "nothing" : "\"\(scalar.string)\""
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    /// Whether a scalar is YAML's null: `~`, `null`, or nothing at all after the colon.
    static func isNull(_ scalar: Node.Scalar) -> Bool {
        scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    static func isNull(_ node: Node) -> Bool {
        if case .scalar(let scalar) = node { return isNull(scalar) }
        return false
    }

    /// Opens a mapping, rejecting keys outside `allowed` (unless `allowed` is `nil`: a free map).
    mutating func fields(_ node: Node, _ path: String, allowed: [String]?, expected: String = "a mapping") throws(TopologyError) -> Fields {
        guard case .mapping(let mapping) = node else { throw wrongType(node, path, expected: expected) }
        record(node, at: path)
        var result = Fields(path: path, location: location(of: node), entries: [])
        for (keyNode, value) in mapping {
            guard case .scalar(let keyScalar) = keyNode, !Self.isNull(keyScalar) else {
                throw wrongType(keyNode, path, expected: "a name as key")
            }
            let key = keyScalar.string
            if let allowed, !allowed.contains(key) {
                throw error(
                    .unknownKey, keyNode, result.path(key),
                    "unknown key" + (NameSuggestion.closest(to: key, among: allowed).map { "; did you mean \"\($0)\"?" }
                        ?? " (expected one of \(allowed.joined(separator: ", ")))"))
            }
            if !Self.isNull(value) {
                result.entries.append((key, location(of: keyNode), value))
            }
        }
        return result
    }

    /// Throws a ``TopologyError/Code/missing`` error for `key` of `fields`, at the key when it is
    /// written without a value, at the mapping otherwise.
    func missing(_ fields: Fields, _ key: String, what: String) -> TopologyError {
        TopologyError(
            .missing, at: fields.keyLocation(key) ?? fields.location, path: fields.path(key),
            message: "required \(what) is missing")
    }

    /// The text of a scalar, quoted or not.
    mutating func text(_ node: Node, _ path: String, expected: String = "text") throws(TopologyError) -> String {
        guard case .scalar(let scalar) = node else { throw wrongType(node, path, expected: expected) }
        record(node, at: path)
        return scalar.string
    }

    /// An unquoted scalar, for numbers and flags: a quoted `"5"` is text, not a number.
    private func plainText(_ node: Node) -> String? {
        guard case .scalar(let scalar) = node, scalar.style == .plain else { return nil }
        return scalar.string
    }

    mutating func int(_ node: Node, _ path: String, expected: String) throws(TopologyError) -> Int {
        guard let text = plainText(node), let value = ScalarSyntax.int(text) else {
            throw wrongType(node, path, expected: expected)
        }
        record(node, at: path)
        return value
    }

    mutating func uint64(_ node: Node, _ path: String, expected: String) throws(TopologyError) -> UInt64 {
        guard let text = plainText(node), let value = ScalarSyntax.uint64(text) else {
            throw wrongType(node, path, expected: expected)
        }
        record(node, at: path)
        return value
    }

    mutating func double(_ node: Node, _ path: String, expected: String = "a number") throws(TopologyError) -> Double {
        guard let text = plainText(node), let value = ScalarSyntax.double(text) else {
            throw wrongType(node, path, expected: expected)
        }
        record(node, at: path)
        return value
    }

    mutating func duration(_ node: Node, _ path: String) throws(TopologyError) -> Duration {
        guard let text = plainText(node), let value = DurationText.parse(text) else {
            throw wrongType(node, path, expected: DurationText.expectation)
        }
        record(node, at: path)
        return value
    }

    /// One of `names`, with a "did you mean" hint when the text is close to one of them.
    mutating func choice(_ node: Node, _ path: String, among names: [String]) throws(TopologyError) -> String {
        let expected = "one of \(names.joined(separator: ", "))"
        let text = try text(node, path, expected: expected)
        guard names.contains(text) else {
            throw error(
                .invalidValue, node, path,
                "expected \(expected), found \(Self.describe(node))" + NameSuggestion.hint(for: text, among: names))
        }
        return text
    }

    /// A free parameter: unquoted scalars read as flags and numbers, everything else as text.
    mutating func parameter(_ node: Node, _ path: String) throws(TopologyError) -> ParameterValue {
        guard case .scalar(let scalar) = node else {
            throw wrongType(node, path, expected: "a string, number or boolean")
        }
        record(node, at: path)
        return scalar.style == .plain ? ParameterValue(inferringTypeOf: scalar.string) : .string(scalar.string)
    }

    /// The items of a list.
    mutating func list(_ node: Node, _ path: String, expected: String) throws(TopologyError) -> [Node] {
        guard case .sequence(let sequence) = node else { throw wrongType(node, path, expected: expected) }
        record(node, at: path)
        return Array(sequence)
    }
}
