/// Changes a value filter holds back instead of pushing: per key, the sum of what was pushed for it
/// and not yet sent, `valueLength` floats each. Memory grows with the keys held and is reused as
/// they are sent.
public struct PendingChanges: Sendable {
    /// Floats per key.
    public let valueLength: Int
    /// The slot of each key with a pending change.
    private var slots: [UInt64: Int] = [:]
    /// Pending changes, `valueLength` floats per slot.
    private var values: [Float] = []
    private var freeSlots: [Int] = []

    /// Creates an empty store for `valueLength` floats per key.
    public init(valueLength: Int) {
        precondition(valueLength > 0, "valueLength must be positive")
        self.valueLength = valueLength
    }

    /// Keys with a pending change.
    public var count: Int { slots.count }

    /// Whether nothing is held.
    public var isEmpty: Bool { slots.isEmpty }

    /// Writes into `sum` the `incoming` change of `key` (read from `incoming` at float index
    /// `offset`) plus what is pending for it, and returns the slot holding the pending part.
    @inline(__always)
    func total(
        of key: UInt64, incoming: UnsafeRawBufferPointer, offset: Int, into sum: UnsafeMutableBufferPointer<Float>
    ) -> Int? {
        let slot = slots[key]
        for j in 0..<valueLength {
            var value = incoming.loadUnaligned(fromByteOffset: 4 * (offset + j), as: Float.self)
            if let slot { value += values[slot * valueLength + j] }
            sum[j] = value
        }
        return slot
    }

    /// Holds `sum` as the pending change of `key`, in `slot` when it already has one.
    @inline(__always)
    mutating func hold(_ key: UInt64, slot: Int?, _ sum: UnsafeMutableBufferPointer<Float>) {
        let target = slot ?? allocate(key)
        for j in 0..<valueLength { values[target * valueLength + j] = sum[j] }
    }

    /// Forgets the pending change of `key` (in `slot`), which is being sent.
    @inline(__always)
    mutating func release(_ key: UInt64, slot: Int?) {
        guard let slot else { return }
        slots[key] = nil
        freeSlots.append(slot)
    }

    /// Adds the pending changes of `other` to these and empties `other`.
    public mutating func absorb(_ other: inout PendingChanges) {
        precondition(other.valueLength == valueLength, "value lengths differ")
        for (key, otherSlot) in other.slots {
            let slot = slots[key] ?? allocate(key)
            for j in 0..<valueLength { values[slot * valueLength + j] += other.values[otherSlot * valueLength + j] }
        }
        other.removeAll()
    }

    /// Hands every pending change over in a new store, leaving this one empty.
    public mutating func take() -> PendingChanges {
        var taken = PendingChanges(valueLength: valueLength)
        swap(&taken, &self)
        return taken
    }

    /// Every pending change, sorted by key, and empties the store; `nil` when nothing is held.
    public mutating func flush() -> (keys: [UInt64], values: [Float])? {
        guard !slots.isEmpty else { return nil }
        let keys = slots.keys.sorted()
        var flushed: [Float] = []
        flushed.reserveCapacity(keys.count * valueLength)
        for key in keys {
            let slot = slots[key]!
            flushed.append(contentsOf: values[(slot * valueLength)..<((slot + 1) * valueLength)])
        }
        removeAll()
        return (keys, flushed)
    }

    private mutating func removeAll() {
        slots.removeAll()
        values.removeAll()
        freeSlots.removeAll()
    }

    private mutating func allocate(_ key: UInt64) -> Int {
        let slot: Int
        if let free = freeSlots.popLast() {
            slot = free
            for j in 0..<valueLength { values[slot * valueLength + j] = 0 }
        } else {
            slot = values.count / valueLength
            values.append(contentsOf: repeatElement(0, count: valueLength))
        }
        slots[key] = slot
        return slot
    }
}
