import Testing
@testable import ParameterServer

@Suite("Key arrays a worker does not check again")
struct CheckedKeyListsTests {
    private static func keys(_ count: Int, from start: UInt64 = 0) -> [UInt64] {
        (0..<UInt64(count)).map { start + 3 * $0 }
    }

    @Test("an array kept, and every copy sharing its storage, is known; a changed copy is not")
    func sameStorageOnly() {
        var checked = CheckedKeyLists()
        let kept = Self.keys(1_000)
        checked.insert(kept)
        let shared = kept
        #expect(checked.contains(shared))
        // Equal keys in storage of their own are checked again.
        #expect(!checked.contains(kept.map { $0 }))
        // A change to a copy copies the storage first: the changed keys are never taken as checked.
        var changed = kept
        changed.swapAt(10, 11)
        #expect(!checked.contains(changed))
        #expect(checked.contains(kept))
        // A shorter array over the same storage is not the one checked.
        var shortened = kept
        shortened.removeLast()
        #expect(!checked.contains(shortened))
    }

    @Test("the oldest array goes first, and short arrays are never kept")
    func capacityAndShortest() {
        var checked = CheckedKeyLists()
        let arrays = (0...CheckedKeyLists.capacity).map { Self.keys(100, from: UInt64($0) * 1_000) }
        for array in arrays { checked.insert(array) }
        #expect(!checked.contains(arrays[0]))
        for array in arrays.dropFirst() { #expect(checked.contains(array)) }
        let short = Self.keys(CheckedKeyLists.shortest - 1)
        checked.insert(short)
        #expect(!checked.contains(short))
        #expect(checked.contains(arrays[1]))
    }
}
