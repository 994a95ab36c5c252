import ZeroMQ

/// The loop the value filters share: each entry of a push, plus what is pending for its key, is
/// either sent (and its pending change cleared) or held back in ``PendingChanges``, as `holds` decides.
enum ValueFilterPass {
    /// The push with the held entries removed; `holds(index, key, sum)` sees the entry's index in
    /// the push, its key and its total (incoming plus pending). Messages other than plain pushes of
    /// `valueLength` floats per key pass unchanged.
    static func run(
        _ message: Message, valueLength: Int, pending: inout PendingChanges,
        holds: (_ index: Int, _ key: UInt64, _ sum: UnsafeMutableBufferPointer<Float>) -> Bool
    ) -> Message {
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
                        let slot = pending.total(of: key, incoming: valueBytes, offset: index * width, into: sum)
                        if holds(index, key, sum) {
                            pending.hold(key, slot: slot, sum)
                        } else {
                            outKeys.append(key)
                            outValues.append(contentsOf: sum)
                            pending.release(key, slot: slot)
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
}
