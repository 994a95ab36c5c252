import Testing

@testable import ParameterServer

@Suite("Filters: topology settings")
struct FilterTopologyTests {
    static func yaml(_ filters: String) -> String {
        """
        application: { kind: pushpull }
        servers: { count: 1 }
        workers: { count: 1 }
        tables:
          - name: weights
            filters: \(filters)
        """
    }

    @Test("Every filter setting is read from the table's filters mapping")
    func readsSettings() throws {
        let topology = try Topology.parse(
            yaml: Self.yaml(
                "{ key_caching: true, key_cache_bytes: 4096, compression: true, compression_threshold: 512, significantly_modified: 0.01, kkt: 0.5, quantization: float16 }"),
            file: "t.yaml")
        let filters = topology.tables[0].filters
        #expect(filters == FilterSettings(
            keyCaching: true, keyCacheBytes: 4096, compression: true, compressionThreshold: 512,
            significantlyModifiedThreshold: 0.01, kktLambda: 0.5, quantization: true))
        #expect(filters.acceptedEncodings == [.snappy, .float16])
    }

    @Test("No filters mapping means every filter off")
    func defaultsOff() throws {
        let topology = try Topology.parse(yaml: "application: { kind: pushpull }\nservers: { count: 1 }\nworkers: { count: 1 }\ntables: [ { name: w } ]", file: "t.yaml")
        #expect(topology.tables[0].filters == .none)
        #expect(topology.tables[0].filters.isEmpty)
    }

    @Test("Bad filter settings are located errors")
    func rejectsBadSettings() {
        let unknown = #expect(throws: TopologyError.self) { try Topology.parse(yaml: Self.yaml("{ zip: true }"), file: "t.yaml") }
        #expect(unknown?.path == "tables[0].filters.zip")
        let quantization = #expect(throws: TopologyError.self) {
            try Topology.parse(yaml: Self.yaml("{ quantization: int8 }"), file: "t.yaml")
        }
        #expect(quantization?.path == "tables[0].filters.quantization")
        let negative = #expect(throws: TopologyError.self) {
            try Topology.parse(yaml: Self.yaml("{ kkt: -1 }"), file: "t.yaml")
        }
        #expect(negative?.path == "tables[0].filters.kkt")
        #expect(negative?.line == 6)
        let tiny = #expect(throws: TopologyError.self) {
            try Topology.parse(yaml: Self.yaml("{ key_caching: true, key_cache_bytes: 10 }"), file: "t.yaml")
        }
        #expect(tiny?.path == "tables[0].filters.key_cache_bytes")
    }

    @Test("The significantly-modified filter is refused on a bsp table")
    func significantlyModifiedConflictsWithBSP() {
        let yaml = """
            application: { kind: pushpull }
            servers: { count: 1 }
            workers: { count: 1 }
            tables:
              - name: weights
                consistency: bsp
                filters: { significantly_modified: 0.1 }
            """
        let error = #expect(throws: TopologyError.self) { try Topology.parse(yaml: yaml, file: "t.yaml") }
        #expect(error?.code == .conflict)
        #expect(error?.path == "tables[0].filters.significantly_modified")
    }
}
