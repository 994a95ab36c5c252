import ArgumentParser
import SparseLR

/// `zps generate`: a seeded synthetic click data set in Criteo TSV form, drawn from a known sparse
/// logistic model, with each row's true click probability, so a trained model can be compared with
/// the model that made the data.
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Write a seeded synthetic click data set (Criteo TSV) and each row's true probability.",
        discussion: """
            The training rows come first, then the test rows, all drawn from the same true model; \
            the same seed gives the same bytes on every platform. Each file's true probabilities \
            go to FILE.probabilities, one per line.
            """)

    @Option(help: "Training rows.")
    var rows: Int = 100_000

    @Option(help: "Test rows.")
    var testRows: Int = 20_000

    @Option(help: "The seed of the true model and of the rows.")
    var seed: UInt64 = 1

    @Option(help: "The training file to write.")
    var train: String

    @Option(help: "The test file to write (none without it).")
    var test: String?

    func validate() throws {
        guard rows >= 0, testRows >= 0 else { throw ValidationError("--rows and --test-rows must not be negative") }
    }

    func run() throws {
        var generator = SyntheticCTRGenerator(seed: seed)
        do {
            try generator.write(rows: rows, to: train, probabilitiesPath: train + ".probabilities")
            print("wrote \(rows) rows to \(train) (true probabilities in \(train).probabilities)")
            if let test {
                try generator.write(rows: testRows, to: test, probabilitiesPath: test + ".probabilities")
                print("wrote \(testRows) rows to \(test) (true probabilities in \(test).probabilities)")
            }
        } catch {
            throw CommandFailure("generate: \(error)")
        }
    }
}
