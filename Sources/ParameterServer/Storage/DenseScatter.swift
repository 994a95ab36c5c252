import CSystem

/// The write loop of a dense store with one float per key and no updater state: a replica writing
/// the values its primary forwarded (``RangeStore/writeEntries(keys:count:entries:)``).
///
/// Like ``DenseGather``, kept in a function of its own so every pointer stays in a register, with no
/// overflow trap on the slot: the keys were checked to lie in the store's range before they got here.
enum DenseScatter {
    @inline(never)
    static func scatter(
        keys: UnsafeRawPointer, count: Int, lowerBound: UInt64, incoming: UnsafeRawPointer,
        into values: UnsafeMutablePointer<Float>
    ) {
        var index = 0
        // As in ``DenseAdd``: a replica's store is touched by nothing else, so nearly every slot
        // misses the caches; asking for the slot `prefetchDistance` keys ahead overlaps the misses.
        let prefetchEnd = count &- prefetchDistance
        while index < prefetchEnd {
            let ahead = keys.loadUnaligned(fromByteOffset: (index &+ prefetchDistance) &* 8, as: UInt64.self)
            zps_prefetch_for_writing(values + Int(truncatingIfNeeded: ahead &- lowerBound))
            let key = keys.loadUnaligned(fromByteOffset: index &* 8, as: UInt64.self)
            values[Int(truncatingIfNeeded: key &- lowerBound)] = incoming.loadUnaligned(fromByteOffset: index &* 4, as: Float.self)
            index &+= 1
        }
        while index < count {
            let key = keys.loadUnaligned(fromByteOffset: index &* 8, as: UInt64.self)
            values[Int(truncatingIfNeeded: key &- lowerBound)] = incoming.loadUnaligned(fromByteOffset: index &* 4, as: Float.self)
            index &+= 1
        }
    }
}
