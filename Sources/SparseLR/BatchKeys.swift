/// The sorted, unique keys a batch touches, and where each feature occurrence sits among them.
///
/// This is what a worker pulls and pushes: weights and gradients travel aligned with ``keys``, and
/// ``slots`` maps each entry of the batch's `featureKeys` to its weight without any hashing.
public struct BatchKeys: Sendable, Equatable {
    /// Strictly ascending keys, one per distinct key of the batch.
    public var keys: [UInt64]
    /// For each feature occurrence of the batch, the index of its key in ``keys``.
    public var slots: [Int32]

    /// Creates the index from its parts.
    public init(keys: [UInt64], slots: [Int32]) {
        self.keys = keys
        self.slots = slots
    }

    /// Indexes `featureKeys`: sorts and deduplicates a copy, then finds each occurrence by binary search.
    public init(featureKeys: [UInt64]) {
        var sorted = featureKeys
        sorted.sort()
        var uniqueCount = 0
        sorted.withUnsafeMutableBufferPointer { buffer in
            for index in buffer.indices where uniqueCount == 0 || buffer[uniqueCount - 1] != buffer[index] {
                buffer[uniqueCount] = buffer[index]
                uniqueCount += 1
            }
        }
        sorted.removeSubrange(uniqueCount...)
        precondition(uniqueCount <= Int(Int32.max), "BatchKeys holds at most Int32.max distinct keys")
        var slots = [Int32](repeating: 0, count: featureKeys.count)
        sorted.withUnsafeBufferPointer { unique in
            featureKeys.withUnsafeBufferPointer { occurrences in
                slots.withUnsafeMutableBufferPointer { slotBuffer in
                    for index in occurrences.indices {
                        slotBuffer[index] = Int32(truncatingIfNeeded: Self.position(of: occurrences[index], in: unique))
                    }
                }
            }
        }
        self.keys = sorted
        self.slots = slots
    }

    /// The number of distinct keys.
    @inlinable public var count: Int { keys.count }

    /// The index of `key` in the sorted `unique`, which must hold it.
    @inline(__always)
    static func position(of key: UInt64, in unique: UnsafeBufferPointer<UInt64>) -> Int {
        var low = 0
        var high = unique.count
        while low < high {
            let middle = (low &+ high) >> 1
            if unique[middle] < key { low = middle &+ 1 } else { high = middle }
        }
        return low
    }
}

extension ExampleBatch {
    /// The sorted unique keys this batch touches and the slot of every feature occurrence.
    public func uniqueKeys() -> BatchKeys {
        BatchKeys(featureKeys: featureKeys)
    }
}
