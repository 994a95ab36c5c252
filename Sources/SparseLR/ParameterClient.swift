import ParameterServer

/// What training needs from the parameter server: a worker node, or an in-memory stand-in in tests.
public protocol ParameterClient: Sendable {
    /// Sends `values` for the sorted, unique `keys` of `table`; returns the task's timestamp at once.
    func push(table: UInt32, keys: [UInt64], values: [Float], updater: String?) async throws -> Timestamp
    /// The values of the sorted, unique `keys` of `table`, in key order.
    func pull(table: UInt32, keys: [UInt64]) async throws -> [Float]
    /// Waits until the task `timestamp` has been applied.
    func wait(_ timestamp: Timestamp) async throws
    /// Waits until every task issued so far has been applied.
    func waitForAll() async throws
}

extension Worker: ParameterClient {}
