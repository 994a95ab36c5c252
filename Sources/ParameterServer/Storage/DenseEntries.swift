import CSystem

/// The loops that read and write the entries of a dense store — per key `width` values and
/// `stateWidth` floats of updater state (FTRL's z and n), kept in two arrays — for a replicate, a
/// range copy and a replica writing them.
///
/// Like ``DenseGather``: memory-bound, each key a miss in each array of a large store, so the
/// slots `prefetchDistance` keys ahead are asked for while this one is copied, and every pointer
/// stays in a register. The keys are sorted and inside the store's range (the caller checked).
enum DenseEntries {
    @inline(never)
    static func read(
        keys: UnsafeRawPointer, count: Int, lowerBound: UInt64,
        values: UnsafePointer<Float>, width: Int, state: UnsafePointer<Float>?, stateWidth: Int,
        into output: UnsafeMutablePointer<Float>
    ) {
        let entry = width &+ stateWidth
        var index = 0
        while index < count {
            if index &+ prefetchDistance < count {
                let ahead = slot(keys, index &+ prefetchDistance, lowerBound)
                zps_prefetch_for_reading(values + ahead &* width)
                if let state { zps_prefetch_for_reading(state + ahead &* stateWidth) }
            }
            let slot = slot(keys, index, lowerBound)
            let target = output + index &* entry
            var j = 0
            while j < width {
                target[j] = values[slot &* width &+ j]
                j &+= 1
            }
            if let state {
                j = 0
                while j < stateWidth {
                    target[width &+ j] = state[slot &* stateWidth &+ j]
                    j &+= 1
                }
            }
            index &+= 1
        }
    }

    @inline(never)
    static func write(
        keys: UnsafeRawPointer, count: Int, lowerBound: UInt64, entries: UnsafeRawPointer,
        values: UnsafeMutablePointer<Float>, width: Int, state: UnsafeMutablePointer<Float>?, stateWidth: Int
    ) {
        let entry = width &+ stateWidth
        var index = 0
        while index < count {
            if index &+ prefetchDistance < count {
                let ahead = slot(keys, index &+ prefetchDistance, lowerBound)
                zps_prefetch_for_writing(values + ahead &* width)
                if let state { zps_prefetch_for_writing(state + ahead &* stateWidth) }
            }
            let slot = slot(keys, index, lowerBound)
            let source = entries + 4 &* index &* entry
            var j = 0
            while j < width {
                values[slot &* width &+ j] = source.loadUnaligned(fromByteOffset: 4 &* j, as: Float.self)
                j &+= 1
            }
            if let state {
                j = 0
                while j < stateWidth {
                    state[slot &* stateWidth &+ j] = source.loadUnaligned(fromByteOffset: 4 &* (width &+ j), as: Float.self)
                    j &+= 1
                }
            }
            index &+= 1
        }
    }

    @inline(__always)
    private static func slot(_ keys: UnsafeRawPointer, _ index: Int, _ lowerBound: UInt64) -> Int {
        Int(truncatingIfNeeded: keys.loadUnaligned(fromByteOffset: index &* 8, as: UInt64.self) &- lowerBound)
    }
}
