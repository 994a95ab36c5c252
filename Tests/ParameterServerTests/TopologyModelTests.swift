import Testing

@testable import ParameterServer

@Suite("Topology model")
struct TopologyModelTests {
    @Test func roleEndpointsFollowRanks() {
        let fixed = RoleSpec(host: "ps-1.example", bindAddress: "0.0.0.0", port: 7100, count: 3)
        #expect(fixed.addresses.map(\.port) == [7100, 7101, 7102])
        #expect(fixed.port(ofRank: 2) == 7102)
        #expect(fixed.bindEndpoint(rank: 2) == "tcp://0.0.0.0:7102")
        #expect(fixed.connectEndpoint(rank: 0) == "tcp://ps-1.example:7100")

        let ephemeral = RoleSpec(host: "127.0.0.1", port: 0, count: 2)
        #expect(ephemeral.isEphemeral)
        #expect(ephemeral.addresses.isEmpty)
        #expect(ephemeral.port(ofRank: 1) == nil)
        #expect(ephemeral.bindEndpoint(rank: 1) == "tcp://127.0.0.1:*")
        #expect(ephemeral.connectEndpoint(rank: 1) == nil)

        let ipv6 = RoleSpec(host: "::1", port: 9000)
        #expect(ipv6.bindEndpoint(rank: 0) == "tcp://[::1]:9000")
        #expect(ipv6.connectEndpoint(rank: 0) == "tcp://[::1]:9000")
    }

    @Test("ranks are dealt out over a hosts list, and each host's ranks count ports from the base")
    func hostsLists() {
        var spec = RoleSpec(bindAddress: "0.0.0.0", port: 7100, count: 5)
        spec.hosts = ["10.0.0.1", "10.0.0.2"]
        #expect((0..<5).map { spec.host(ofRank: $0) } == ["10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.2", "10.0.0.1"])
        #expect((0..<5).map { spec.connectEndpoint(rank: $0) } == [
            "tcp://10.0.0.1:7100", "tcp://10.0.0.2:7100", "tcp://10.0.0.1:7101", "tcp://10.0.0.2:7101", "tcp://10.0.0.1:7102",
        ])
        #expect(spec.bindEndpoint(rank: 3) == "tcp://0.0.0.0:7101")

        var pods = RoleSpec(host: "zps-server-{rank}.zps-servers", bindAddress: "0.0.0.0", port: 7100, count: 3)
        #expect((0..<3).map { pods.connectEndpoint(rank: $0) } == [
            "tcp://zps-server-0.zps-servers:7100", "tcp://zps-server-1.zps-servers:7100", "tcp://zps-server-2.zps-servers:7100",
        ])
        pods.hosts = ["a-{rank}", "b"]
        pods.count = 4
        #expect((0..<4).map { pods.connectEndpoint(rank: $0) } == [
            "tcp://a-0:7100", "tcp://b:7100", "tcp://a-2:7100", "tcp://b:7101",
        ])
    }

    @Test func topologyNamesEachRole() {
        let topology = Topology(
            name: "t", manager: RoleSpec(host: "m", port: 5000), servers: RoleSpec(host: "s", port: 6000, count: 2),
            workers: RoleSpec(host: "w", count: 4), tables: [TableSpec(name: "w", id: 0)],
            application: ApplicationSpec(kind: .pushPull))
        #expect(topology.spec(for: .manager) == topology.manager)
        #expect(topology.spec(for: .server) == topology.servers)
        #expect(topology.spec(for: .worker) == topology.workers)
        #expect(topology.spec(for: .client) == nil)
        #expect(topology.managerEndpoint == "tcp://m:5000")
        #expect(topology.connectEndpoint(role: .server, rank: 1) == "tcp://s:6001")
        #expect(topology.bindEndpoint(role: .worker, rank: 3) == "tcp://w:*")
    }

    @Test func wholeKeySpaceSplitsWithoutGapsOrOverlaps() {
        let topology = Topology(
            name: "t", servers: RoleSpec(count: 3), workers: RoleSpec(count: 1), tables: [TableSpec(name: "w", id: 0)],
            application: ApplicationSpec(kind: .pushPull))
        // The ring the manager builds from it: the servers' ranges tile the whole key space.
        var membership = Membership(topology: topology)
        for rank in 0..<3 { _ = try? membership.join(role: .server, rank: UInt32(rank), endpoint: "s\(rank)") }
        let ranges = membership.members.flatMap { membership.ring.ranges(of: $0.id) }.sorted { $0.lowerBound < $1.lowerBound }
        #expect(ranges.count >= 3)
        #expect(ranges.first?.lowerBound == 0)
        #expect(ranges.last?.upperBound == UInt64.max)
        #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
        #expect(ranges.map(\.count).reduce(0, +) == UInt64.max)
    }

    @Test func locationFallsBackToTheNearestWrittenField() {
        var topology = Topology(
            name: "t", servers: RoleSpec(count: 1), workers: RoleSpec(count: 1), tables: [TableSpec(name: "w", id: 0)],
            application: ApplicationSpec(kind: .pushPull))
        #expect(topology.location(of: "tables[0].id") == TopologyLocation(file: "t", line: 0, column: 0))
        topology.locations = [
            "": TopologyLocation(file: "f", line: 1, column: 1),
            "tables": TopologyLocation(file: "f", line: 5, column: 3),
            "tables[0]": TopologyLocation(file: "f", line: 6, column: 5),
        ]
        #expect(topology.location(of: "tables[0].id") == TopologyLocation(file: "f", line: 6, column: 5))
        #expect(topology.location(of: "tables[1].id") == TopologyLocation(file: "f", line: 5, column: 3))
        #expect(topology.location(of: "deadlines.job") == TopologyLocation(file: "f", line: 1, column: 1))
    }

    @Test func equalityIgnoresWhereValuesWereWritten() {
        let a = ApplicationSpec(kind: .pushPull, parameters: ["k": .int(1)], locations: ["k": TopologyLocation(file: "a", line: 3, column: 4)])
        let b = ApplicationSpec(kind: .pushPull, parameters: ["k": .int(1)])
        #expect(a == b)
        #expect(a != ApplicationSpec(kind: .pushPull, parameters: ["k": .int(2)]))
        #expect(a != ApplicationSpec(kind: .sparseLR, parameters: ["k": .int(1)]))
    }

    @Test func applicationAccessorsReportWrongTypesWhereTheValueWasWritten() throws {
        let place = TopologyLocation(file: "app.yaml", line: 9, column: 11)
        let application = ApplicationSpec(
            kind: .pushPull,
            parameters: ["rounds": .string("three"), "rate": .bool(true), "name": .int(5), "flag": .double(1), "big": .double(1e6),
                         "half": .double(0.5)],
            locations: ["rounds": place, "rate": place, "name": place, "flag": place],
            sectionLocation: TopologyLocation(file: "app.yaml", line: 7, column: 3))

        func message(_ body: () throws -> Void) -> String {
            do {
                try body()
                return "no error"
            } catch let error as TopologyError {
                return error.description
            } catch {
                return "unexpected \(error)"
            }
        }
        let wrongInt = message { _ = try application.int("rounds") }
        let wrongDouble = message { _ = try application.double("rate") }
        let wrongString = message { _ = try application.string("name") }
        let wrongBool = message { _ = try application.bool("flag") }
        let fraction = message { _ = try application.int("half") }
        let intOutOfRange = message { _ = try application.int("big", in: 1...1000) }
        let doubleOutOfRange = message { _ = try application.double("half", in: 1...2) }
        #expect(wrongInt == "app.yaml:9:11: application.rounds: expected an integer, found \"three\"")
        #expect(wrongDouble == "app.yaml:9:11: application.rate: expected a number, found true")
        #expect(wrongString == "app.yaml:9:11: application.name: expected a string, found 5")
        #expect(wrongBool == "app.yaml:9:11: application.flag: expected a boolean (true or false), found 1.0")
        #expect(fraction == "command line: application.half: expected an integer, found 0.5")
        #expect(intOutOfRange == "command line: application.big: expected an integer in 1...1000, found 1000000")
        #expect(doubleOutOfRange == "command line: application.half: expected a number in 1.0...2.0, found 0.5")
        #expect(try application.int("big") == 1_000_000)
        #expect(application.missing("train", expected: "a file path").description
            == "app.yaml:7:3: application.train: required parameter is missing (expected a file path)")
        #expect(application.invalid("rounds", "expected a positive number of rounds").description
            == "app.yaml:9:11: application.rounds: expected a positive number of rounds")
    }

    @Test(arguments: [
        ("5", ParameterValue.int(5)),
        ("-12", .int(-12)),
        ("1_000", .int(1000)),
        ("0.5", .double(0.5)),
        ("1e-3", .double(0.001)),
        ("-.5", .double(-0.5)),
        ("true", .bool(true)),
        ("FALSE", .bool(false)),
        ("yes", .string("yes")),
        ("inf", .string("inf")),
        ("nan", .string("nan")),
        ("1.2.3", .string("1.2.3")),
        ("_5", .string("_5")),
        ("data/train.tsv", .string("data/train.tsv")),
        ("", .string("")),
        ("99999999999999999999", .double(1e20)),
    ])
    func commandLineTextReadsLikeYAML(_ text: String, _ expected: ParameterValue) {
        #expect(ParameterValue(inferringTypeOf: text) == expected)
    }

    @Test func unsignedScalarsCoverTheWholeKeySpace() {
        #expect(ScalarSyntax.uint64("18446744073709551615") == UInt64.max)
        #expect(ScalarSyntax.uint64("18446744073709551616") == nil)
        #expect(ScalarSyntax.uint64("+7") == 7)
        #expect(ScalarSyntax.uint64("-7") == nil)
        #expect(ScalarSyntax.uint64("1_048_576") == 1_048_576)
    }

    @Test func consistencyModelsHaveTheirFileNames() {
        #expect([ConsistencyModel.sequential, .eventual, .boundedDelay(maxDelay: 3), .bsp].map(\.name) == ConsistencyModel.names)
        #expect(ConsistencyModel.boundedDelay(maxDelay: 3).maxDelay == 3)
        #expect(ConsistencyModel.bsp.maxDelay == nil)
        #expect(ApplicationKind.allCases.map(\.rawValue) == ["pushpull", "sparse_lr", "consistency"])
    }
}
