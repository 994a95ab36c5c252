/// The minibatches of one pass over a worker's rows, each with its key index, kept in memory so that
/// later passes over the same rows neither parse nor index again (what Vowpal Wabbit's cache file
/// does for its passes after the first).
///
/// All or nothing, within a budget: once the recorded batches would take more than ``budget`` bytes,
/// the cache drops them and stays empty, and later passes read the file again. A replay yields the
/// batches in recording order, so a replayed pass trains exactly as a re-read one would.
public final class MinibatchCache {
    /// One recorded minibatch.
    struct Entry: Sendable {
        /// The examples, without their feature keys: ``keys`` stands for them.
        let batch: ExampleBatch
        /// Their sorted unique keys and the slot of every feature.
        let keys: BatchKeys
    }

    /// The most bytes the recorded batches may take.
    public let budget: Int
    /// The recorded batches, in order; empty after an overflow.
    private(set) var entries: [Entry] = []
    /// The bytes the recorded batches take (array storage, by capacity).
    public private(set) var bytes = 0
    /// Whether a pass outgrew the budget, so nothing is kept.
    public private(set) var overflowed = false

    /// An empty cache that keeps at most `budget` bytes of batches.
    public init(budget: Int) {
        precondition(budget >= 0, "a cache budget must not be negative")
        self.budget = budget
    }

    /// The batches recorded.
    public var count: Int { entries.count }

    /// Whether a recorded pass can be replayed: something was recorded and nothing dropped.
    public var isReplayable: Bool { !overflowed && !entries.isEmpty }

    /// Records `batch` with its `keys`, unless the budget is already exceeded.
    public func record(_ batch: ExampleBatch, keys: BatchKeys) {
        guard !overflowed else { return }
        let entry = Entry(
            batch: batch.droppingFeatureKeys(), keys: BatchKeys(keys: Self.trimmed(keys.keys), slots: keys.slots))
        let size = Self.bytes(of: entry)
        guard bytes + size <= budget else {
            overflowed = true
            entries = []
            bytes = 0
            return
        }
        entries.append(entry)
        bytes += size
    }

    /// The storage `entry` holds on to.
    static func bytes(of entry: Entry) -> Int {
        let batch = entry.batch
        return batch.labels.capacity * MemoryLayout<Float>.stride
            + batch.rowOffsets.capacity * MemoryLayout<Int32>.stride
            + batch.featureKeys.capacity * MemoryLayout<UInt64>.stride
            + batch.featureValues.capacity * MemoryLayout<Float>.stride
            + entry.keys.keys.capacity * MemoryLayout<UInt64>.stride
            + entry.keys.slots.capacity * MemoryLayout<Int32>.stride
    }

    /// `keys` in storage of its own size: an indexer may list keys into room for one per feature.
    private static func trimmed(_ keys: [UInt64]) -> [UInt64] {
        guard keys.capacity > keys.count + keys.count / 8 else { return keys }
        return keys.withUnsafeBufferPointer { source in
            [UInt64](unsafeUninitializedCapacity: source.count) { copy, initialized in
                _ = copy.initialize(fromContentsOf: source)
                initialized = source.count
            }
        }
    }
}
