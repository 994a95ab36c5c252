/// One labelled example viewed inside an ``ExampleBatch``: slices of the batch's arrays, never a copy.
public struct Example: Sendable, Equatable {
    /// 1 for a click (positive), 0 otherwise.
    public var label: Float
    /// The example's feature keys, in the order the reader produced them.
    public var keys: ArraySlice<UInt64>
    /// The feature values, aligned with ``keys``.
    public var values: ArraySlice<Float>

    /// Creates an example view.
    public init(label: Float, keys: ArraySlice<UInt64>, values: ArraySlice<Float>) {
        precondition(keys.count == values.count, "Example needs as many values as keys")
        self.label = label
        self.keys = keys
        self.values = values
    }

    public static func == (lhs: Example, rhs: Example) -> Bool {
        lhs.label == rhs.label && lhs.keys.elementsEqual(rhs.keys) && lhs.values.elementsEqual(rhs.values)
    }
}
