import Foundation
import SparseLR

/// The COST question (McSherry et al., HotOS'15) for sparse logistic regression: is the cluster
/// faster than the single-machine learner a user already has? zps on the shipped topology
/// (`Topologies/local.yaml`: 2 servers + 2 workers) and on 1 server + 1 worker against Vowpal
/// Wabbit on one core, on the same 1M-row synthetic Criteo-format set, the same hashing, FTRL
/// settings and epochs: examples/s, CPU per example of every process, and test AUC and log-loss on
/// the same 100K held-out rows. Then the shipped topology (the default `scheduling: normal`) against the same
/// with `scheduling: batch`, on an otherwise quiet host and beside two busy loops competing for the CPUs,
/// and the shipped topology with `--replication 1` (every range on both servers) against it.
struct CostScenario: Scenario {
    var name: String { "cost" }
    var summary: String { "sparse LR on 1M synthetic Criteo rows: zps (2s+2w, 1s+1w) against Vowpal Wabbit on one core, examples/s, CPU/example, AUC" }

    static let vowpalWabbitShape = "Vowpal Wabbit, 1 process"

    /// A zps run: its servers and workers, their scheduling (nil: the topology's) and busy loops beside it.
    struct ZPSShape {
        var servers: Int
        var workers: Int
        var scheduling: String? = nil
        var competingLoops = 0
        /// `zps run --replication`: copies of each range besides its primary.
        var replication = 0

        var name: String {
            var name = "zps s=\(servers) w=\(workers)"
            if servers == 2, workers == 2, scheduling == nil { name += " (Topologies/local.yaml)" }
            if let scheduling { name += " scheduling: \(scheduling)" }
            if replication > 0 { name += " replication: \(replication)" }
            if competingLoops > 0 { name += " + \(competingLoops) busy loops" }
            return name
        }
    }

    /// The shapes compared with Vowpal Wabbit.
    static let comparedShapes = [ZPSShape(servers: 2, workers: 2), ZPSShape(servers: 1, workers: 1)]
    /// The scheduling policies, on an otherwise quiet host and beside two busy loops: (shipped, batch) pairs.
    static let schedulingPairs = [0, 2].map { loops in
        (ZPSShape(servers: 2, workers: 2, competingLoops: loops), ZPSShape(servers: 2, workers: 2, scheduling: "batch", competingLoops: loops))
    }
    /// The shipped topology with every range on both servers, against the shipped topology.
    static let replicated = ZPSShape(servers: 2, workers: 2, replication: 1)
    static var zpsShapes: [ZPSShape] {
        comparedShapes + [replicated, schedulingPairs[0].1] + schedulingPairs.dropFirst().flatMap { [$0.0, $0.1] }
    }

    func trials(_ options: BenchOptions) throws -> [Trial] {
        let settings = try CostSettings(zps: options.failover.zpsExecutable)
        try settings.prepareData()
        var parameters = [
            "train_rows": "\(CostSettings.trainRows)", "test_rows": "\(CostSettings.testRows)", "seed": "\(CostSettings.seed)",
            "hash_bits": "\(settings.hashBits)", "epochs": "\(settings.epochs)",
            "ftrl": "alpha=\(settings.alpha) beta=\(settings.beta) l1=\(settings.l1) l2=\(settings.l2)",
        ]
        var trials: [Trial] = []
        // Vowpal Wabbit first: the runner's warm-up run is then the shortest one.
        if let vowpalWabbit = VowpalWabbit.locate(directory: CostSettings.directory) {
            let (train, test) = (settings.trainPath + ".vw", settings.testPath + ".vw")
            for (source, converted) in [(settings.trainPath, train), (settings.testPath, test)]
            where !FileManager.default.fileExists(atPath: converted) {
                try vowpalWabbit.convert(source, to: converted)
            }
            let labels = try settings.testLabels()
            let examples = CostSettings.trainRows * settings.epochs
            var vwParameters = parameters
            vwParameters["learner"] = "vowpalwabbit"
            trials.append(Trial(
                scenario: name, shape: Self.vowpalWabbitShape, parameters: vwParameters, requestSize: nil,
                measure: {
                    let run = try vowpalWabbit.run(train: train, test: test, labels: labels, settings: settings)
                    return Self.samples(
                        examples: examples, examplesPerSecond: Double(examples) / run.wallSeconds, wallSeconds: run.processWallSeconds,
                        cpuSeconds: run.cpuSeconds, auc: run.metrics.auc ?? 0, logLoss: run.metrics.logLoss)
                },
                reference: nil))
        }
        parameters["learner"] = "zps"
        for shape in Self.zpsShapes {
            let run = SparseLRClusterRun(
                settings: settings, servers: shape.servers, workers: shape.workers, scheduling: shape.scheduling,
                competingLoops: shape.competingLoops, replication: shape.replication)
            var shapeParameters = parameters
            shapeParameters["servers"] = "\(shape.servers)"
            shapeParameters["workers"] = "\(shape.workers)"
            shapeParameters["scheduling"] = shape.scheduling ?? "topology default"
            shapeParameters["busy_loops"] = "\(shape.competingLoops)"
            shapeParameters["replication"] = "\(shape.replication)"
            trials.append(Trial(
                scenario: name, shape: shape.name,
                parameters: shapeParameters, requestSize: nil,
                measure: {
                    let outcome = try run.run()
                    return Self.samples(
                        examples: outcome.examples, examplesPerSecond: outcome.examplesPerSecond, wallSeconds: outcome.wallSeconds,
                        cpuSeconds: outcome.cpuSeconds, auc: outcome.auc, logLoss: outcome.logLoss)
                },
                reference: nil))
        }
        return trials
    }

    static func samples(
        examples: Int, examplesPerSecond: Double, wallSeconds: Double, cpuSeconds: Double, auc: Double, logLoss: Double
    ) -> [Sample] {
        [
            Sample(metric: "examples/s", value: examplesPerSecond, unit: "ex/s"),
            Sample(metric: "end-to-end examples/s", value: Double(examples) / wallSeconds, unit: "ex/s"),
            Sample(metric: "CPU per example", value: cpuSeconds / Double(examples) * 1e6, unit: "us/ex"),
            Sample(metric: "test AUC", value: auc, unit: "AUC"),
            Sample(metric: "test logloss", value: logLoss, unit: "logloss"),
        ]
    }

    /// Adds, for the shapes compared with Vowpal Wabbit, their figures against VW's: medians' ratios
    /// (and the ratio of each repetition, which ran one after the other) and the AUC and log-loss
    /// differences; `--replication 1` against the shipped topology; and `scheduling: batch` against the
    /// shipped topology's, idle and beside busy loops.
    func summarize(_ rows: [ResultRow]) -> [ResultRow] {
        var summary = rows
        let comparisons: [(metric: String, label: String, unit: String, combine: (Double, Double) -> Double)] = [
            ("examples/s", "examples/s zps/VW", "x", { $0 / $1 }),
            ("end-to-end examples/s", "end-to-end zps/VW", "x", { $0 / $1 }),
            ("CPU per example", "CPU per example zps/VW", "x", { $0 / $1 }),
            ("test AUC", "AUC zps-VW", "AUC", { $0 - $1 }),
            ("test logloss", "logloss zps-VW", "logloss", { $0 - $1 }),
        ]
        func compare(_ shape: String, with base: String, suffix: String, labels: (String) -> String) {
            for comparison in comparisons {
                guard let zps = rows.first(where: { $0.shape == shape && $0.metric == comparison.metric }),
                    let reference = rows.first(where: { $0.shape == base && $0.metric == comparison.metric })
                else { continue }
                var derived = zps
                derived.shape = shape + suffix
                derived.metric = labels(comparison.label)
                derived.unit = comparison.unit
                derived.median = comparison.combine(zps.median, reference.median)
                derived.runs = zip(zps.runs, reference.runs).map(comparison.combine)
                summary.append(derived)
            }
        }
        for shape in Self.comparedShapes {
            compare(shape.name, with: Self.vowpalWabbitShape, suffix: " / VW") { $0 }
        }
        compare(Self.replicated.name, with: Self.comparedShapes[0].name, suffix: " / shipped") { label in
            label.replacingOccurrences(of: "zps/VW", with: "replicated/shipped").replacingOccurrences(of: "zps-VW", with: "replicated-shipped")
        }
        for (shipped, batch) in Self.schedulingPairs {
            compare(batch.name, with: shipped.name, suffix: " / shipped") { label in
                label.replacingOccurrences(of: "zps/VW", with: "batch/shipped").replacingOccurrences(of: "zps-VW", with: "batch-shipped")
            }
        }
        return summary
    }

    func plot(_ rows: [ResultRow]) -> String? {
        CostPlot.svg(rows, shapes: [Self.vowpalWabbitShape] + Self.zpsShapes.map(\.name))
    }
}
