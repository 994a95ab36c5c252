/// A server-side user-defined function that folds pushed values into stored ones.
///
/// Updaters are registered by name in an ``UpdaterRegistry`` and chosen per table in the topology
/// (`updater: ftrl`) or per push (header field `u`). An updater sees one stored value at a time
/// together with `stateWidth` floats of its own per-value state (AdaGrad's accumulator, FTRL's `z`
/// and `n`), so the store can keep weights and state in contiguous arrays and pulls stay plain gathers.
public protocol Updater: Sendable {
    /// The name topologies and push headers use.
    var name: String { get }
    /// Floats of per-value state the updater keeps beside each stored value (0 for none).
    var stateWidth: Int { get }
    /// Folds `incoming` into `value`, reading and updating this value's `state`.
    func update(_ value: inout Float, state: UnsafeMutablePointer<Float>, incoming: Float)
    /// Applies `count` incoming values to `count` stored values laid out contiguously; `state` holds
    /// `count * stateWidth` floats. The default loops over ``update(_:state:incoming:)``; the
    /// compiler specialises it per updater, so the loop has no dynamic dispatch per value.
    func apply(
        values: UnsafeMutablePointer<Float>, state: UnsafeMutablePointer<Float>?,
        incoming: UnsafeRawPointer, count: Int)
}

extension Updater {
    @inlinable
    public func apply(
        values: UnsafeMutablePointer<Float>, state: UnsafeMutablePointer<Float>?,
        incoming: UnsafeRawPointer, count: Int
    ) {
        let width = stateWidth
        if width == 0 {
            var scratch: Float = 0
            for i in 0..<count {
                update(&values[i], state: &scratch, incoming: incoming.loadUnaligned(fromByteOffset: 4 * i, as: Float.self))
            }
        } else {
            let state = state!
            for i in 0..<count {
                update(&values[i], state: state + i * width, incoming: incoming.loadUnaligned(fromByteOffset: 4 * i, as: Float.self))
            }
        }
    }
}

/// Numeric hyper-parameters of an updater, from the topology's `updater_options` map.
public struct UpdaterOptions: Sendable, Hashable {
    /// The values by name.
    public var values: [String: Double]

    /// Wraps a map of options.
    public init(_ values: [String: Double] = [:]) {
        self.values = values
    }

    /// The option `name`, or `defaultValue` when it is not given.
    public func value(_ name: String, default defaultValue: Double) -> Double {
        values[name] ?? defaultValue
    }

    /// Throws when the map holds an option that is not in `known`, naming it and the updater.
    public func validate(known: Set<String>, updater: String) throws {
        for key in values.keys.sorted() where !known.contains(key) {
            throw StorageError(
                .unknownFunction,
                "updater '\(updater)' has no option '\(key)'; it takes \(known.sorted().joined(separator: ", "))"
                    + NameSuggestion.hint(for: key, among: known.sorted()))
        }
    }
}

/// A store or updater failure, with the wire error code it is reported under.
public struct StorageError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The error code an error reply carries.
    public var code: ErrorCode
    /// What went wrong.
    public var message: String

    /// Creates a storage error.
    public init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
