import ParameterServer
import SparseLR

/// The `sparse_lr` application's parameters, read from the topology's `application:` section (and
/// the command line's overrides). Topologies/README.md lists them.
struct SparseLRSettings: Sendable {
    /// Where the examples come from: a file and the selection of its rows.
    struct DataSource: Sendable, Hashable {
        var path: String
        var selection: RowSelection
    }

    var encoding: FeatureEncoding
    var train: DataSource
    var test: DataSource?
    /// The true click probability of each data line of the test file, one per line (from `zps generate`).
    var testProbabilitiesPath: String?
    var epochs: Int
    var minibatch: Int
    var shuffle: Bool
    var seed: UInt64
    var gradientScale: ClusterTrainer.GradientScale
    var pipelineDepth: Int
    var table: TableSpec
    var saveModelPath: String?
    var keySpace: UInt64
    /// What a reader does with a line it cannot parse (`on_bad_line`).
    var malformedLines: MalformedLinePolicy
    /// The most bytes of parsed, indexed minibatches a worker keeps for epochs after the first
    /// (`minibatch_cache_mb`); 0 reads the file every epoch.
    var minibatchCacheBytes: Int

    /// The `application:` parameters the job reads.
    static let parameterNames = [
        "format", "train", "train_rows", "test", "test_rows", "holdout", "test_probabilities", "hash_bits", "bias",
        "label_column", "ignored_columns", "separator", "epochs", "minibatch", "gradient", "shuffle", "seed",
        "inflight", "table", "save_model", "on_bad_line", "minibatch_cache_mb",
    ]

    /// `minibatch_cache_mb` when the topology leaves it out: room for a shard of about a million Criteo rows.
    static let defaultMinibatchCacheMiB = 512

    init(topology: Topology) throws(TopologyError) {
        let application = topology.application
        let formatName = try Self.text(application, "format") ?? ""
        guard let format = FeatureEncoding.Format(rawValue: formatName) else {
            throw formatName.isEmpty
                ? application.missing("format", expected: Self.formatList)
                : application.invalid("format", "expected one of \(Self.formatList), found \"\(formatName)\"")
        }
        let separator = try Self.text(application, "separator") ?? ","
        guard separator.utf8.count == 1 else {
            throw application.invalid("separator", "expected a single character, found \"\(separator)\"")
        }
        encoding = FeatureEncoding(
            format: format,
            hashBits: try application.int("hash_bits", in: FeatureEncoding.hashBitsLimits) ?? 20,
            bias: try application.bool("bias") ?? true,
            labelColumn: try Self.text(application, "label_column") ?? "click",
            ignoredColumns: (try Self.text(application, "ignored_columns") ?? "").split(separator: ",").map(String.init),
            separator: separator.utf8.first!)

        guard let trainPath = try Self.path(application, "train") else {
            throw application.missing("train", expected: "the path of the training file")
        }
        let trainRows = try Self.rows(application, "train_rows")
        let testPath = try Self.path(application, "test")
        let hasTestRows = application.parameters["test_rows"] != nil
        if let holdout = try application.int("holdout", in: 2...1000) {
            // Every holdout-th row of the training rows is tested on and never trained on.
            guard testPath == nil, !hasTestRows else {
                throw application.invalid("holdout", "holds test rows out of the training file; leave out test and test_rows")
            }
            let heldOut = Shard(holdout - 1, of: holdout)
            train = DataSource(path: trainPath, selection: RowSelection(rows: trainRows, excluded: heldOut))
            test = DataSource(path: trainPath, selection: RowSelection(rows: trainRows, shard: heldOut))
        } else {
            train = DataSource(path: trainPath, selection: RowSelection(rows: trainRows))
            if testPath != nil || hasTestRows {
                test = DataSource(path: testPath ?? trainPath, selection: RowSelection(rows: try Self.rows(application, "test_rows")))
            } else {
                test = nil
            }
        }
        testProbabilitiesPath = try Self.path(application, "test_probabilities")
        if testProbabilitiesPath != nil, test == nil {
            throw application.invalid("test_probabilities", "needs a test set (test, test_rows or holdout)")
        }

        epochs = try application.int("epochs", in: 1...10_000) ?? 1
        minibatch = try application.int("minibatch", in: 1...(1 << 24)) ?? 10
        shuffle = try application.bool("shuffle") ?? false
        seed = UInt64(try application.int("seed", in: 0...Int.max) ?? 1)
        let scaleName = try Self.text(application, "gradient") ?? ClusterTrainer.GradientScale.sum.rawValue
        guard let scale = ClusterTrainer.GradientScale(rawValue: scaleName) else {
            throw application.invalid("gradient", "expected sum or mean, found \"\(scaleName)\"")
        }
        gradientScale = scale
        saveModelPath = try Self.path(application, "save_model")
        switch try Self.text(application, "on_bad_line") ?? "fail" {
        case "fail": malformedLines = .fail
        case "skip": malformedLines = .skip
        case let other: throw application.invalid("on_bad_line", "expected fail or skip, found \"\(other)\"")
        }
        keySpace = topology.keySpace
        minibatchCacheBytes = (try application.int("minibatch_cache_mb", in: 0...(1 << 24)) ?? Self.defaultMinibatchCacheMiB) << 20

        let tableName = try Self.text(application, "table")
        guard let table = tableName.map({ name in topology.tables.first { $0.name == name } }) ?? topology.tables.first else {
            throw application.invalid("table", "no table named \"\(tableName ?? "")\" in the topology")
        }
        guard ["sgd", "adagrad", "ftrl"].contains(table.updater), table.valueLength == 1 else {
            throw TopologyError(
                .invalidValue, at: topology.location(of: "tables"), path: "tables",
                message: "sparse_lr pushes gradients, so table '\(table.name)' needs value_length 1 and the updater sgd, adagrad or ftrl (found \(table.updater), value_length \(table.valueLength))")
        }
        self.table = table
        // The pipeline follows the table's consistency model: how many of its own pushes a pull may miss.
        let inflight = try application.int("inflight", in: 0...1024) ?? 4
        switch table.consistency {
        case .sequential, .bsp: pipelineDepth = 0
        case .boundedDelay(let maxDelay): pipelineDepth = maxDelay
        case .eventual: pipelineDepth = inflight
        }
        if let bound = encoding.keyBound, bound > keySpace {
            throw TopologyError(
                .invalidValue, at: topology.location(of: "key_space"), path: "key_space",
                message: "hash_bits \(encoding.hashBits) makes keys up to \(bound - 1) (the bias key), so key_space must be at least \(bound), found \(keySpace)")
        }
    }

    static let formatList = FeatureEncoding.Format.allCases.map(\.rawValue).joined(separator: ", ")

    /// A text parameter; numbers are accepted as written (a file called `2024` is still a path).
    static func text(_ application: ApplicationSpec, _ name: String) throws(TopologyError) -> String? {
        switch application.parameters[name] {
        case nil: return nil
        case .string(let text): return text
        case .int(let number): return String(number)
        case .double, .bool: return try application.string(name)
        }
    }

    /// A path parameter, relative to the topology file's directory when written there.
    static func path(_ application: ApplicationSpec, _ name: String) throws(TopologyError) -> String? {
        guard let written = try text(application, name) else { return nil }
        guard !written.isEmpty else { throw application.invalid(name, "expected a path, found \"\"") }
        return application.resolvedPath(written, of: name)
    }

    /// A 1-based inclusive row range written `FIRST-LAST` or `FIRST-` (to the end), as 0-based indices.
    static func rows(_ application: ApplicationSpec, _ name: String) throws(TopologyError) -> Range<Int> {
        guard let text = try text(application, name) else { return 0..<Int.max }
        guard let rows = parseRows(text) else {
            throw application.invalid(name, "expected 1-based rows FIRST-LAST or FIRST- (FIRST >= 1, LAST >= FIRST), found \"\(text)\"")
        }
        return rows
    }

    /// `FIRST-LAST` (1-based, inclusive) or `FIRST-` as 0-based indices; nil when malformed.
    static func parseRows(_ text: String) -> Range<Int>? {
        let parts = text.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, let first = Int(parts[0]), first >= 1 else { return nil }
        if parts[1].isEmpty { return (first - 1)..<Int.max }
        guard let last = Int(parts[1]), last >= first else { return nil }
        return (first - 1)..<last
    }
}
