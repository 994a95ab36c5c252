import Testing

@testable import ParameterServer

/// The checks of a topology that run before any process starts: application parameter names,
/// paths relative to the topology file, parameters removed from the command line, and every
/// table's updater options.
@Suite("Topology application checks")
struct TopologyApplicationChecksTests {
    static let yaml = """
        name: checks
        servers: { count: 1 }
        workers: { count: 1 }
        tables:
          - { name: w, updater: sgd, updater_options: { learning_rate: 0.1 } }
        application:
          kind: sparse_lr
          train: data/train.tsv
          test: /data/test.tsv
          epoch: 5
          minibtach: 7
        """
    static let known = ["format", "train", "test", "epochs", "minibatch"]

    @Test func unknownParametersAreReportedInFileOrderWithTheClosestName() throws {
        let topology = try Topology.parse(yaml: Self.yaml, file: "dir/checks.yaml")
        #expect(throws: TopologyError(
            .unknownKey, file: "dir/checks.yaml", line: 10, column: 10, path: "application.epoch",
            message: "unknown parameter of sparse_lr; did you mean \"epochs\"?")
        ) {
            try topology.application.checkParameterNames(known: Self.known)
        }
        var fixed = topology
        fixed.application.parameters["epoch"] = nil
        #expect(throws: TopologyError(
            .unknownKey, file: "dir/checks.yaml", line: 11, column: 14, path: "application.minibtach",
            message: "unknown parameter of sparse_lr; did you mean \"minibatch\"?")
        ) {
            try fixed.application.checkParameterNames(known: Self.known)
        }
        fixed.application.parameters["minibtach"] = nil
        try fixed.application.checkParameterNames(known: Self.known)
    }

    @Test func commandLineParametersComeFirstAndTopologyFieldsNameTheirFlag() throws {
        var overrides = TopologyOverrides()
        try overrides.setApplicationParameter("workers=3")
        let topology = try Topology.parse(yaml: Self.yaml, file: "checks.yaml").withOverrides(overrides)
        #expect(throws: TopologyError(
            .unknownKey, at: .commandLine, path: "application.workers",
            message: "unknown parameter of sparse_lr; workers is a topology field, set with --workers N")
        ) {
            try topology.application.checkParameterNames(known: Self.known + ["epoch", "minibtach"])
        }
        var far = TopologyOverrides()
        try far.setApplicationParameter("zzz=1")
        #expect(throws: TopologyError(
            .unknownKey, at: .commandLine, path: "application.zzz",
            message: "unknown parameter of sparse_lr (expected one of format, train, test, epochs, minibatch, epoch, minibtach)")
        ) {
            try Topology.parse(yaml: Self.yaml, file: "checks.yaml").withOverrides(far).application
                .checkParameterNames(known: Self.known + ["epoch", "minibtach"])
        }
    }

    @Test func pathsResolveFromTheTopologyFileUnlessAbsoluteOrFromTheCommandLine() throws {
        var overrides = TopologyOverrides()
        try overrides.setApplicationParameter("save_model=out/model.txt")
        let application = try Topology.parse(yaml: Self.yaml, file: "dir/sub/checks.yaml").withOverrides(overrides).application
        #expect(application.resolvedPath("data/train.tsv", of: "train") == "dir/sub/data/train.tsv")
        #expect(application.resolvedPath("/data/test.tsv", of: "test") == "/data/test.tsv")
        #expect(application.resolvedPath("out/model.txt", of: "save_model") == "out/model.txt")
        let here = try Topology.parse(yaml: Self.yaml, file: "checks.yaml").application
        #expect(here.resolvedPath("data/train.tsv", of: "train") == "data/train.tsv")
    }

    @Test func anEmptyValueRemovesAParameter() throws {
        var overrides = TopologyOverrides()
        try overrides.setApplicationParameter("test=")
        try overrides.setApplicationParameter("epoch=")
        try overrides.setApplicationParameter("epochs=2")
        let application = try Topology.parse(yaml: Self.yaml, file: "checks.yaml").withOverrides(overrides).application
        #expect(application.parameters == [
            "train": .string("data/train.tsv"), "minibtach": .int(7), "epochs": .int(2),
        ])
        // A later assignment sets a removed parameter again.
        try overrides.setApplicationParameter("test=t.tsv")
        #expect(try Topology.parse(yaml: Self.yaml, file: "checks.yaml").withOverrides(overrides)
            .application.parameters["test"] == .string("t.tsv"))
    }

    @Test func updaterOptionsAreCheckedAtTheOptionThatIsWrong() throws {
        let typo = try Topology.parse(
            yaml: Self.yaml.replacingOccurrences(of: "{ learning_rate: 0.1 }", with: "{ l2: 0, learnig_rate: 0.1 }"),
            file: "t.yaml")
        #expect(throws: TopologyError(
            .invalidValue, file: "t.yaml", line: 5, column: 70, path: "tables[0].updater_options.learnig_rate",
            message: "updater 'sgd' has no option 'learnig_rate'; it takes l2, learning_rate; did you mean \"learning_rate\"?")
        ) {
            try typo.validateUpdaterOptions()
        }
        let negative = try Topology.parse(
            yaml: Self.yaml.replacingOccurrences(of: "learning_rate: 0.1", with: "learning_rate: -1"), file: "t.yaml")
        #expect(throws: TopologyError(
            .invalidValue, file: "t.yaml", line: 5, column: 47, path: "tables[0].updater_options",
            message: "sgd needs learning_rate > 0 and l2 >= 0")
        ) {
            try negative.validateUpdaterOptions()
        }
        try Topology.parse(yaml: Self.yaml, file: "t.yaml").validateUpdaterOptions()
    }
}
