import ZeroMQ

/// Pushes only the entries whose accumulated change is significant; the rest accumulate locally
/// and go out once they are (or with ``flush(table:valueLength:)``).
///
/// For one table on one worker. A key's pending change is the sum of everything pushed for it and
/// not yet sent; an entry is sent, and its pending change cleared, when any of its floats exceeds
/// the threshold in magnitude. Nothing is lost: the sum of what the server receives plus what is
/// pending always equals the sum of what was pushed.
public struct SignificantlyModifiedFilter: Sendable {
    /// The magnitude an accumulated change must exceed to be sent.
    public let threshold: Float
    /// Floats per key.
    public let valueLength: Int
    /// The slot of each key with a pending change.
    private var slots: [UInt64: Int] = [:]
    /// Pending changes, `valueLength` floats per slot.
    private var pending: [Float] = []
    private var freeSlots: [Int] = []

    /// Creates the filter for a table with `valueLength` floats per key.
    public init(threshold: Float, valueLength: Int) {
        precondition(valueLength > 0, "valueLength must be positive")
        self.threshold = threshold
        self.valueLength = valueLength
    }

    /// Keys with a pending change.
    public var pendingKeyCount: Int { slots.count }

    /// The push with insignificant entries held back and earlier pending changes added to the rest.
    /// Other messages, and pushes with per-key lengths, pass unchanged.
    public mutating func filter(_ message: Message) -> Message {
        let header = message.header
        guard header.kind == .push, !header.flags.contains(.hasLengths), !header.isFilterEncoded,
            Int(header.valueLength) == valueLength, let keys = message.keys, let values = message.values
        else { return message }
        let count = keys.count / 8
        let width = valueLength
        var outKeys: [UInt64] = []
        var outValues: [Float] = []
        outKeys.reserveCapacity(count)
        outValues.reserveCapacity(count * width)
        withUnsafeTemporaryAllocation(of: Float.self, capacity: width) { sum in
            keys.withUnsafeBytes { keyBytes in
                values.withUnsafeBytes { valueBytes in
                    for index in 0..<count {
                        let key = keyBytes.loadUnaligned(fromByteOffset: 8 * index, as: UInt64.self)
                        let slot = slots[key]
                        var significant = false
                        for j in 0..<width {
                            var total = valueBytes.loadUnaligned(fromByteOffset: 4 * (index * width + j), as: Float.self)
                            if let slot { total += pending[slot * width + j] }
                            sum[j] = total
                            significant = significant || abs(total) > threshold
                        }
                        if significant {
                            outKeys.append(key)
                            outValues.append(contentsOf: sum)
                            if let slot { release(key, slot: slot) }
                        } else {
                            let target = slot ?? allocate(key)
                            for j in 0..<width { pending[target * width + j] = sum[j] }
                        }
                    }
                }
            }
        }
        var result = message
        result.header.keyCount = UInt32(outKeys.count)
        result.keys = Frame(array: outKeys)
        result.values = Frame(array: outValues)
        return result
    }

    /// A push of every pending change (sorted by key), clearing them; `nil` when nothing is pending.
    public mutating func flush(table: UInt32) -> (keys: [UInt64], values: [Float])? {
        guard !slots.isEmpty else { return nil }
        let keys = slots.keys.sorted()
        var values: [Float] = []
        values.reserveCapacity(keys.count * valueLength)
        for key in keys {
            let slot = slots[key]!
            values.append(contentsOf: pending[(slot * valueLength)..<((slot + 1) * valueLength)])
        }
        slots.removeAll()
        pending.removeAll()
        freeSlots.removeAll()
        return (keys, values)
    }

    private mutating func allocate(_ key: UInt64) -> Int {
        let slot: Int
        if let free = freeSlots.popLast() {
            slot = free
        } else {
            slot = pending.count / valueLength
            pending.append(contentsOf: repeatElement(0, count: valueLength))
        }
        slots[key] = slot
        return slot
    }

    private mutating func release(_ key: UInt64, slot: Int) {
        slots[key] = nil
        freeSlots.append(slot)
    }
}
