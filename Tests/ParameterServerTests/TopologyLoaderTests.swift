import Foundation
import Testing

@testable import ParameterServer

/// The repository root, found from this file's path so the committed topologies can be read.
let topologyRepositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

@Suite("Topology loading")
struct TopologyLoaderTests {
    @Test func committedPushPullTopologyHasTheDocumentedValues() throws {
        let path = topologyRepositoryRoot.appendingPathComponent("Topologies/pushpull.yaml").path
        let topology = try Topology.load(path: path)

        #expect(topology.name == "pushpull")
        #expect(topology.manager == RoleSpec(host: "127.0.0.1", port: 0, count: 1))
        #expect(topology.servers == RoleSpec(host: "127.0.0.1", port: 0, count: 2))
        #expect(topology.workers == RoleSpec(host: "127.0.0.1", port: 0, count: 2))
        #expect(topology.keySpace == 1_048_576)
        #expect(topology.tables == [
            TableSpec(name: "weights", id: 0, valueLength: 1, updater: "add", consistency: .eventual),
            TableSpec(name: "embeddings", id: 1, valueLength: 4, updater: "add", consistency: .eventual),
        ])
        #expect(topology.deadlines == Deadlines(
            startup: .seconds(30), request: .seconds(30), barrier: .seconds(120), shutdown: .seconds(10),
            heartbeatInterval: .milliseconds(500), heartbeatTimeout: .seconds(5), job: .seconds(1800)))
        #expect(topology.application.kind == .pushPull)
        #expect(topology.application.parameters == ["keys": .int(1_000_000), "rounds": .int(3)])
        #expect(try topology.application.int("keys") == 1_000_000)
        #expect(try topology.application.int("rounds") == 3)

        // Locations point into the committed file.
        #expect(topology.location(of: "tables[1].value_length") == TopologyLocation(file: path, line: 20, column: 19))
        #expect(topology.application.location(of: "rounds") == TopologyLocation(file: path, line: 36, column: 11))

        // What the roles derive from it.
        #expect(topology.managerEndpoint == nil)
        #expect(topology.bindEndpoint(role: .manager, rank: 0) == "tcp://127.0.0.1:*")
        #expect(topology.bindEndpoint(role: .server, rank: 1) == "tcp://127.0.0.1:*")
        #expect(topology.connectEndpoint(role: .worker, rank: 1) == nil)
        #expect(topology.keySpaceRange == KeyRange(0, 1_048_576))
        #expect(topology.servers.virtualNodes == HashRing.defaultVirtualNodes)
        #expect(topology.table(named: "embeddings")?.id == 1)
        #expect(topology.table(id: 0)?.name == "weights")
        #expect(topology.table(named: "bias") == nil)
        #expect(topology.table(id: 7) == nil)
        #expect(topology.nodeCount == 5)
    }

    @Test func committedClusterExampleUsesFixedPorts() throws {
        let path = topologyRepositoryRoot.appendingPathComponent("Topologies/cluster-example.yaml").path
        let topology = try Topology.load(path: path)

        #expect(topology.manager == RoleSpec(host: "ps-manager.example.internal", bindAddress: "0.0.0.0", port: 7000))
        #expect(topology.servers.count == 4)
        #expect(topology.workers.count == 8)
        #expect(topology.managerEndpoint == "tcp://ps-manager.example.internal:7000")
        #expect(topology.bindEndpoint(role: .manager, rank: 0) == "tcp://0.0.0.0:7000")
        #expect(topology.bindEndpoint(role: .server, rank: 3) == "tcp://0.0.0.0:7100")
        #expect(topology.connectEndpoint(role: .server, rank: 3) == "tcp://ps-server-3.example.internal:7100")
        #expect(topology.connectEndpoint(role: .worker, rank: 6) == "tcp://ps-worker-a.example.internal:7203")
        #expect(topology.connectEndpoint(role: .worker, rank: 7) == "tcp://ps-worker-b.example.internal:7203")
        #expect(topology.bindEndpoint(role: .worker, rank: 7) == "tcp://0.0.0.0:7203")
        #expect(topology.keySpaceRange == KeyRange(0, 16_777_216))
        #expect(topology.tables == [
            TableSpec(
                name: "weights", id: 0, valueLength: 1, updater: "ftrl",
                updaterOptions: ["alpha": 0.1, "beta": 1.0, "l1": 1.0, "l2": 0.0],
                consistency: .boundedDelay(maxDelay: 4)),
        ])
        #expect(topology.deadlines.startup == .seconds(120))
        #expect(topology.deadlines.job == .seconds(12 * 3600))
        #expect(topology.application.kind == .sparseLR)
        #expect(try topology.application.string("train") == "/data/criteo/train.tsv")
        #expect(try topology.application.int("minibatch") == 10_000)
    }

    @Test func leftOutFieldsTakeTheirDefaults() throws {
        let topology = try Topology.parse(
            yaml: """
                servers: { count: 3 }
                workers: { count: 1 }
                tables:
                  - name: w
                  - name: v
                    consistency: bsp
                application: { kind: pushpull }
                """,
            file: "dir/minimal.topology.yaml")

        #expect(topology.name == "minimal.topology")
        #expect(topology.manager == RoleSpec(host: "127.0.0.1", port: 0, count: 1))
        #expect(topology.servers == RoleSpec(host: "127.0.0.1", port: 0, count: 3))
        #expect(topology.keySpace == UInt64.max)
        #expect(topology.keySpaceRange == KeyRange.all)
        #expect(topology.replication == 0)
        #expect(topology.servers.virtualNodes == HashRing.defaultVirtualNodes)
        #expect(topology.tables == [
            TableSpec(name: "w", id: 0, valueLength: 1, updater: "add", updaterOptions: [:], consistency: .eventual),
            TableSpec(name: "v", id: 1, valueLength: 1, updater: "add", updaterOptions: [:], consistency: .bsp),
        ])
        #expect(topology.deadlines == .standard)
        #expect(topology.application == ApplicationSpec(kind: .pushPull))
    }

    @Test func roleCPUsAreHandedOutByRank() throws {
        let topology = try Topology.parse(
            yaml: """
                manager: { cpus: [0] }
                servers: { count: 3, cpus: [1, 0] }
                workers: { count: 2 }
                tables: [{ name: w }]
                application: { kind: pushpull }
                """,
            file: "cpus.yaml")
        #expect(topology.manager.cpus == [0])
        #expect(topology.servers.cpus == [1, 0])
        #expect((0..<3).map { topology.servers.cpu(ofRank: $0) } == [1, 0, 1])
        #expect(topology.workers.cpus.isEmpty)
        #expect(topology.workers.cpu(ofRank: 1) == nil)
        #expect(topology.cpu(role: .server, rank: 2) == 1)
        #expect(topology.cpu(role: .worker, rank: 0) == nil)
    }

    @Test func rolesRunUnderTheDefaultPolicyUnlessTheySayBatch() throws {
        let topology = try Topology.parse(
            yaml: """
                manager: { scheduling: normal }
                servers: { count: 2, scheduling: batch }
                workers: { count: 3 }
                tables: [{ name: w }]
                application: { kind: pushpull }
                """,
            file: "scheduling.yaml")
        #expect(topology.manager.scheduling == .normal && !topology.manager.scheduling.usesBatchScheduling)
        #expect(topology.servers.scheduling == .batch && topology.servers.scheduling.usesBatchScheduling)
        #expect(topology.workers.scheduling == .normal && !topology.workers.scheduling.usesBatchScheduling)
    }

    @Test func serversAndWorkersBusyPollForTheirDurationOrTheDefault() throws {
        let topology = try Topology.parse(
            yaml: """
                servers: { count: 2, busy_poll: 0us }
                workers: { count: 3, busy_poll: 1.5ms }
                tables: [{ name: w }]
                application: { kind: pushpull }
                """,
            file: "busy-poll.yaml")
        #expect(topology.servers.busyPoll == .zero)
        #expect(topology.workers.busyPoll == .microseconds(1500))
        let defaults = try Topology.parse(
            yaml: """
                servers: { count: 1 }
                workers: { count: 1 }
                tables: [{ name: w }]
                application: { kind: pushpull }
                """,
            file: "defaults.yaml")
        #expect(defaults.servers.busyPoll == nil && defaults.workers.busyPoll == nil)
    }

    @Test func autoCPUsDealServersThenWorkersOverTheHost() throws {
        let topology = try Topology.parse(
            yaml: """
                manager: { cpus: auto }
                servers: { count: 2, cpus: auto }
                workers: { count: 3, cpus: auto }
                tables: [{ name: w }]
                application: { kind: pushpull }
                """,
            file: "auto.yaml")
        #expect(topology.servers.spreadsOverCPUs && topology.workers.spreadsOverCPUs)
        #expect((0..<2).map { topology.cpu(role: .server, rank: $0, onlineCPUs: 4) } == [0, 1])
        #expect((0..<3).map { topology.cpu(role: .worker, rank: $0, onlineCPUs: 4) } == [2, 3, 0])
        #expect((0..<3).map { topology.cpu(role: .worker, rank: $0, onlineCPUs: 1) } == [0, 0, 0])
        #expect(topology.cpu(role: .manager, rank: 0, onlineCPUs: 4) == nil)
    }

    @Test func applicationParametersKeepTheirYAMLTypes() throws {
        let topology = try Topology.parse(
            yaml: """
                servers: { count: 1 }
                workers: { count: 1 }
                tables: [{ name: w }]
                application:
                  kind: sparse_lr
                  path: data/train.tsv
                  quoted_number: "42"
                  count: 1_000
                  rate: 0.05
                  tiny: 1e-3
                  shuffle: true
                  verbose: False
                """,
            file: "params.yaml")
        let application = topology.application

        #expect(application.parameters == [
            "path": .string("data/train.tsv"), "quoted_number": .string("42"), "count": .int(1000),
            "rate": .double(0.05), "tiny": .double(0.001), "shuffle": .bool(true), "verbose": .bool(false),
        ])
        #expect(try application.string("path") == "data/train.tsv")
        #expect(try application.string("quoted_number") == "42")
        #expect(try application.int("count") == 1000)
        #expect(try application.double("count") == 1000)
        #expect(try application.double("rate") == 0.05)
        #expect(try application.bool("shuffle") == true)
        #expect(try application.bool("verbose") == false)
        #expect(try application.int("absent") == nil)
        #expect(try application.string("absent") == nil)
        #expect(application.location(of: "rate") == TopologyLocation(file: "params.yaml", line: 9, column: 9))
    }

    @Test func tableIDsAndUpdaterOptionsAreRead() throws {
        let topology = try Topology.parse(
            yaml: """
                servers: { count: 1 }
                workers: { count: 1 }
                tables:
                  - name: w
                    id: 7
                    updater: adagrad
                    updater_options: { learning_rate: 0.1, epsilon: 1 }
                    consistency: sequential
                  - name: z
                    value_length: 65536
                    updater: momentum
                    consistency: bounded_delay
                    max_delay: 0
                application: { kind: pushpull }
                """,
            file: "ids.yaml", updaters: ["adagrad", "momentum"])

        #expect(topology.tables == [
            TableSpec(
                name: "w", id: 7, valueLength: 1, updater: "adagrad",
                updaterOptions: ["learning_rate": 0.1, "epsilon": 1], consistency: .sequential),
            TableSpec(name: "z", id: 1, valueLength: 65536, updater: "momentum", consistency: .boundedDelay(maxDelay: 0)),
        ])
        #expect(topology.tables[1].consistency.maxDelay == 0)
        #expect(topology.tables[1].consistency.description == "bounded_delay(0)")
    }

    @Test func unreadableFileIsReported() {
        #expect(throws: TopologyError.self) { try Topology.load(path: "/nonexistent/zps/missing.yaml") }
        do {
            _ = try Topology.load(path: "/nonexistent/zps/missing.yaml")
        } catch {
            #expect(error.code == .unreadable)
            #expect(error.file == "/nonexistent/zps/missing.yaml")
            #expect(error.line == 0)
            #expect(error.description.hasPrefix("/nonexistent/zps/missing.yaml: cannot read the file: "))
        }
    }
}

@Suite("Topology: replication")
struct TopologyReplicationTests {
    @Test func replicationIsRead() throws {
        let topology = try Topology.parse(
            yaml: """
                servers: { count: 3 }
                workers: { count: 1 }
                replication: 2
                tables: [{ name: w }]
                application: { kind: pushpull }
                """,
            file: "replicated.yaml")
        #expect(topology.replication == 2)
        #expect(topology.location(of: "replication") == TopologyLocation(file: "replicated.yaml", line: 3, column: 14))
        #expect(Membership(topology: topology).ring.virtualNodes == HashRing.defaultVirtualNodes)
        // The membership the manager builds from it.
        let membership = Membership(topology: topology, virtualNodes: 64)
        #expect(membership.replication == 2)
        #expect(membership.ring.virtualNodes == 64)
        #expect(membership.ring.keySpace == KeyRange.all)
    }

    @Test func virtualNodesAreReadForServers() throws {
        let topology = try Topology.parse(
            yaml: """
                servers: { count: 3, virtual_nodes: 8 }
                workers: { count: 1 }
                tables: [{ name: w }]
                application: { kind: pushpull }
                """,
            file: "ring.yaml")
        #expect(topology.servers.virtualNodes == 8)
        #expect(topology.location(of: "servers.virtual_nodes") == TopologyLocation(file: "ring.yaml", line: 1, column: 37))
        #expect(Membership(topology: topology).ring.virtualNodes == 8)
    }
}
