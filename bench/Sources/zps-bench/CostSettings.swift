import Foundation
import ParameterServer

/// What the `cost` scenario trains: the shipped topology's FTRL settings, hashing and epochs, on a
/// seeded synthetic Criteo-format set generated once into `.build/cost/` (never into the repository).
struct CostSettings: Sendable {
    static let topologyPath = "Topologies/local.yaml"
    static let directory = ".build/cost"
    static let trainRows = 1_000_000
    static let testRows = 100_000
    static let seed = 1

    var hashBits: Int
    var epochs: Int
    var alpha: Double
    var beta: Double
    var l1: Double
    var l2: Double
    /// The `zps` executable.
    var zps: String

    var trainPath: String { Self.directory + "/synthetic-\(Self.trainRows)-seed\(Self.seed)-train.tsv" }
    var testPath: String { Self.directory + "/synthetic-\(Self.testRows)-seed\(Self.seed)-test.tsv" }

    /// The settings of `Topologies/local.yaml`, which must be an FTRL sparse_lr job.
    init(zps: String) throws {
        let topology = try Topology.load(path: Self.topologyPath)
        guard let table = topology.tables.first, table.updater == "ftrl" else {
            throw BenchError("\(Self.topologyPath): the cost scenario needs its first table to use the ftrl updater")
        }
        func option(_ name: String) throws -> Double {
            guard let value = table.updaterOptions[name] else {
                throw BenchError("\(Self.topologyPath): table \(table.name) sets no ftrl option \(name)")
            }
            return value
        }
        alpha = try option("alpha")
        beta = try option("beta")
        l1 = try option("l1")
        l2 = try option("l2")
        hashBits = try topology.application.int("hash_bits") ?? 20
        epochs = try topology.application.int("epochs") ?? 1
        self.zps = zps
    }

    /// Generates the data set unless it is there already.
    func prepareData() throws {
        try FileManager.default.createDirectory(atPath: Self.directory, withIntermediateDirectories: true)
        let wanted = [trainPath, testPath, testPath + ".probabilities"]
        guard !wanted.allSatisfy(FileManager.default.fileExists(atPath:)) else { return }
        FileHandle.standardError.write(Data("generating \(Self.trainRows) + \(Self.testRows) synthetic rows into \(Self.directory) (once)\n".utf8))
        let outcome = try MeasuredProcess(
            executable: zps,
            arguments: [
                "generate", "--rows", "\(Self.trainRows)", "--test-rows", "\(Self.testRows)", "--seed", "\(Self.seed)",
                "--train", trainPath, "--test", testPath,
            ],
            logPath: Self.directory + "/generate.log"
        ).run()
        guard outcome.status == 0 else {
            for path in wanted { try? FileManager.default.removeItem(atPath: path) }
            throw BenchError("zps generate failed (exit \(outcome.status)): \(outcome.output)")
        }
    }

    /// The label (0 or 1) of every test row: the first field of each line.
    func testLabels() throws -> [Float] {
        let data = try Data(contentsOf: URL(fileURLWithPath: testPath))
        var labels: [Float] = []
        labels.reserveCapacity(Self.testRows)
        var atLineStart = true
        for byte in data {
            if atLineStart { labels.append(byte == UInt8(ascii: "1") ? 1 : 0) }
            atLineStart = byte == UInt8(ascii: "\n")
        }
        return labels
    }
}
