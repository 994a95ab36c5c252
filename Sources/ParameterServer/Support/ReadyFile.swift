import Foundation
import Logging

/// The file a node creates when it is ready (the manager listens; a server or worker was admitted),
/// for a readiness probe such as Kubernetes' `test -e FILE`.
public enum ReadyFile {
    /// Creates `path` (empty); a failure is logged, not fatal: the node works without its probe.
    public static func create(_ path: String, logger: Logger) {
        if !FileManager.default.createFile(atPath: path, contents: Data()) {
            logger.warning("could not create the ready file \(path)")
        }
    }
}
