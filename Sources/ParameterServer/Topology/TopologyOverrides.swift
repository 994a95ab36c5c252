/// Changes the command line makes to a loaded topology, e.g. `--workers 4 --set rounds=10`;
/// fields left `nil` keep the file's value.
public struct TopologyOverrides: Hashable, Sendable {
    /// The manager's host, e.g. when `zps run` hands the others the address it actually bound.
    public var managerHost: String?
    /// The manager's port, e.g. the ephemeral port the manager reported to `zps run`.
    public var managerPort: Int?
    /// The number of servers.
    public var serverCount: Int?
    /// The number of workers.
    public var workerCount: Int?
    /// The key space.
    public var keySpace: UInt64?
    /// How many servers keep a copy of each range besides its primary.
    public var replication: Int?
    /// Application parameters to add or replace.
    public var applicationParameters: [String: ParameterValue]
    /// Application parameters to remove, written `NAME=` with no value.
    public var removedApplicationParameters: Set<String> = []

    /// Creates overrides; by default none.
    public init(
        managerHost: String? = nil,
        managerPort: Int? = nil,
        serverCount: Int? = nil,
        workerCount: Int? = nil,
        keySpace: UInt64? = nil,
        replication: Int? = nil,
        applicationParameters: [String: ParameterValue] = [:]
    ) {
        self.managerHost = managerHost
        self.managerPort = managerPort
        self.serverCount = serverCount
        self.workerCount = workerCount
        self.keySpace = keySpace
        self.replication = replication
        self.applicationParameters = applicationParameters
    }

    /// Adds the application parameter written as `NAME=VALUE`; the value reads as it would in the
    /// file (see ``ParameterValue/init(inferringTypeOf:)``). `NAME=` with no value removes the
    /// parameter, so that it takes its default.
    public mutating func setApplicationParameter(_ assignment: String) throws(TopologyError) {
        guard let equals = assignment.firstIndex(of: "="), equals != assignment.startIndex else {
            throw TopologyError(
                .wrongType, at: .commandLine, path: "application",
                message: "expected NAME=VALUE, found \"\(assignment)\"")
        }
        let name = String(assignment[..<equals])
        let value = String(assignment[assignment.index(after: equals)...])
        if value.isEmpty {
            applicationParameters[name] = nil
            removedApplicationParameters.insert(name)
        } else {
            applicationParameters[name] = ParameterValue(inferringTypeOf: value)
            removedApplicationParameters.remove(name)
        }
    }
}

extension Topology {
    /// This topology with `overrides` applied and validated again; errors about overridden fields
    /// point at the command line.
    ///
    /// - Parameter updaters: the updater names tables may use (the registry of the running program).
    public func withOverrides(
        _ overrides: TopologyOverrides, updaters: [String] = TableSpec.standardUpdaters
    ) throws(TopologyError) -> Topology {
        var result = self
        func set<Value>(_ value: Value?, _ field: WritableKeyPath<Topology, Value>, path: String) {
            guard let value else { return }
            result[keyPath: field] = value
            result.locations[path] = .commandLine
        }
        set(overrides.managerHost, \.manager.host, path: "manager.host")
        set(overrides.managerPort, \.manager.port, path: "manager.port")
        set(overrides.serverCount, \.servers.count, path: "servers.count")
        set(overrides.workerCount, \.workers.count, path: "workers.count")
        set(overrides.keySpace, \.keySpace, path: "key_space")
        set(overrides.replication, \.replication, path: "replication")
        for (name, value) in overrides.applicationParameters {
            if name == "kind" {
                throw TopologyError(
                    .invalidValue, at: .commandLine, path: "application.kind",
                    message: "the application kind is set in the topology file, not by a parameter")
            }
            result.application.parameters[name] = value
            result.application.locations[name] = nil
        }
        for name in overrides.removedApplicationParameters {
            result.application.parameters[name] = nil
            result.application.locations[name] = nil
        }
        try result.validate(updaters: updaters)
        return result
    }
}
