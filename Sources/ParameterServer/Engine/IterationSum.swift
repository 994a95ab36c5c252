/// The running sum of one BSP iteration's pushes on one server: sorted keys, `valueLength` floats each.
///
/// Each push is merged in with one pass over both sorted lists, so a server holds one aggregate per
/// open iteration (the union of the keys pushed) rather than one copy per worker, and applies it to
/// the table once when ``BSPAggregator`` says the iteration is complete.
public struct IterationSum: Sendable {
    /// Floats per key.
    public let valueLength: Int
    /// The keys pushed so far, strictly ascending.
    public private(set) var keys: [UInt64] = []
    /// `valueLength` floats per key in ``keys``: the sum of every push of that key.
    public private(set) var values: [Float] = []

    /// An empty sum for values of `valueLength` floats per key.
    public init(valueLength: Int) {
        precondition(valueLength > 0, "a value holds at least one float")
        self.valueLength = valueLength
    }

    /// Adds a push of `count` strictly ascending keys and their values (raw little-endian memory, any
    /// alignment, as it arrives in payload frames).
    public mutating func add(keys incomingKeys: UnsafeRawPointer, count: Int, values incomingValues: UnsafeRawPointer) {
        guard count > 0 else { return }
        let width = valueLength
        if keys.isEmpty {
            keys = [UInt64](unsafeUninitializedCapacity: count) { buffer, initialized in
                UnsafeMutableRawPointer(buffer.baseAddress!).copyMemory(from: incomingKeys, byteCount: 8 * count)
                initialized = count
            }
            values = [Float](unsafeUninitializedCapacity: count * width) { buffer, initialized in
                UnsafeMutableRawPointer(buffer.baseAddress!).copyMemory(from: incomingValues, byteCount: 4 * count * width)
                initialized = count * width
            }
            return
        }
        var mergedKeys: [UInt64] = []
        var mergedValues: [Float] = []
        mergedKeys.reserveCapacity(keys.count + count)
        mergedValues.reserveCapacity((keys.count + count) * width)
        keys.withUnsafeBufferPointer { old in
            values.withUnsafeBufferPointer { oldValues in
                var i = 0
                var j = 0
                while i < old.count || j < count {
                    let incoming = j < count ? incomingKeys.loadUnaligned(fromByteOffset: 8 * j, as: UInt64.self) : .max
                    if i < old.count && (j == count || old[i] < incoming) {
                        mergedKeys.append(old[i])
                        mergedValues.append(contentsOf: oldValues[(i * width)..<((i + 1) * width)])
                        i += 1
                    } else if i < old.count && old[i] == incoming {
                        mergedKeys.append(incoming)
                        for e in 0..<width {
                            let added = incomingValues.loadUnaligned(fromByteOffset: 4 * (j * width + e), as: Float.self)
                            mergedValues.append(oldValues[i * width + e] + added)
                        }
                        i += 1
                        j += 1
                    } else {
                        mergedKeys.append(incoming)
                        for e in 0..<width {
                            mergedValues.append(incomingValues.loadUnaligned(fromByteOffset: 4 * (j * width + e), as: Float.self))
                        }
                        j += 1
                    }
                }
            }
        }
        keys = mergedKeys
        values = mergedValues
    }

    /// Adds a push given as arrays (tests, local callers).
    public mutating func add(keys incomingKeys: [UInt64], values incomingValues: [Float]) {
        precondition(incomingValues.count == incomingKeys.count * valueLength, "values do not match keys × valueLength")
        incomingKeys.withUnsafeBytes { keyBytes in
            incomingValues.withUnsafeBytes { valueBytes in
                guard let keyBase = keyBytes.baseAddress, let valueBase = valueBytes.baseAddress else { return }
                add(keys: keyBase, count: incomingKeys.count, values: valueBase)
            }
        }
    }
}
