import CSystem

/// The gather loop of a dense store with one float per key: a pull's hot path.
///
/// The loop is memory-bound (each key is a cache miss in a large store), so its speed is how many
/// misses the processor keeps in flight, which falls with every extra instruction per key. Kept in
/// a function of its own so every pointer stays in a register (inside the store's larger method
/// they were spilled and reloaded per key), with no overflow trap on the slot: the keys were checked
/// to lie in the store's range before they got here.
enum DenseGather {
    @inline(never)
    static func gather(
        keys: UnsafeRawPointer, count: Int, lowerBound: UInt64, values: UnsafePointer<Float>,
        into output: UnsafeMutablePointer<Float>
    ) {
        var index = 0
        // As in ``DenseAdd``: the slot `prefetchDistance` keys ahead is asked for early.
        let prefetchEnd = count &- prefetchDistance
        while index < prefetchEnd {
            let ahead = keys.loadUnaligned(fromByteOffset: (index &+ prefetchDistance) &* 8, as: UInt64.self)
            zps_prefetch_for_reading(values + Int(truncatingIfNeeded: ahead &- lowerBound))
            let key = keys.loadUnaligned(fromByteOffset: index &* 8, as: UInt64.self)
            output[index] = values[Int(truncatingIfNeeded: key &- lowerBound)]
            index &+= 1
        }
        while index < count {
            let key = keys.loadUnaligned(fromByteOffset: index &* 8, as: UInt64.self)
            output[index] = values[Int(truncatingIfNeeded: key &- lowerBound)]
            index &+= 1
        }
    }
}
