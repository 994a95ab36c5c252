import Foundation
import Testing
@testable import SparseLR

/// Real data read in place from the shared data folder; it is never committed, so the tests that
/// need it are skipped, with the reason shown, where it is absent.
///
/// The folder is `$ZPS_DATA` when set, else `shared/data` beside the package root (a checkout keeps
/// `shared/` next to it), found from this file's path rather than from any one machine's layout.
enum RealData {
    static let folder: URL = {
        if let path = ProcessInfo.processInfo.environment["ZPS_DATA"], !path.isEmpty {
            return URL(fileURLWithPath: path, isDirectory: true)
        }
        return packageRoot.deletingLastPathComponent().appendingPathComponent("shared/data", isDirectory: true)
    }()

    /// The package root: this file lies in `Tests/SparseLRTests/`.
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let criteo = path("criteo_dac_train_head10k.tsv")
    static let avazu = path("avazu_train_head10k.csv")
    static let w8a = path("w8a.libsvm")

    static func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    static func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    /// Runs the test only where `path` exists; elsewhere the runner reports it skipped, and why.
    static func required(_ path: String) -> ConditionTrait {
        .enabled(if: exists(path), "no data set at \(path) (set ZPS_DATA to the folder that holds it)")
    }

    static func read<Format: ExampleLineFormat>(
        _ path: String, _ format: Format, _ selection: RowSelection = .all, biasKey: UInt64? = nil
    ) throws -> ExampleBatch {
        try ExampleReader(path: path, format: format, options: ReaderOptions(selection: selection, biasKey: biasKey)).readAll()
    }
}
