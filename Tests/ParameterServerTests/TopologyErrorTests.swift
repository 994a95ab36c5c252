import Testing

@testable import ParameterServer

/// A topology that is wrong in exactly one place, and the error that place must produce.
struct BadTopology: Sendable, CustomTestStringConvertible {
    let label: String
    let yaml: String
    let code: TopologyError.Code
    let line: Int
    let column: Int
    let path: String
    let message: String

    var testDescription: String { label }
}

/// Valid sections to complete the broken ones, so each case fails for one reason only.
private let validRest = """
    tables: [{ name: w }]
    application: { kind: pushpull }
    """

private let badTopologies: [BadTopology] = [
    BadTopology(
        label: "no virtual nodes",
        yaml: """
            servers: { count: 2, virtual_nodes: 0 }
            workers: { count: 2 }
            \(validRest)
            """,
        code: .invalidValue, line: 1, column: 37, path: "servers.virtual_nodes",
        message: "expected an integer in 1...1024, found 0"),
    BadTopology(
        label: "virtual nodes that are not a number",
        yaml: """
            servers: { count: 2, virtual_nodes: many }
            workers: { count: 2 }
            \(validRest)
            """,
        code: .wrongType, line: 1, column: 37, path: "servers.virtual_nodes",
        message: "expected an integer in 1...1024, found \"many\""),
    BadTopology(
        label: "value length that is not a number",
        yaml: """
            name: bad
            servers: { count: 2 }
            workers: { count: 2 }
            tables:
              - name: weights
              - name: embeddings
                value_length: many
            application: { kind: pushpull }
            """,
        code: .wrongType, line: 7, column: 19, path: "tables[1].value_length",
        message: "expected an integer in 1...65536, found \"many\""),
    BadTopology(
        label: "value length out of range",
        yaml: """
            servers: { count: 2 }
            workers: { count: 2 }
            tables:
              - { name: w, value_length: 0 }
            application: { kind: pushpull }
            """,
        code: .invalidValue, line: 4, column: 30, path: "tables[0].value_length",
        message: "expected an integer in 1...65536, found 0"),
    BadTopology(
        label: "negative cpu",
        yaml: """
            servers: { count: 2, cpus: [0, -1] }
            workers: { count: 2 }
            tables: [{ name: w }]
            application: { kind: pushpull }
            """,
        code: .invalidValue, line: 1, column: 32, path: "servers.cpus[1]",
        message: "expected a CPU number (an integer >= 0), found -1"),
    BadTopology(
        label: "cpus that are not a list",
        yaml: """
            servers: { count: 2 }
            workers: { count: 2, cpus: 3 }
            tables: [{ name: w }]
            application: { kind: pushpull }
            """,
        code: .wrongType, line: 2, column: 28, path: "workers.cpus",
        message: "expected a list of CPU numbers (integers >= 0) or auto, found \"3\""),
    BadTopology(
        label: "unknown scheduling policy",
        yaml: """
            servers: { count: 2, scheduling: fifo }
            workers: { count: 2 }
            tables: [{ name: w }]
            application: { kind: pushpull }
            """,
        code: .invalidValue, line: 1, column: 34, path: "servers.scheduling",
        message: "expected batch or normal, found \"fifo\""),
    BadTopology(
        label: "busy poll without a unit",
        yaml: """
            servers: { count: 2 }
            workers: { count: 2, busy_poll: 50 }
            tables: [{ name: w }]
            application: { kind: pushpull }
            """,
        code: .wrongType, line: 2, column: 33, path: "workers.busy_poll",
        message: "expected a duration like 500ms, 10s, 1.5s, 2m or 1h, found \"50\""),
    BadTopology(
        label: "busy poll given to the manager",
        yaml: """
            manager: { busy_poll: 50us }
            servers: { count: 2 }
            workers: { count: 2 }
            \(validRest)
            """,
        code: .unknownKey, line: 1, column: 12, path: "manager.busy_poll",
        message: "unknown key (expected one of host, bind, port, cpus, scheduling)"),
    BadTopology(
        label: "misspelt key",
        yaml: """
            servers: { count: 2 }
            workers: { count: 2 }
            tables:
              - name: w
                vlaue_length: 3
            application: { kind: pushpull }
            """,
        code: .unknownKey, line: 5, column: 5, path: "tables[0].vlaue_length",
        message: "unknown key; did you mean \"value_length\"?"),
    BadTopology(
        label: "unknown section",
        yaml: """
            servers: { count: 2 }
            workers: { count: 2 }
            frobnicate: 1
            \(validRest)
            """,
        code: .unknownKey, line: 3, column: 1, path: "frobnicate",
        message: "unknown key (expected one of name, manager, servers, workers, key_space, replication, tables, deadlines, application, security, peer_limits)"),
    BadTopology(
        label: "count given to the manager",
        yaml: """
            manager: { host: 127.0.0.1, count: 2 }
            servers: { count: 2 }
            workers: { count: 2 }
            \(validRest)
            """,
        code: .unknownKey, line: 1, column: 29, path: "manager.count",
        message: "unknown key (expected one of host, bind, port, cpus, scheduling)"),
    BadTopology(
        label: "missing section",
        yaml: """
            servers: { count: 2 }
            \(validRest)
            """,
        code: .missing, line: 1, column: 1, path: "workers", message: "required section is missing"),
    BadTopology(
        label: "missing tables section",
        yaml: """
            servers: { count: 2 }
            workers: { count: 2 }
            application: { kind: pushpull }
            """,
        code: .missing, line: 1, column: 1, path: "tables", message: "required section is missing"),
    BadTopology(
        label: "missing count",
        yaml: """
            servers: { count: 2 }
            workers:
              host: 10.0.0.2
            \(validRest)
            """,
        code: .missing, line: 3, column: 3, path: "workers.count", message: "required field is missing"),
    BadTopology(
        label: "count written without a value",
        yaml: """
            servers:
              count:
            workers: { count: 2 }
            \(validRest)
            """,
        code: .missing, line: 2, column: 3, path: "servers.count", message: "required field is missing"),
    BadTopology(
        label: "section that is not a mapping",
        yaml: """
            servers: 3
            workers: { count: 2 }
            \(validRest)
            """,
        code: .wrongType, line: 1, column: 10, path: "servers", message: "expected a mapping, found \"3\""),
    BadTopology(
        label: "quoted number",
        yaml: """
            servers: { count: "2" }
            workers: { count: 2 }
            \(validRest)
            """,
        code: .wrongType, line: 1, column: 19, path: "servers.count", message: "expected an integer in 1...100000, found \"2\""),
    BadTopology(
        label: "no servers",
        yaml: """
            servers: { count: 0 }
            workers: { count: 2 }
            \(validRest)
            """,
        code: .invalidValue, line: 1, column: 19, path: "servers.count", message: "expected an integer in 1...100000, found 0"),
    BadTopology(
        label: "negative worker count",
        yaml: """
            servers: { count: 1 }
            workers: { count: -1 }
            \(validRest)
            """,
        code: .invalidValue, line: 2, column: 19, path: "workers.count", message: "expected an integer in 1...100000, found -1"),
    BadTopology(
        label: "port out of range",
        yaml: """
            manager: { port: 70000 }
            servers: { count: 1 }
            workers: { count: 1 }
            \(validRest)
            """,
        code: .invalidValue, line: 1, column: 18, path: "manager.port", message: "expected a port in 0...65535, found 70000"),
    BadTopology(
        label: "port that is not a number",
        yaml: """
            servers: { count: 1, port: http }
            workers: { count: 1 }
            \(validRest)
            """,
        code: .wrongType, line: 1, column: 28, path: "servers.port", message: "expected a port in 0...65535, found \"http\""),
    BadTopology(
        label: "ports of later ranks past 65535",
        yaml: """
            servers: { count: 1 }
            workers: { count: 3, port: 65534 }
            \(validRest)
            """,
        code: .invalidValue, line: 2, column: 28, path: "workers.port",
        message: "expected the ports of all 3 ranks to stay within 65535, found 65534...65536"),
    BadTopology(
        label: "fixed ports of two roles overlap on one host",
        yaml: """
            manager: { host: 10.0.0.1, port: 7000 }
            servers: { count: 2, host: 10.0.0.1, port: 6999 }
            workers: { count: 2, host: 10.0.0.2, port: 7000 }
            \(validRest)
            """,
        code: .duplicate, line: 2, column: 44, path: "servers.port",
        message: "servers rank 1 would bind port 7000 on host 10.0.0.1, which manager binds"),
    BadTopology(
        label: "host and hosts both given",
        yaml: """
            servers: { count: 2, host: a, hosts: [b, c] }
            workers: { count: 1 }
            \(validRest)
            """,
        code: .invalidValue, line: 1, column: 38, path: "servers.hosts", message: "give host or hosts, not both"),
    BadTopology(
        label: "an empty hosts list",
        yaml: """
            servers: { count: 2, hosts: [] }
            workers: { count: 1 }
            \(validRest)
            """,
        code: .invalidValue, line: 1, column: 29, path: "servers.hosts",
        message: "expected a list of host names or addresses, found an empty list"),
    BadTopology(
        label: "a placeholder other than {rank} in a host",
        yaml: """
            servers: { count: 2 }
            workers: { count: 1, hosts: ["w-{rank}", "w-{index}"] }
            \(validRest)
            """,
        code: .invalidValue, line: 2, column: 42, path: "workers.hosts[1]",
        message: "expected a host name with no placeholder but {rank}, found \"w-{index}\""),
    BadTopology(
        label: "the manager's host with a rank placeholder",
        yaml: """
            manager: { host: "m-{rank}", port: 7000 }
            servers: { count: 2 }
            workers: { count: 1 }
            \(validRest)
            """,
        code: .invalidValue, line: 1, column: 18, path: "manager.host",
        message: "expected a host name or address (the manager has no rank to place), found \"m-{rank}\""),
    BadTopology(
        label: "two roles whose hosts lists put ranks on one port",
        yaml: """
            manager: { host: 10.0.0.1, port: 7000 }
            servers: { count: 2, hosts: [10.0.0.2, 10.0.0.3], port: 7100 }
            workers: { count: 3, hosts: [10.0.0.3, 10.0.0.2], port: 7099 }
            \(validRest)
            """,
        code: .duplicate, line: 3, column: 57, path: "workers.port",
        message: "workers rank 2 would bind port 7100 on host 10.0.0.3, which servers rank 1 binds"),
    BadTopology(
        label: "too small key space",
        yaml: """
            servers: { count: 4 }
            workers: { count: 1 }
            key_space: 3
            \(validRest)
            """,
        code: .invalidValue, line: 3, column: 12, path: "key_space",
        message: "expected at least one key per server (4 servers), found 3"),
    BadTopology(
        label: "replication needs k + 1 servers",
        yaml: """
            servers: { count: 2 }
            workers: { count: 1 }
            replication: 2
            \(validRest)
            """,
        code: .invalidValue, line: 3, column: 14, path: "replication",
        message: "replication 2 keeps 3 copies of every range, which needs at least 3 servers, found 2"),
    BadTopology(
        label: "negative replication",
        yaml: """
            servers: { count: 2 }
            workers: { count: 1 }
            replication: -1
            \(validRest)
            """,
        code: .invalidValue, line: 3, column: 14, path: "replication",
        message: "expected an integer >= 0, found -1"),
    BadTopology(
        label: "replication as text",
        yaml: """
            servers: { count: 2 }
            workers: { count: 1 }
            replication: one
            \(validRest)
            """,
        code: .wrongType, line: 3, column: 14, path: "replication",
        message: "expected an integer >= 0, found \"one\""),
    BadTopology(
        label: "negative key space",
        yaml: """
            servers: { count: 4 }
            workers: { count: 1 }
            key_space: -5
            \(validRest)
            """,
        code: .wrongType, line: 3, column: 12, path: "key_space",
        message: "expected an integer in 1...18446744073709551615, found \"-5\""),
    BadTopology(
        label: "empty table list",
        yaml: """
            servers: { count: 1 }
            workers: { count: 1 }
            tables: []
            application: { kind: pushpull }
            """,
        code: .missing, line: 3, column: 9, path: "tables", message: "expected at least one table"),
    BadTopology(
        label: "tables that are not a list",
        yaml: """
            servers: { count: 1 }
            workers: { count: 1 }
            tables: { name: w }
            application: { kind: pushpull }
            """,
        code: .wrongType, line: 3, column: 9, path: "tables", message: "expected a list of tables, found a mapping"),
    BadTopology(
        label: "table without a name",
        yaml: """
            servers: { count: 1 }
            workers: { count: 1 }
            tables:
              - value_length: 2
            application: { kind: pushpull }
            """,
        code: .missing, line: 4, column: 5, path: "tables[0].name", message: "required field is missing"),
    BadTopology(
        label: "duplicate table names",
        yaml: """
            servers: { count: 1 }
            workers: { count: 1 }
            tables:
              - name: w
              - name: w
            application: { kind: pushpull }
            """,
        code: .duplicate, line: 5, column: 11, path: "tables[1].name",
        message: "duplicate table name \"w\" (tables[0] has it too)"),
    BadTopology(
        label: "duplicate explicit table ids",
        yaml: """
            servers: { count: 1 }
            workers: { count: 1 }
            tables:
              - { name: a, id: 3 }
              - { name: b, id: 3 }
            application: { kind: pushpull }
            """,
        code: .duplicate, line: 5, column: 20, path: "tables[1].id", message: "duplicate table id 3 (tables[0] has it too)"),
    BadTopology(
        label: "explicit id taken by a default id",
        yaml: """
            servers: { count: 1 }
            workers: { count: 1 }
            tables:
              - { name: a, id: 1 }
              - { name: b }
            application: { kind: pushpull }
            """,
        code: .duplicate, line: 5, column: 5, path: "tables[1].id", message: "duplicate table id 1 (tables[0] has it too)"),
    BadTopology(
        label: "table id wider than 32 bits",
        yaml: """
            servers: { count: 1 }
            workers: { count: 1 }
            tables: [{ name: a, id: 5000000000 }]
            application: { kind: pushpull }
            """,
        code: .invalidValue, line: 3, column: 25, path: "tables[0].id",
        message: "expected an integer in 0...4294967295, found 5000000000"),
    BadTopology(
        label: "unregistered updater",
        yaml: """
            servers: { count: 1 }
            workers: { count: 1 }
            tables: [{ name: a, updater: adagard }]
            application: { kind: pushpull }
            """,
        code: .invalidValue, line: 3, column: 30, path: "tables[0].updater",
        message: "expected one of assign, add, sgd, adagrad, ftrl, found \"adagard\"; did you mean \"adagrad\"?"),
    BadTopology(
        label: "updater option that is not a number",
        yaml: """
            servers: { count: 1 }
            workers: { count: 1 }
            tables:
              - name: a
                updater: sgd
                updater_options: { learning_rate: fast }
            application: { kind: pushpull }
            """,
        code: .wrongType, line: 6, column: 39, path: "tables[0].updater_options.learning_rate",
        message: "expected a number, found \"fast\""),
    BadTopology(
        label: "unknown consistency model",
        yaml: """
            servers: { count: 1 }
            workers: { count: 1 }
            tables:
              - { name: w, consistency: bounded }
            application: { kind: pushpull }
            """,
        code: .invalidValue, line: 4, column: 29, path: "tables[0].consistency",
        message: "expected one of sequential, eventual, bounded_delay, bsp, found \"bounded\"; did you mean \"bounded_delay\"?"),
    BadTopology(
        label: "max_delay with eventual consistency",
        yaml: """
            servers: { count: 1 }
            workers: { count: 1 }
            tables:
              - name: w
                consistency: eventual
                max_delay: 4
            application: { kind: pushpull }
            """,
        code: .conflict, line: 6, column: 16, path: "tables[0].max_delay",
        message: "only allowed with consistency bounded_delay, found consistency eventual"),
    BadTopology(
        label: "max_delay with the default consistency",
        yaml: """
            servers: { count: 1 }
            workers: { count: 1 }
            tables:
              - { name: w, max_delay: 2 }
            application: { kind: pushpull }
            """,
        code: .conflict, line: 4, column: 27, path: "tables[0].max_delay",
        message: "only allowed with consistency bounded_delay, found consistency eventual"),
    BadTopology(
        label: "bounded delay without max_delay",
        yaml: """
            servers: { count: 1 }
            workers: { count: 1 }
            tables:
              - name: w
                consistency: bounded_delay
            application: { kind: pushpull }
            """,
        code: .missing, line: 5, column: 5, path: "tables[0].max_delay",
        message: "required field is missing (consistency bounded_delay needs the delay bound)"),
    BadTopology(
        label: "negative max_delay",
        yaml: """
            servers: { count: 1 }
            workers: { count: 1 }
            tables:
              - { name: w, consistency: bounded_delay, max_delay: -1 }
            application: { kind: pushpull }
            """,
        code: .invalidValue, line: 4, column: 55, path: "tables[0].max_delay", message: "expected an integer >= 0, found -1"),
    BadTopology(
        label: "duration with a spelled-out unit",
        yaml: """
            servers: { count: 1 }
            workers: { count: 1 }
            deadlines:
              request: 10 sec
            \(validRest)
            """,
        code: .wrongType, line: 4, column: 12, path: "deadlines.request",
        message: "expected a duration like 500ms, 10s, 1.5s, 2m or 1h, found \"10 sec\""),
    BadTopology(
        label: "duration without a unit",
        yaml: """
            servers: { count: 1 }
            workers: { count: 1 }
            deadlines: { job: 60 }
            \(validRest)
            """,
        code: .wrongType, line: 3, column: 19, path: "deadlines.job",
        message: "expected a duration like 500ms, 10s, 1.5s, 2m or 1h, found \"60\""),
    BadTopology(
        label: "zero deadline",
        yaml: """
            servers: { count: 1 }
            workers: { count: 1 }
            deadlines: { barrier: 0s }
            \(validRest)
            """,
        code: .invalidValue, line: 3, column: 23, path: "deadlines.barrier", message: "expected a positive duration, found 0s"),
    BadTopology(
        label: "heartbeat timeout shorter than the interval",
        yaml: """
            servers: { count: 1 }
            workers: { count: 1 }
            deadlines:
              heartbeat_interval: 2s
              heartbeat_timeout: 1500ms
            \(validRest)
            """,
        code: .invalidValue, line: 5, column: 22, path: "deadlines.heartbeat_timeout",
        message: "expected a duration longer than heartbeat_interval (2s), found 1500ms"),
    BadTopology(
        label: "misspelt deadline",
        yaml: """
            servers: { count: 1 }
            workers: { count: 1 }
            deadlines: { heartbeat_timout: 3s }
            \(validRest)
            """,
        code: .unknownKey, line: 3, column: 14, path: "deadlines.heartbeat_timout",
        message: "unknown key; did you mean \"heartbeat_timeout\"?"),
    BadTopology(
        label: "unknown application kind",
        yaml: """
            servers: { count: 1 }
            workers: { count: 1 }
            tables: [{ name: w }]
            application: { kind: sparselr }
            """,
        code: .invalidValue, line: 4, column: 22, path: "application.kind",
        message: "expected one of pushpull, sparse_lr, consistency, found \"sparselr\"; did you mean \"sparse_lr\"?"),
    BadTopology(
        label: "application without a kind",
        yaml: """
            servers: { count: 1 }
            workers: { count: 1 }
            tables: [{ name: w }]
            application:
              rounds: 3
            """,
        code: .missing, line: 5, column: 3, path: "application.kind", message: "required field is missing"),
    BadTopology(
        label: "application parameter that is a list",
        yaml: """
            servers: { count: 1 }
            workers: { count: 1 }
            tables: [{ name: w }]
            application:
              kind: pushpull
              rounds: [1, 2]
            """,
        code: .wrongType, line: 6, column: 11, path: "application.rounds",
        message: "expected a string, number or boolean, found a list"),
    BadTopology(
        label: "YAML syntax error in a flow mapping",
        yaml: """
            servers: { count: 2 }
            workers: { count: 2
            tables: []
            """,
        code: .syntax, line: 3, column: 7, path: "",
        message: "invalid YAML: while parsing a flow mapping at 2:10, did not find expected ',' or '}'"),
    BadTopology(
        label: "YAML indentation error",
        yaml: """
            servers:
              count: 2
             host: x
            """,
        code: .syntax, line: 3, column: 2, path: "",
        message: "invalid YAML: while parsing a block mapping at 1:1, did not find expected key"),
    BadTopology(
        label: "tab indentation",
        yaml: "servers:\n\tcount: 2\n",
        code: .syntax, line: 2, column: 1, path: "",
        message: "invalid YAML: while scanning for the next token at 2:1, found character that cannot start any token"),
    BadTopology(
        label: "duplicate key",
        yaml: """
            servers: { count: 2 }
            workers: { count: 2 }
            servers: { count: 3 }
            """,
        code: .duplicate, line: 1, column: 1, path: "", message: "key \"servers\" appears more than once in this mapping"),
    BadTopology(
        label: "two documents",
        yaml: """
            servers: { count: 2 }
            ---
            workers: { count: 2 }
            """,
        code: .syntax, line: 2, column: 1, path: "",
        message: "invalid YAML: expected a single document in the stream, but found another document"),
    BadTopology(
        label: "empty file",
        yaml: "# nothing here\n",
        code: .missing, line: 1, column: 1, path: "", message: "the file holds no topology"),
    BadTopology(
        label: "list at the top level",
        yaml: "- servers\n- workers\n",
        code: .wrongType, line: 1, column: 1, path: "",
        message: "expected a mapping of topology sections, found a list"),
]

@Suite("Topology errors")
struct TopologyErrorTests {
    @Test(arguments: badTopologies)
    func badTopologyIsReportedWhereItIsWrong(_ bad: BadTopology) {
        do {
            let topology = try Topology.parse(yaml: bad.yaml, file: "Topologies/bad.yaml")
            Issue.record("parsed without an error: \(topology)")
        } catch {
            #expect(error.code == bad.code)
            #expect(error.file == "Topologies/bad.yaml")
            #expect(error.line == bad.line)
            #expect(error.column == bad.column)
            #expect(error.path == bad.path)
            #expect(error.message == bad.message)
        }
    }

    @Test func descriptionReadsLikeACompilerDiagnostic() {
        let error = TopologyError(
            .wrongType, file: "Topologies/bad.yaml", line: 7, column: 19, path: "tables[1].value_length",
            message: "expected an integer in 1...65536, found \"many\"")
        #expect(error.description
            == "Topologies/bad.yaml:7:19: tables[1].value_length: expected an integer in 1...65536, found \"many\"")
        #expect(error.location == TopologyLocation(file: "Topologies/bad.yaml", line: 7, column: 19))

        let whole = TopologyError(.syntax, file: "x.yaml", line: 2, column: 1, path: "", message: "invalid YAML: oops")
        #expect(whole.description == "x.yaml:2:1: invalid YAML: oops")

        let flag = TopologyError(.invalidValue, at: .commandLine, path: "workers.count", message: "expected an integer >= 1, found 0")
        #expect(flag.description == "command line: workers.count: expected an integer >= 1, found 0")
    }

    @Test func updaterListComesFromTheCaller() throws {
        let yaml = """
            servers: { count: 1 }
            workers: { count: 1 }
            tables: [{ name: w, updater: momentum }]
            application: { kind: pushpull }
            """
        #expect(throws: TopologyError.self) { try Topology.parse(yaml: yaml, file: "u.yaml") }
        let topology = try Topology.parse(yaml: yaml, file: "u.yaml", updaters: TableSpec.standardUpdaters + ["momentum"])
        #expect(topology.tables[0].updater == "momentum")
    }

    @Test func validationOfATopologyBuiltInCodeNamesTheField() {
        let topology = Topology(
            name: "in-code", servers: RoleSpec(count: 2), workers: RoleSpec(count: 1),
            tables: [TableSpec(name: "w", id: 0, valueLength: 70_000)], application: ApplicationSpec(kind: .pushPull))
        do {
            try topology.validate()
            Issue.record("validated a value length of 70000")
        } catch {
            #expect(error.path == "tables[0].value_length")
            #expect(error.file == "in-code")
            #expect(error.line == 0)
            #expect(error.description == "in-code: tables[0].value_length: expected an integer in 1...65536, found 70000")
        }
    }

    @Test func suggestionsOnlyForCloseNames() {
        #expect(NameSuggestion.closest(to: "vlaue_length", among: ["value_length", "name"]) == "value_length")
        #expect(NameSuggestion.closest(to: "sever", among: ["servers", "workers"]) == "servers")
        #expect(NameSuggestion.closest(to: "bounded", among: ConsistencyModel.names) == "bounded_delay")
        #expect(NameSuggestion.closest(to: "frobnicate", among: ["name", "tables"]) == nil)
        #expect(NameSuggestion.closest(to: "b", among: ["bsp", "bounded_delay"]) == nil)
        #expect(NameSuggestion.editDistance("kitten", "sitting") == 3)
        #expect(NameSuggestion.editDistance("ab", "ba") == 1)
        #expect(NameSuggestion.editDistance("", "abc") == 3)
    }
}
