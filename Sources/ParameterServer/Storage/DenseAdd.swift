/// The add loop of a dense store with one float per key: a push's hot path with the `add` updater.
///
/// Like ``DenseGather``, kept in a function of its own so every pointer stays in a register, with no
/// overflow trap on the slot: the keys were checked to lie in the store's range before they got here.
enum DenseAdd {
    @inline(never)
    static func add(
        keys: UnsafeRawPointer, count: Int, lowerBound: UInt64, incoming: UnsafeRawPointer,
        into values: UnsafeMutablePointer<Float>
    ) {
        var index = 0
        while index < count {
            let key = keys.loadUnaligned(fromByteOffset: index &* 8, as: UInt64.self)
            values[Int(truncatingIfNeeded: key &- lowerBound)] += incoming.loadUnaligned(fromByteOffset: index &* 4, as: Float.self)
            index &+= 1
        }
    }
}
