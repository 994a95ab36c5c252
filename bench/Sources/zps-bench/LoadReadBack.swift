import ParameterServer

/// The read-back that ends a push load of the fail-over and join runs: every key of the load's
/// sets started at 1 and got 1 from each push of its set, so each must hold 1 plus its set's
/// pushes. Returns the first key that does not, described, or `nil`.
func loadReadBackMismatch(_ worker: Worker, table: UInt32, sets: [[UInt64]], pushes: [Int]) async throws -> String? {
    var expected: [UInt64: Float] = [:]
    for (set, keys) in sets.enumerated() {
        for key in keys { expected[key, default: 1] += Float(pushes[set]) }
    }
    for keys in sets {
        let values = try await worker.pull(table: table, keys: keys)
        if let index = keys.indices.first(where: { values[$0] != expected[keys[$0]] }) {
            return "load key \(keys[index]) holds \(values[index]), expected \(expected[keys[index]]!): a push was lost or applied twice"
        }
    }
    return nil
}
