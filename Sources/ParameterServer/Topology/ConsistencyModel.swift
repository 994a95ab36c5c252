/// How much a worker's requests to a table may overlap (Li et al., OSDI 2014, section 3.3).
public enum ConsistencyModel: Hashable, Sendable, CustomStringConvertible {
    /// Each request starts only after the previous one finished.
    case sequential
    /// Requests never wait for each other (fully asynchronous).
    case eventual
    /// A request waits until every request issued more than `maxDelay` requests before it has finished.
    /// A delay of 0 is ``sequential``.
    case boundedDelay(maxDelay: Int)
    /// Servers aggregate the pushes of every worker before applying them and answering pulls
    /// (bulk synchronous parallel).
    case bsp

    /// The name used in topology files.
    public var name: String {
        switch self {
        case .sequential: return "sequential"
        case .eventual: return "eventual"
        case .boundedDelay: return "bounded_delay"
        case .bsp: return "bsp"
        }
    }

    /// The names accepted in topology files, in the order the documentation lists them.
    public static let names = ["sequential", "eventual", "bounded_delay", "bsp"]

    /// The delay bound τ for ``boundedDelay(maxDelay:)``, `nil` for the other models.
    public var maxDelay: Int? {
        if case .boundedDelay(let maxDelay) = self { return maxDelay }
        return nil
    }

    /// `bounded_delay(4)` for bounded delay, the plain name otherwise.
    public var description: String {
        if case .boundedDelay(let maxDelay) = self { return "bounded_delay(\(maxDelay))" }
        return name
    }
}
