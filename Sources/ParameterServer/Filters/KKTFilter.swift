import ZeroMQ

/// The KKT filter for L1-regularised models: a gradient entry is not pushed when the key's weight
/// is zero and the gradient is too small to make it non-zero (|g| ≤ λ in every component).
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
    public let valueLength: Int
    /// The recent pulls, oldest first.
    private var pulls: [(keys: [UInt64], weights: [Float])] = []
    /// How many pulls are remembered.
    public static let recentPulls = 16

    /// Creates the filter for a table with `valueLength` floats per key.
    public init(lambda: Float, valueLength: Int) {
        precondition(valueLength > 0, "valueLength must be positive")
        self.lambda = lambda
        self.valueLength = valueLength
    }

    /// Remembers the weights a pull returned (sorted keys, `valueLength` floats each).
    public mutating func observe(keys: [UInt64], weights: [Float]) {
        guard weights.count == keys.count * valueLength else { return }
        if pulls.count == Self.recentPulls { pulls.removeFirst() }
        pulls.append((keys, weights))
    }

    /// The push without the entries the KKT condition says cannot change the model.
    public func filter(_ message: Message) -> Message {
        let header = message.header
        guard header.kind == .push, !header.flags.contains(.hasLengths), !header.isFilterEncoded,
            Int(header.valueLength) == valueLength, let keys = message.keys, let values = message.values,
            let latest = pulls.last
        else { return message }
        let count = keys.count / 8
        let pull = pulls.last { pull in
            pull.keys.count == count && pull.keys.withUnsafeBytes { known in keys.withUnsafeBytes { known.elementsEqual($0) } }
        } ?? latest
        let pulledKeys = pull.keys
        let pulledWeights = pull.weights
        let width = valueLength
        let lambda = self.lambda
        var outKeys: [UInt64] = []
        var outValues: [Float] = []
        outKeys.reserveCapacity(count)
        outValues.reserveCapacity(count * width)
        pulledKeys.withUnsafeBufferPointer { known in
            pulledWeights.withUnsafeBufferPointer { weights in
                keys.withUnsafeBytes { keyBytes in
                    values.withUnsafeBytes { valueBytes in
                        var cursor = 0
                        for index in 0..<count {
                            let key = keyBytes.loadUnaligned(fromByteOffset: 8 * index, as: UInt64.self)
                            while cursor < known.count && known[cursor] < key { cursor += 1 }
                            var skip = cursor < known.count && known[cursor] == key
                            if skip {
                                for j in 0..<width {
                                    let gradient = valueBytes.loadUnaligned(fromByteOffset: 4 * (index * width + j), as: Float.self)
                                    if weights[cursor * width + j] != 0 || abs(gradient) > lambda { skip = false }
                                }
                            }
                            guard !skip else { continue }
                            outKeys.append(key)
                            for j in 0..<width {
                                outValues.append(valueBytes.loadUnaligned(fromByteOffset: 4 * (index * width + j), as: Float.self))
                            }
                        }
                    }
                }
            }
        }
        guard outKeys.count < count else { return message }
        var result = message
        result.header.keyCount = UInt32(outKeys.count)
        result.keys = Frame(array: outKeys)
        result.values = Frame(array: outValues)
        return result
    }
}
