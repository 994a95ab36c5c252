/// A server-side user-defined function that a worker runs on every stored value of a key range
/// (message kind ``MessageKind/rangeFunction``), such as scaling the weights or a proximal step.
///
/// Registered by name in a ``RangeFunctionRegistry``; the request's arguments (header field `a`)
/// are checked when the function is made, so a bad call changes nothing.
public protocol RangeFunction: Sendable {
    /// The name requests use (header field `u`).
    var name: String { get }
    /// Changes `values` in place: the stored floats of consecutive keys of the range.
    func apply(to values: UnsafeMutableBufferPointer<Float>)
}

/// `scale [factor]`: multiplies every value by `factor`.
public struct ScaleFunction: RangeFunction {
    /// The factor.
    public var factor: Float
    /// Creates the function.
    public init(factor: Float) { self.factor = factor }
    public var name: String { "scale" }
    public func apply(to values: UnsafeMutableBufferPointer<Float>) {
        for index in values.indices { values[index] *= factor }
    }
}

/// `set [value]`: sets every value to `value`.
public struct SetFunction: RangeFunction {
    /// The value written.
    public var value: Float
    /// Creates the function.
    public init(value: Float) { self.value = value }
    public var name: String { "set" }
    public func apply(to values: UnsafeMutableBufferPointer<Float>) {
        values.update(repeating: value)
    }
}

/// `proximal_l1 [threshold]`: the proximal step of an L1 penalty (soft thresholding), moving every
/// value `threshold` towards zero and clamping at zero; `threshold` is the step size times λ.
///
/// On a table whose updater keeps state (AdaGrad, FTRL) this changes the weights only, not the state.
public struct ProximalL1Function: RangeFunction {
    /// How far each value moves towards zero.
    public var threshold: Float
    /// Creates the function.
    public init(threshold: Float) { self.threshold = threshold }
    public var name: String { "proximal_l1" }
    public func apply(to values: UnsafeMutableBufferPointer<Float>) {
        let threshold = self.threshold
        for index in values.indices {
            let value = values[index]
            let shrunk = max(abs(value) - threshold, 0)
            values[index] = value < 0 ? -shrunk : shrunk
        }
    }
}

/// Range functions by name: the built-in ones plus any a program registers before it starts a server.
public struct RangeFunctionRegistry: Sendable {
    /// Makes a function from the request's arguments, or throws a ``StorageError`` naming the problem.
    public typealias Factory = @Sendable ([Double]) throws -> any RangeFunction

    private var factories: [String: Factory] = [:]

    /// A registry holding `scale`, `set` and `proximal_l1`.
    public static let builtIn: RangeFunctionRegistry = {
        var registry = RangeFunctionRegistry()
        registry.register("scale") { ScaleFunction(factor: try single($0, "scale", "factor")) }
        registry.register("set") { SetFunction(value: try single($0, "set", "value")) }
        registry.register("proximal_l1") { arguments in
            let threshold = try single(arguments, "proximal_l1", "threshold")
            guard threshold >= 0 else {
                throw StorageError(.invalidRequest, "range function 'proximal_l1' needs a threshold >= 0, got \(threshold)")
            }
            return ProximalL1Function(threshold: threshold)
        }
        return registry
    }()

    /// An empty registry.
    public init() {}

    /// Adds (or replaces) the function called `name`.
    public mutating func register(_ name: String, factory: @escaping Factory) {
        factories[name] = factory
    }

    /// The registered names, sorted.
    public var names: [String] { factories.keys.sorted() }

    /// Makes the function called `name` with `arguments`, or throws ``ErrorCode/unknownFunction``.
    public func make(_ name: String, arguments: [Double]) throws -> any RangeFunction {
        guard let factory = factories[name] else {
            throw StorageError(
                .unknownFunction, "no range function named '\(name)'; registered: \(names.joined(separator: ", "))")
        }
        return try factory(arguments)
    }

    private static func single(_ arguments: [Double], _ function: String, _ argument: String) throws -> Float {
        guard arguments.count == 1, let value = arguments.first, value.isFinite,
            abs(value) <= Double(Float.greatestFiniteMagnitude)
        else {
            throw StorageError(
                .invalidRequest, "range function '\(function)' takes one finite argument (\(argument)), got \(arguments)")
        }
        return Float(value)
    }
}
