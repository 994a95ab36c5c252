import Testing

@testable import ParameterServer

@Suite("Topology overrides")
struct TopologyOverridesTests {
    let base: Topology

    init() throws {
        base = try Topology.parse(
            yaml: """
                name: base
                servers: { count: 2, port: 0 }
                workers: { count: 2 }
                key_space: 1000
                tables: [{ name: w }]
                application:
                  kind: pushpull
                  keys: 1000
                  rounds: 3
                security: { insecure: true }   # the overrides below move the manager beyond loopback
                """,
            file: "base.yaml")
    }

    @Test func noOverridesChangeNothing() throws {
        #expect(try base.withOverrides(TopologyOverrides()) == base)
    }

    @Test func countsManagerAndKeySpaceAreReplaced() throws {
        let topology = try base.withOverrides(
            TopologyOverrides(managerHost: "10.1.2.3", managerPort: 41_234, serverCount: 3, workerCount: 5, keySpace: 999))

        #expect(topology.manager == RoleSpec(host: "10.1.2.3", port: 41_234))
        #expect(topology.managerEndpoint == "tcp://10.1.2.3:41234")
        #expect(topology.servers.count == 3)
        #expect(topology.workers.count == 5)
        #expect(topology.keySpace == 999)
        #expect(topology.keySpaceRange == KeyRange(0, 999))
        #expect(topology.nodeCount == 9)
        #expect(topology.location(of: "workers.count") == .commandLine)
        #expect(topology.location(of: "servers.port") == TopologyLocation(file: "base.yaml", line: 2, column: 28))
        // What was not overridden stays as loaded.
        #expect(topology.tables == base.tables)
        #expect(topology.application == base.application)
    }

    @Test func applicationParametersAreAddedAndReplaced() throws {
        var overrides = TopologyOverrides()
        try overrides.setApplicationParameter("rounds=10")
        try overrides.setApplicationParameter("learning_rate=0.5")
        try overrides.setApplicationParameter("output=run/summary.json")
        try overrides.setApplicationParameter("verbose=true")
        try overrides.setApplicationParameter("label=a=b")
        let topology = try base.withOverrides(overrides)

        #expect(topology.application.parameters == [
            "keys": .int(1000), "rounds": .int(10), "learning_rate": .double(0.5),
            "output": .string("run/summary.json"), "verbose": .bool(true), "label": .string("a=b"),
        ])
        #expect(topology.application.location(of: "rounds") == .commandLine)
        #expect(topology.application.location(of: "keys") == TopologyLocation(file: "base.yaml", line: 8, column: 9))
    }

    @Test func replicationIsReplacedAndCheckedAgainstTheServerCount() throws {
        let topology = try base.withOverrides(TopologyOverrides(serverCount: 3, replication: 2))
        #expect(topology.replication == 2)
        #expect(topology.location(of: "replication") == .commandLine)
        #expect(topology.servers.count == 3)
        do {
            _ = try base.withOverrides(TopologyOverrides(serverCount: 2, replication: 2))
            Issue.record("accepted replication 2 on 2 servers")
        } catch {
            #expect(error.path == "replication")
            #expect(error.location == .commandLine)
            #expect(error.message == "replication 2 keeps 3 copies of every range, which needs at least 3 servers, found 2")
        }
    }

    @Test func overriddenValuesAreValidated() {
        do {
            _ = try base.withOverrides(TopologyOverrides(workerCount: 0))
            Issue.record("accepted zero workers")
        } catch {
            #expect(error.description == "command line: workers.count: expected an integer in 1...100000, found 0")
        }
        do {
            _ = try base.withOverrides(TopologyOverrides(serverCount: 1001))
            Issue.record("accepted more servers than keys")
        } catch {
            // The rule is about the key space from the file, which the override made too small.
            #expect(error.path == "key_space")
            #expect(error.location == TopologyLocation(file: "base.yaml", line: 4, column: 12))
            #expect(error.message == "expected at least one key per server (1001 servers), found 1000")
        }
        do {
            _ = try base.withOverrides(TopologyOverrides(managerPort: 65_536))
            Issue.record("accepted port 65536")
        } catch {
            #expect(error.description == "command line: manager.port: expected a port in 0...65535, found 65536")
        }
    }

    @Test func assignmentWithoutANameIsRejected() {
        var overrides = TopologyOverrides()
        for text in ["rounds", "=5"] {
            do {
                try overrides.setApplicationParameter(text)
                Issue.record("accepted \(text)")
            } catch {
                #expect(error.description == "command line: application: expected NAME=VALUE, found \"\(text)\"")
            }
        }
        #expect(overrides.applicationParameters.isEmpty)
    }

    @Test func kindCannotBeOverriddenAsAParameter() {
        #expect(throws: TopologyError.self) {
            try base.withOverrides(TopologyOverrides(applicationParameters: ["kind": .string("sparse_lr")]))
        }
    }
}
