/// Updaters by name: the built-in ones plus any a program registers before it starts a server.
public struct UpdaterRegistry: Sendable {
    /// Makes an updater from its options, or throws a ``StorageError`` naming the bad option.
    public typealias Factory = @Sendable (UpdaterOptions) throws -> any Updater

    private var factories: [String: Factory]

    /// A registry holding `assign`, `add`, `sgd`, `adagrad` and `ftrl`.
    public static let builtIn: UpdaterRegistry = {
        var registry = UpdaterRegistry(empty: ())
        registry.register("assign") { options in
            try options.validate(known: [], updater: "assign")
            return AssignUpdater()
        }
        registry.register("add") { options in
            try options.validate(known: [], updater: "add")
            return AddUpdater()
        }
        registry.register("sgd") { try SGDUpdater(options: $0) }
        registry.register("adagrad") { try AdaGradUpdater(options: $0) }
        registry.register("ftrl") { try FTRLUpdater(options: $0) }
        return registry
    }()

    private init(empty: Void) {
        factories = [:]
    }

    /// Adds (or replaces) the updater called `name`.
    public mutating func register(_ name: String, factory: @escaping Factory) {
        factories[name] = factory
    }

    /// The registered names, sorted.
    public var names: [String] { factories.keys.sorted() }

    /// Makes the updater called `name`, or throws ``ErrorCode/unknownFunction``.
    public func make(_ name: String, options: UpdaterOptions = UpdaterOptions()) throws -> any Updater {
        guard let factory = factories[name] else {
            throw StorageError(
                .unknownFunction, "no updater named '\(name)'; registered: \(names.joined(separator: ", "))")
        }
        return try factory(options)
    }
}
