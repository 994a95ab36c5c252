import Foundation
import Yams

extension Topology {
    /// Reads and validates the topology file at `path`. Errors name `path` as the user wrote it.
    ///
    /// - Parameter updaters: the updater names tables may use (the registry of the running program).
    public static func load(path: String, updaters: [String] = TableSpec.standardUpdaters) throws(TopologyError) -> Topology {
        let yaml: String
        do {
            yaml = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw TopologyError(
                .unreadable, file: path, line: 0, column: 0, path: "",
                message: "cannot read the file: \(error.localizedDescription)")
        }
        return try parse(yaml: yaml, file: path, updaters: updaters)
    }

    /// Parses and validates a topology written in YAML. `file` is the name errors report.
    ///
    /// - Parameter updaters: the updater names tables may use (the registry of the running program).
    public static func parse(
        yaml: String, file: String, updaters: [String] = TableSpec.standardUpdaters
    ) throws(TopologyError) -> Topology {
        let root: Node
        do {
            guard let document = try Yams.compose(yaml: yaml, .default, .default, .utf8) else {
                throw TopologyError(.missing, file: file, line: 1, column: 1, path: "", message: "the file holds no topology")
            }
            root = document
        } catch let error as TopologyError {
            throw error
        } catch let error as YamlError {
            throw TopologyError(syntax: error, file: file)
        } catch {
            throw TopologyError(.syntax, file: file, line: 0, column: 0, path: "", message: "invalid YAML: \(error)")
        }
        var decoder = TopologyDecoder(file: file)
        let topology = try decoder.topology(root)
        try topology.validate(updaters: updaters)
        return topology
    }
}

/// Builds a ``Topology`` from a composed YAML tree, section by section; the schema lives here
/// and in Topologies/README.md.
private struct TopologyDecoder {
    var reader: YAMLFieldReader

    init(file: String) {
        reader = YAMLFieldReader(file: file)
    }

    static let sections = [
        "name", "manager", "servers", "workers", "key_space", "replication", "tables", "deadlines", "application",
        "security", "peer_limits",
    ]
    static let tableKeys = ["name", "id", "value_length", "updater", "updater_options", "consistency", "max_delay", "filters"]
    static let filterKeys = [
        "key_caching", "key_cache_bytes", "compression", "compression_threshold", "significantly_modified", "kkt",
        "quantization",
    ]
    static let deadlineKeys = Deadlines.standard.named.map(\.name)
    static let keySpaceExpectation = "an integer in 1...\(UInt64.max)"

    mutating func topology(_ root: Node) throws(TopologyError) -> Topology {
        let fields = try reader.fields(root, "", allowed: Self.sections, expected: "a mapping of topology sections")

        let name = try fields.value("name").map { node throws(TopologyError) in try reader.text(node, "name") }
            ?? Self.fileStem(reader.file)

        let manager = try fields.value("manager").map { node throws(TopologyError) in
            try role(node, section: "manager", counted: false)
        } ?? RoleSpec()
        guard let serversNode = fields.value("servers") else { throw reader.missing(fields, "servers", what: "section") }
        let servers = try role(serversNode, section: "servers", counted: true)
        guard let workersNode = fields.value("workers") else { throw reader.missing(fields, "workers", what: "section") }
        let workers = try role(workersNode, section: "workers", counted: true)

        let keySpace = try fields.value("key_space").map { node throws(TopologyError) in
            try reader.uint64(node, "key_space", expected: Self.keySpaceExpectation)
        } ?? Topology.wholeKeySpace
        let replication = try fields.value("replication").map { node throws(TopologyError) in
            try reader.int(node, "replication", expected: "an integer >= 0")
        } ?? 0


        guard let tablesNode = fields.value("tables") else { throw reader.missing(fields, "tables", what: "section") }
        var tables: [TableSpec] = []
        for (index, node) in try reader.list(tablesNode, "tables", expected: "a list of tables").enumerated() {
            tables.append(try table(node, index: index))
        }

        let deadlines = try fields.value("deadlines").map { node throws(TopologyError) in try self.deadlines(node) }
            ?? .standard

        guard let applicationNode = fields.value("application") else {
            throw reader.missing(fields, "application", what: "section")
        }
        let application = try application(applicationNode)
        let security = try fields.value("security").map { node throws(TopologyError) in try reader.security(node) }
            ?? SecuritySpec()

        let peerLimits = try fields.value("peer_limits").map { node throws(TopologyError) in try reader.peerLimits(node) }
            ?? .default

        var topology = Topology(
            name: name, manager: manager, servers: servers, workers: workers, keySpace: keySpace,
            replication: replication, tables: tables, deadlines: deadlines,
            application: application, security: security, locations: reader.locations)
        topology.peerLimits = peerLimits
        topology.locations = reader.locations
        return topology
    }

    /// Reads a role section.
    private mutating func role(
        _ node: Node, section: String, counted: Bool
    ) throws(TopologyError) -> RoleSpec {
        // The manager waits on all its sockets, never on one alone, so it has nothing to busy-poll.
        let allowed = (counted ? ["count", "busy_poll", "hosts"] : []) + ["host", "bind", "port", "cpus", "scheduling"]
            + (section == "servers" ? ["virtual_nodes"] : [])
        let fields = try reader.fields(node, section, allowed: allowed)
        var spec = RoleSpec()
        if counted {
            guard let countNode = fields.value("count") else { throw reader.missing(fields, "count", what: "field") }
            spec.count = try reader.int(countNode, "\(section).count", expected: "an integer in 1...100000")
        }
        if let host = fields.value("host") {
            spec.host = try reader.text(host, "\(section).host", expected: "a host name or address")
        }
        if let hosts = fields.value("hosts") {
            let path = "\(section).hosts"
            if fields.value("host") != nil {
                throw reader.error(.invalidValue, hosts, path, "give host or hosts, not both")
            }
            let expected = "a list of host names or addresses"
            let entries = try reader.list(hosts, path, expected: expected)
            guard !entries.isEmpty else { throw reader.error(.invalidValue, hosts, path, "expected \(expected), found an empty list") }
            for (index, entry) in entries.enumerated() {
                spec.hosts.append(try reader.text(entry, "\(path)[\(index)]", expected: "a host name or address"))
            }
        }
        if let bind = fields.value("bind") {
            spec.bindAddress = try reader.text(bind, "\(section).bind", expected: "an address or interface to bind")
        }
        if let port = fields.value("port") {
            spec.port = try reader.int(port, "\(section).port", expected: "a port in 0...65535")
        }
        if let cpus = fields.value("cpus") {
            if case .scalar(let scalar) = cpus, scalar.string == "auto" {
                spec.spreadsOverCPUs = true
            } else {
                spec.cpus = try cpuList(cpus, path: "\(section).cpus")
            }
        }
        if let scheduling = fields.value("scheduling") {
            let path = "\(section).scheduling"
            let expected = SchedulingPolicy.allCases.map(\.rawValue).joined(separator: " or ")
            let text = try reader.text(scheduling, path, expected: expected)
            guard let policy = SchedulingPolicy(rawValue: text) else {
                throw reader.error(.invalidValue, scheduling, path, "expected \(expected), found \"\(text)\"")
            }
            spec.scheduling = policy
        }
        if let busyPoll = fields.value("busy_poll") {
            spec.busyPoll = try reader.duration(busyPoll, "\(section).busy_poll")
        }
        if let virtualNodes = fields.value("virtual_nodes") {
            spec.virtualNodes = try reader.int(virtualNodes, "\(section).virtual_nodes", expected: Topology.virtualNodesExpectation)
        }
        return spec
    }

    private mutating func cpuList(_ node: Node, path: String) throws(TopologyError) -> [Int] {
        var cpus: [Int] = []
        let expected = "a list of CPU numbers (integers >= 0) or auto"
        for (index, entry) in try reader.list(node, path, expected: expected).enumerated() {
            let entryPath = "\(path)[\(index)]"
            let cpu = try reader.int(entry, entryPath, expected: "a CPU number (an integer >= 0)")
            guard cpu >= 0 else {
                throw reader.error(.invalidValue, entry, entryPath, "expected a CPU number (an integer >= 0), found \(cpu)")
            }
            cpus.append(cpu)
        }
        return cpus
    }

    private mutating func table(_ node: Node, index: Int) throws(TopologyError) -> TableSpec {
        let path = "tables[\(index)]"
        let fields = try reader.fields(node, path, allowed: Self.tableKeys, expected: "a table (a mapping)")
        guard let nameNode = fields.value("name") else { throw reader.missing(fields, "name", what: "field") }
        var table = TableSpec(name: try reader.text(nameNode, "\(path).name"), id: UInt32(index))
        if let id = fields.value("id") {
            let value = try reader.uint64(id, "\(path).id", expected: "an integer in 0...\(UInt32.max)")
            guard let narrow = UInt32(exactly: value) else {
                throw reader.error(.invalidValue, id, "\(path).id", "expected an integer in 0...\(UInt32.max), found \(value)")
            }
            table.id = narrow
        }
        if let valueLength = fields.value("value_length") {
            table.valueLength = try reader.int(valueLength, "\(path).value_length", expected: "an integer in 1...65536")
        }
        if let updater = fields.value("updater") {
            table.updater = try reader.text(updater, "\(path).updater", expected: "an updater name")
        }
        if let options = fields.value("updater_options") {
            let optionFields = try reader.fields(
                options, "\(path).updater_options", allowed: nil, expected: "a mapping of option names to numbers")
            for key in optionFields.keys {
                table.updaterOptions[key] = try reader.double(optionFields.value(key)!, optionFields.path(key))
            }
        }

        let consistencyName = try fields.value("consistency").map { node throws(TopologyError) in
            try reader.choice(node, "\(path).consistency", among: ConsistencyModel.names)
        } ?? ConsistencyModel.eventual.name
        let maxDelay = try fields.value("max_delay").map { node throws(TopologyError) in
            try reader.int(node, "\(path).max_delay", expected: "an integer >= 0")
        }
        switch consistencyName {
        case "sequential": table.consistency = .sequential
        case "bsp": table.consistency = .bsp
        case "bounded_delay":
            guard let maxDelay else {
                throw TopologyError(
                    .missing, at: fields.keyLocation("consistency") ?? fields.location, path: "\(path).max_delay",
                    message: "required field is missing (consistency bounded_delay needs the delay bound)")
            }
            table.consistency = .boundedDelay(maxDelay: maxDelay)
        default: table.consistency = .eventual
        }
        if maxDelay != nil, table.consistency.maxDelay == nil {
            throw reader.error(
                .conflict, fields.value("max_delay")!, "\(path).max_delay",
                "only allowed with consistency bounded_delay, found consistency \(consistencyName)")
        }
        if let filters = fields.value("filters") {
            table.filters = try self.filters(filters, path: "\(path).filters")
        }
        return table
    }

    /// A table's `filters:` mapping; ranges are checked by ``Topology/validate(updaters:)``.
    private mutating func filters(_ node: Node, path: String) throws(TopologyError) -> FilterSettings {
        let fields = try reader.fields(node, path, allowed: Self.filterKeys, expected: "a mapping of filter settings")
        var filters = FilterSettings()
        func flag(_ key: String) throws(TopologyError) -> Bool? {
            guard let node = fields.value(key) else { return nil }
            return try reader.choice(node, fields.path(key), among: ["true", "false"]) == "true"
        }
        func number(_ key: String) throws(TopologyError) -> Double? {
            guard let node = fields.value(key) else { return nil }
            return try reader.double(node, fields.path(key))
        }
        func count(_ key: String) throws(TopologyError) -> Int? {
            guard let node = fields.value(key) else { return nil }
            return try reader.int(node, fields.path(key), expected: "a number of bytes")
        }
        filters.keyCaching = try flag("key_caching") ?? false
        filters.keyCacheBytes = try count("key_cache_bytes") ?? FilterSettings.defaultKeyCacheBytes
        filters.compression = try flag("compression") ?? false
        filters.compressionThreshold = try count("compression_threshold") ?? FilterSettings.defaultCompressionThreshold
        filters.significantlyModifiedThreshold = try number("significantly_modified").map { Float($0) }
        filters.kktLambda = try number("kkt").map { Float($0) }
        if let quantization = fields.value("quantization") {
            filters.quantization = try reader.choice(quantization, fields.path("quantization"), among: ["none", "float16"]) == "float16"
        }
        return filters
    }

    private mutating func deadlines(_ node: Node) throws(TopologyError) -> Deadlines {
        let fields = try reader.fields(node, "deadlines", allowed: Self.deadlineKeys)
        var deadlines = Deadlines.standard
        func read(_ key: String, into value: inout Duration) throws(TopologyError) {
            if let node = fields.value(key) { value = try reader.duration(node, fields.path(key)) }
        }
        try read("startup", into: &deadlines.startup)
        try read("request", into: &deadlines.request)
        try read("barrier", into: &deadlines.barrier)
        try read("shutdown", into: &deadlines.shutdown)
        try read("heartbeat_interval", into: &deadlines.heartbeatInterval)
        try read("heartbeat_timeout", into: &deadlines.heartbeatTimeout)
        try read("job", into: &deadlines.job)
        try read("join", into: &deadlines.join)
        return deadlines
    }

    private mutating func application(_ node: Node) throws(TopologyError) -> ApplicationSpec {
        let fields = try reader.fields(node, "application", allowed: nil)
        guard let kindNode = fields.value("kind") else { throw reader.missing(fields, "kind", what: "field") }
        let kindName = try reader.choice(kindNode, "application.kind", among: ApplicationKind.allCases.map(\.rawValue))
        var application = ApplicationSpec(kind: ApplicationKind(rawValue: kindName)!, sectionLocation: fields.location)
        for key in fields.keys where key != "kind" {
            let value = fields.value(key)!
            application.parameters[key] = try reader.parameter(value, fields.path(key))
            application.locations[key] = reader.location(of: value)
        }
        return application
    }

    private static func fileStem(_ file: String) -> String {
        let base = file.split(separator: "/").last.map(String.init) ?? file
        guard let dot = base.lastIndex(of: "."), dot != base.startIndex else { return base }
        return String(base[..<dot])
    }
}
