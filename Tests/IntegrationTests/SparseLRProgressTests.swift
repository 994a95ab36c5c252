import Foundation
import SparseLR
import Testing

/// The progress a `sparse_lr` worker reports to `zps run` while it streams its first epoch, before
/// it knows how many examples its shard holds.
@Suite("Sparse LR progress", .serialized)
struct SparseLRProgressTests {
    @Test("a one-epoch streaming job reports progress within the epoch, estimated from the file's size")
    func progressWithinTheFirstEpoch() async throws {
        let directory = try ClusterSupport.temporaryDirectory("progress")
        let train = directory.appendingPathComponent("train.tsv").path
        var generator = SyntheticCTRGenerator(seed: 7)
        try generator.write(rows: 8_000, to: train, probabilitiesPath: train + ".probabilities")
        let topology = try ClusterSupport.writeSparseLRTopology(
            in: directory, workers: 1, deadlines: "{ startup: 60s }",
            application: ["train: \(train)", "epochs: 1", "minibatch: 10"])
        let (manager, endpoint) = try await NodeProcess.startManager(topology: topology, directory: directory)
        let server = try NodeProcess.start("server", rank: 0, topology: topology, manager: endpoint, directory: directory)
        let worker = try NodeProcess.start("worker", rank: 0, topology: topology, manager: endpoint, directory: directory)
        defer { for process in [manager, server, worker] { process.kill() } }
        let status = try #require(try await worker.waitForExit(within: .seconds(300)), "the worker did not finish")
        #expect(status == 0, "worker said: \(worker.errors.suffix(2000))")

        // `@zps progress RANK FRACTION TEXT`, at most five a second.
        let fractions = worker.output.split(separator: "\n").compactMap { line -> Double? in
            let fields = line.split(separator: " ")
            guard fields.count >= 4, fields[0] == "@zps", fields[1] == "progress" else { return nil }
            return Double(fields[3])
        }
        let within = fractions.filter { $0 > 0 && $0 < 1 }
        #expect(!within.isEmpty, "progress fractions: \(fractions)")
        #expect(within == within.sorted(), "progress went backwards: \(fractions)")
        #expect(fractions.last == 1)
    }
}
