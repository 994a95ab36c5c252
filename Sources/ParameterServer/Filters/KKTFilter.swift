import ZeroMQ

/// The KKT filter for L1-regularised models: a gradient entry is held back while the key's weight
/// is zero and the gradient accumulated for it is too small to make it non-zero (|g| ≤ λ in every
/// component).
///
/// An L1 (or FTRL-Proximal) server keeps a weight at zero while the sum of the gradients it received
/// for it stays within the regularisation strength, so a small gradient of a zero weight changes
/// nothing the worker can read. The filter does not drop such entries: it adds them up per key
/// (``PendingChanges``) and sends the sum once it exceeds λ, or once the key's weight is non-zero
/// or unknown. So the server's accumulated gradient of a key never lags the true one by more than λ
/// per worker, and nothing is lost: what is held goes out with ``flush()``.
///
/// For one table on one worker. The weights are those of the worker's recent pulls of the table
/// (``observe(keys:weights:)``): a push is checked against the pull of exactly its key list when
/// one of the last ``recentPulls`` was (a minibatch trainer pushes gradients against the weights it
/// pulled, while it already prefetches the next minibatches), else against the latest pull. A key
/// that pull did not cover is always pushed, because its weight is not known.
public struct KKTFilter: Sendable {
    /// The L1 strength λ.
    public let lambda: Float
    /// Floats per key.
    public var valueLength: Int { pending.valueLength }
    /// The recent pulls, oldest first.
    private var pulls: [(keys: [UInt64], weights: [Float])] = []
    /// Gradients held back, summed per key.
    var pending: PendingChanges
    /// How many pulls are remembered.
    public static let recentPulls = 16

    /// Creates the filter for a table with `valueLength` floats per key.
    public init(lambda: Float, valueLength: Int) {
        self.lambda = lambda
        self.pending = PendingChanges(valueLength: valueLength)
    }

    /// Keys with a gradient held back.
    public var pendingKeyCount: Int { pending.count }

    /// Remembers the weights a pull returned (sorted keys, `valueLength` floats each).
    public mutating func observe(keys: [UInt64], weights: [Float]) {
        guard weights.count == keys.count * valueLength else { return }
        if pulls.count == Self.recentPulls { pulls.removeFirst() }
        pulls.append((keys, weights))
    }

    /// The push without the entries the KKT condition says cannot change the model yet; their
    /// gradients are held and added to the key's next entry. Without a pull, pushes pass unchanged.
    public mutating func filter(_ message: Message) -> Message {
        guard message.header.kind == .push, let keys = message.keys, let latest = pulls.last else { return message }
        let count = keys.count / 8
        let pull = pulls.last { pull in
            pull.keys.count == count && pull.keys.withUnsafeBytes { known in keys.withUnsafeBytes { known.elementsEqual($0) } }
        } ?? latest
        let width = valueLength
        let lambda = self.lambda
        return pull.keys.withUnsafeBufferPointer { known in
            pull.weights.withUnsafeBufferPointer { weights in
                var cursor = 0
                return ValueFilterPass.run(message, valueLength: width, pending: &pending) { _, key, sum in
                    while cursor < known.count && known[cursor] < key { cursor += 1 }
                    guard cursor < known.count && known[cursor] == key else { return false }
                    for j in 0..<width where weights[cursor * width + j] != 0 || abs(sum[j]) > lambda { return false }
                    return true
                }
            }
        }
    }

    /// Every held gradient (sorted by key), clearing them; `nil` when nothing is held.
    public mutating func flush() -> (keys: [UInt64], values: [Float])? {
        pending.flush()
    }
}
