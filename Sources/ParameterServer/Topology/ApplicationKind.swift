/// The program the workers of a job run.
public enum ApplicationKind: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// Pushes and pulls synthetic keys for a number of rounds and checks what comes back.
    case pushPull = "pushpull"
    /// Sparse logistic regression for click prediction (FTRL-Proximal on the servers).
    case sparseLR = "sparse_lr"
    /// The slow-worker workload of docs/CONSISTENCY.md on every table, reporting staleness and final weights.
    case consistency = "consistency"

    /// The name used in topology files.
    public var description: String { rawValue }
}
