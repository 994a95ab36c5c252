/// A minibatch of examples in compressed sparse row (CSR) form on four contiguous arrays.
///
/// Example `i` owns the features `rowOffsets[i] ..< rowOffsets[i + 1]` of ``featureKeys`` and
/// ``featureValues``. Readers fill a batch in place and reuse its storage from batch to batch, so
/// reading allocates nothing per example.
public struct ExampleBatch: Sendable, Equatable {
    /// The label of each example: 1 for a click, 0 otherwise.
    public private(set) var labels: [Float]
    /// `count + 1` offsets into the feature arrays; the first is always 0.
    public private(set) var rowOffsets: [Int32]
    /// The feature keys of all examples, example after example.
    public private(set) var featureKeys: [UInt64]
    /// The feature values, aligned with ``featureKeys``.
    public private(set) var featureValues: [Float]

    /// An empty batch.
    public init() {
        labels = []
        rowOffsets = [0]
        featureKeys = []
        featureValues = []
    }

    /// A batch from CSR arrays; they must be consistent (offsets start at 0, ascend and end at the feature count).
    public init(labels: [Float], rowOffsets: [Int32], featureKeys: [UInt64], featureValues: [Float]) {
        precondition(rowOffsets.count == labels.count + 1, "rowOffsets needs one more entry than labels")
        precondition(rowOffsets.first == 0, "rowOffsets must start at 0")
        precondition(featureKeys.count == featureValues.count, "featureKeys and featureValues differ in length")
        precondition(Int(rowOffsets.last!) == featureKeys.count, "the last row offset must equal the feature count")
        precondition(zip(rowOffsets, rowOffsets.dropFirst()).allSatisfy { $0 <= $1 }, "rowOffsets must not descend")
        self.labels = labels
        self.rowOffsets = rowOffsets
        self.featureKeys = featureKeys
        self.featureValues = featureValues
    }

    /// The number of complete examples.
    @inlinable public var count: Int { labels.count }

    /// Whether the batch holds no complete example.
    @inlinable public var isEmpty: Bool { labels.isEmpty }

    /// The number of features of all complete examples together.
    public var featureCount: Int { Int(rowOffsets[rowOffsets.count - 1]) }

    /// The number of positive examples.
    public var positiveCount: Int { labels.reduce(0) { $0 + ($1 > 0.5 ? 1 : 0) } }

    /// The example at `index`, as a view into this batch.
    public subscript(index: Int) -> Example {
        let range = Int(rowOffsets[index])..<Int(rowOffsets[index + 1])
        return Example(label: labels[index], keys: featureKeys[range], values: featureValues[range])
    }

    /// Adds one feature to the example being built; ``finishExample(label:)`` closes it.
    public mutating func appendFeature(key: UInt64, value: Float) {
        featureKeys.append(key)
        featureValues.append(value)
    }

    /// Adds the features `keys` to the example being built, each with `value`: two copies instead
    /// of two appends per feature.
    public mutating func appendFeatures(keys: UnsafeBufferPointer<UInt64>, value: Float) {
        featureKeys.append(contentsOf: keys)
        featureValues.append(contentsOf: repeatElement(value, count: keys.count))
    }

    /// Closes the example being built (the features appended since the last example) with its label.
    public mutating func finishExample(label: Float) {
        precondition(featureKeys.count <= Int(Int32.max), "ExampleBatch holds at most Int32.max features")
        labels.append(label)
        rowOffsets.append(Int32(truncatingIfNeeded: featureKeys.count))
    }

    /// Drops the features appended since the last complete example, e.g. after a malformed line.
    public mutating func discardUnfinishedExample() {
        let end = featureCount
        featureKeys.removeSubrange(end...)
        featureValues.removeSubrange(end...)
    }

    /// Appends a whole example.
    public mutating func append(label: Float, keys: some Sequence<UInt64>, values: some Sequence<Float>) {
        featureKeys.append(contentsOf: keys)
        featureValues.append(contentsOf: values)
        precondition(featureKeys.count == featureValues.count, "append needs as many values as keys")
        finishExample(label: label)
    }

    /// Appends every example of `other`.
    public mutating func append(contentsOf other: ExampleBatch) {
        let base = Int32(truncatingIfNeeded: featureKeys.count)
        labels.append(contentsOf: other.labels)
        rowOffsets.append(contentsOf: other.rowOffsets.dropFirst().lazy.map { $0 + base })
        featureKeys.append(contentsOf: other.featureKeys)
        featureValues.append(contentsOf: other.featureValues)
    }

    /// A new batch holding copies of the examples at `range`.
    public func examples(in range: Range<Int>) -> ExampleBatch {
        let first = Int(rowOffsets[range.lowerBound])
        let last = Int(rowOffsets[range.upperBound])
        let base = rowOffsets[range.lowerBound]
        return ExampleBatch(
            labels: Array(labels[range]),
            rowOffsets: rowOffsets[range.lowerBound...range.upperBound].map { $0 - base },
            featureKeys: Array(featureKeys[first..<last]),
            featureValues: Array(featureValues[first..<last]))
    }

    /// A new batch holding copies of the examples at `indices`, in that order.
    public func examples(at indices: some Sequence<Int>) -> ExampleBatch {
        var result = ExampleBatch()
        for index in indices {
            let range = Int(rowOffsets[index])..<Int(rowOffsets[index + 1])
            result.featureKeys.append(contentsOf: featureKeys[range])
            result.featureValues.append(contentsOf: featureValues[range])
            result.finishExample(label: labels[index])
        }
        return result
    }

    /// This batch without the storage of its feature keys, for a batch whose keys a ``BatchKeys``
    /// holds (its slots stand for the keys): ``featureKeys`` is then empty, and only code that reads
    /// features through those slots (``LogisticModel``) may use the result.
    func droppingFeatureKeys() -> ExampleBatch {
        var copy = self
        copy.featureKeys = []
        return copy
    }

    /// Empties the batch, keeping its storage for the next fill by default.
    public mutating func removeAll(keepingCapacity: Bool = true) {
        labels.removeAll(keepingCapacity: keepingCapacity)
        rowOffsets.removeAll(keepingCapacity: keepingCapacity)
        rowOffsets.append(0)
        featureKeys.removeAll(keepingCapacity: keepingCapacity)
        featureValues.removeAll(keepingCapacity: keepingCapacity)
    }
}
