/// The key arrays a worker most recently found strictly ascending, kept so that pushing or pulling
/// the same array again skips the scan: an application that pulls a minibatch's keys and then
/// pushes its gradients for the same array, or cycles through a few fixed key sets, has each
/// array checked once.
///
/// Holding an array keeps its storage alive and unchanged: a caller that then changes its copy gets
/// storage of its own (copy on write). So an array with the same storage and count as a kept one
/// holds the same keys. The price is that such a change copies the array, while the list keeps it.
struct CheckedKeyLists {
    /// How many arrays are kept; the oldest is dropped first.
    static let capacity = 4
    /// Shorter arrays are checked every time: the scan costs less than keeping them.
    static let shortest = 64

    private var lists: [[UInt64]] = []

    /// Whether `keys` is one of the arrays kept: the same storage and count.
    func contains(_ keys: [UInt64]) -> Bool {
        guard keys.count >= Self.shortest else { return false }
        let base = keys.withUnsafeBufferPointer { $0.baseAddress }
        return lists.contains { list in
            list.count == keys.count && list.withUnsafeBufferPointer { $0.baseAddress } == base
        }
    }

    /// Keeps `keys`, found strictly ascending, in place of the oldest array when the list is full.
    mutating func insert(_ keys: [UInt64]) {
        guard keys.count >= Self.shortest, !contains(keys) else { return }
        if lists.count == Self.capacity { lists.removeFirst() }
        lists.append(keys)
    }
}
