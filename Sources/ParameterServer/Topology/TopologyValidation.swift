extension Topology {
    /// The ports a node may bind; 0 asks the system for an ephemeral one.
    public static let portLimits = 0...65535
    /// The tokens a server may place on the hash ring (`servers.virtual_nodes`).
    public static let virtualNodesLimits = 1...1024
    static let virtualNodesExpectation = "an integer in \(virtualNodesLimits)"

    /// Checks every rule a topology must follow and throws the first violation, located where the
    /// offending field was written (see ``locations``). The loader and ``withOverrides(_:updaters:)``
    /// both end here, so a rule lives in one place however the topology was made.
    ///
    /// - Parameter updaters: the updater names tables may use; the registry of the running program.
    public func validate(updaters: [String] = TableSpec.standardUpdaters) throws(TopologyError) {
        try validateRole(manager, section: "manager", counted: false)
        try validateRole(servers, section: "servers", counted: true)
        try validateRole(workers, section: "workers", counted: true)
        try validatePortsDisjoint()
        try validateSecurity()

        if keySpace < UInt64(servers.count) {
            throw problem(
                .invalidValue, "key_space",
                "expected at least one key per server (\(servers.count) servers), found \(keySpace)")
        }

        if !Self.virtualNodesLimits.contains(servers.virtualNodes) {
            throw problem(
                .invalidValue, "servers.virtual_nodes", "expected \(Self.virtualNodesExpectation), found \(servers.virtualNodes)")
        }

        if replication < 0 {
            throw problem(.invalidValue, "replication", "expected an integer >= 0, found \(replication)")
        }
        if replication > 0, servers.count < replication + 1 {
            throw problem(
                .invalidValue, "replication",
                "replication \(replication) keeps \(replication + 1) copies of every range, "
                    + "which needs at least \(replication + 1) servers, found \(servers.count)")
        }

        if tables.isEmpty {
            throw problem(.missing, "tables", "expected at least one table")
        }
        var firstIndexByID: [UInt32: Int] = [:]
        var firstIndexByName: [String: Int] = [:]
        for (index, table) in tables.enumerated() {
            try validateTable(table, path: "tables[\(index)]", updaters: updaters)
            if let first = firstIndexByName[table.name] {
                throw problem(
                    .duplicate, "tables[\(index)].name",
                    "duplicate table name \"\(table.name)\" (tables[\(first)] has it too)")
            }
            if let first = firstIndexByID[table.id] {
                throw problem(
                    .duplicate, "tables[\(index)].id", "duplicate table id \(table.id) (tables[\(first)] has it too)")
            }
            firstIndexByName[table.name] = index
            firstIndexByID[table.id] = index
        }

        for (name, value) in deadlines.named where value <= .zero {
            throw problem(
                .invalidValue, "deadlines.\(name)", "expected a positive duration, found \(DurationText.format(value))")
        }
        if deadlines.heartbeatTimeout <= deadlines.heartbeatInterval {
            throw problem(
                .invalidValue, "deadlines.heartbeat_timeout",
                "expected a duration longer than heartbeat_interval (\(DurationText.format(deadlines.heartbeatInterval))), "
                    + "found \(DurationText.format(deadlines.heartbeatTimeout))")
        }
    }

    /// How many nodes a role may have.
    static let countLimits = 1...100_000

    private func validateRole(_ role: RoleSpec, section: String, counted: Bool) throws(TopologyError) {
        let hosts = role.hosts.isEmpty ? [("\(section).host", role.host)] : role.hosts.enumerated().map { ("\(section).hosts[\($0)]", $1) }
        for (path, host) in hosts {
            if host.isEmpty {
                throw problem(.invalidValue, path, "expected a host name or address, found \"\"")
            }
            let unplaced = host.replacingOccurrences(of: RoleSpec.rankPlaceholder, with: "")
            if unplaced.contains("{") || unplaced.contains("}") {
                throw problem(
                    .invalidValue, path,
                    counted
                        ? "expected a host name with no placeholder but \(RoleSpec.rankPlaceholder), found \"\(host)\""
                        : "expected a host name or address (the manager has no rank to place), found \"\(host)\"")
            }
            if !counted, host != unplaced {
                throw problem(.invalidValue, path, "expected a host name or address (the manager has no rank to place), found \"\(host)\"")
            }
        }
        if let bind = role.bindAddress, bind.isEmpty {
            throw problem(.invalidValue, "\(section).bind", "expected an address or interface to bind, found \"\"")
        }
        if counted {
            if !Self.countLimits.contains(role.count) {
                throw problem(
                    .invalidValue, "\(section).count",
                    "expected an integer in \(Self.countLimits.lowerBound)...\(Self.countLimits.upperBound), found \(role.count)")
            }
        } else if role.count != 1 {
            throw problem(.invalidValue, "\(section).count", "expected exactly one \(section), found \(role.count)")
        }
        if !Self.portLimits.contains(role.port) {
            throw problem(.invalidValue, "\(section).port", "expected a port in 0...65535, found \(role.port)")
        }
        if let highest = role.addresses.map(\.port).max(), highest > Self.portLimits.upperBound {
            throw problem(
                .invalidValue, "\(section).port",
                "expected the ports of all \(role.count) ranks to stay within 65535, found \(role.port)...\(highest)")
        }
    }

    // Two roles with fixed ports on one host would fail to bind at startup; say so while the file is open.
    private func validatePortsDisjoint() throws(TopologyError) {
        let roles: [(section: String, spec: RoleSpec)] = [("manager", manager), ("servers", servers), ("workers", workers)]
        var owners: [String: String] = [:]
        for (section, spec) in roles {
            for (rank, address) in spec.addresses.enumerated() {
                let endpoint = RoleSpec.endpoint(host: address.host, port: address.port)
                let name = spec.count > 1 || section != "manager" ? "\(section) rank \(rank)" : section
                if let owner = owners[endpoint] {
                    throw problem(
                        .duplicate, "\(section).port",
                        "\(name) would bind port \(address.port) on host \(address.host), which \(owner) binds")
                }
                owners[endpoint] = name
            }
        }
    }

    private func validateTable(_ table: TableSpec, path: String, updaters: [String]) throws(TopologyError) {
        if table.name.isEmpty {
            throw problem(.invalidValue, "\(path).name", "expected a non-empty name, found \"\"")
        }
        if !TableSpec.valueLengthLimits.contains(table.valueLength) {
            throw problem(
                .invalidValue, "\(path).value_length", "expected an integer in 1...65536, found \(table.valueLength)")
        }
        if !updaters.contains(table.updater) {
            throw problem(
                .invalidValue, "\(path).updater",
                "expected one of \(updaters.joined(separator: ", ")), found \"\(table.updater)\""
                    + NameSuggestion.hint(for: table.updater, among: updaters))
        }
        for (option, value) in table.updaterOptions.sorted(by: { $0.key < $1.key }) where !value.isFinite {
            throw problem(.invalidValue, "\(path).updater_options.\(option)", "expected a finite number, found \(value)")
        }
        if let maxDelay = table.consistency.maxDelay, maxDelay < 0 {
            throw problem(.invalidValue, "\(path).max_delay", "expected an integer >= 0, found \(maxDelay)")
        }
        try validateFilters(table.filters, path: "\(path).filters")
        if table.consistency == .bsp, table.filters.significantlyModifiedThreshold != nil {
            // The filter holds changes back past the iteration they belong to, which BSP forbids.
            throw problem(
                .conflict, "\(path).filters.significantly_modified",
                "a bsp table applies each iteration's pushes together; the significantly-modified filter would carry changes into later iterations")
        }
    }

    private func validateFilters(_ filters: FilterSettings, path: String) throws(TopologyError) {
        if filters.keyCacheBytes < FilterSettings.minimumKeyCacheBytes {
            throw problem(
                .invalidValue, "\(path).key_cache_bytes",
                "expected at least \(FilterSettings.minimumKeyCacheBytes) bytes, found \(filters.keyCacheBytes)")
        }
        if filters.compressionThreshold < 0 {
            throw problem(
                .invalidValue, "\(path).compression_threshold", "expected a size >= 0, found \(filters.compressionThreshold)")
        }
        for (key, value) in [("significantly_modified", filters.significantlyModifiedThreshold), ("kkt", filters.kktLambda)] {
            if let value, !(value.isFinite && value >= 0) {
                throw problem(.invalidValue, "\(path).\(key)", "expected a finite number >= 0, found \(value)")
            }
        }
    }

    private func problem(_ code: TopologyError.Code, _ path: String, _ message: String) -> TopologyError {
        TopologyError(code, at: location(of: path), path: path, message: message)
    }
}
