import CSystem

/// The values of one table on one key range, owned by a server.
///
/// Two layouts, chosen by size when the range is created:
/// - **dense**: one contiguous array of `range.count × valueLength` floats indexed by `key − lowerBound`
///   (the fastest: DESIGN.md measures 240 M keys/s for the add loop, 5× a hash map);
/// - **sorted**: parallel arrays of the keys seen so far and their values, for ranges too large to hold
///   densely (a hashed 2^64 key space). Pushes merge sorted key lists; absent keys read as 0.
///
/// Keys handed to ``push(keys:count:values:updater:)`` and ``pull(keys:count:into:)`` are raw,
/// possibly unaligned little-endian `UInt64`s, already validated as strictly ascending and inside
/// ``range`` (the wire decoder and the server check this before any value is touched, so a bad
/// request never half-applies). The store belongs to the one thread that serves its table.
public final class RangeStore {
    /// The keys this store holds.
    public let range: KeyRange
    /// Floats per key.
    public let valueLength: Int
    /// The table's updater, whose per-value state the store keeps.
    public let updater: any Updater

    private var layout: Layout
    private var values: FloatBuffer
    private var state: FloatBuffer
    /// Keys present in the sorted layout (empty in the dense one).
    private var sortedKeys: [UInt64]

    private enum Layout { case dense, sorted }

    /// The largest dense store, in floats (values plus updater state), before the sorted layout is used.
    public static let defaultDenseLimit = 1 << 27

    /// Creates an empty store; values start at 0. A dense store's memory is zeroed by the kernel as
    /// each page is first written (``FloatBuffer``), so creating even a store of 10^7 keys costs
    /// next to nothing.
    public init(range: KeyRange, valueLength: Int, updater: any Updater, denseLimit: Int = RangeStore.defaultDenseLimit) {
        precondition(valueLength > 0, "valueLength must be positive")
        self.range = range
        self.valueLength = valueLength
        self.updater = updater
        let floatsPerKey = UInt64(valueLength * (1 + updater.stateWidth))
        let (denseFloats, overflow) = range.count.multipliedReportingOverflow(by: floatsPerKey)
        if !overflow && denseFloats <= UInt64(denseLimit) {
            layout = .dense
            values = FloatBuffer.zeroed(count: Int(range.count) * valueLength)
            state = FloatBuffer.zeroed(count: Int(range.count) * valueLength * updater.stateWidth)
        } else {
            layout = .sorted
            values = FloatBuffer()
            state = FloatBuffer()
        }
        sortedKeys = []
    }

    /// Whether the store uses the dense layout.
    public var isDense: Bool { layout == .dense }

    /// The number of keys the store holds a value for (every key of the range when dense).
    public var storedKeyCount: Int { layout == .dense ? Int(range.count) : sortedKeys.count }

    /// Whether nothing was ever written to the store (no push, replicated entry or range function):
    /// every value and every updater state is still 0.
    public private(set) var isUntouched = true

    /// Where the store's contents stand in its chain's history of results (chain replication,
    /// docs/FAULT-TOLERANCE.md): the primary sets it higher at each flush of results it forwards,
    /// a replica takes the number of each result or copy part it writes. Results are absolute, so a
    /// replica that holds a later result than one sent again after a reconfiguration must not write
    /// the older one over it: it compares this number instead.
    public var resultSequence: Int64 = 0

    /// For a store of a `bsp` table, the last iteration whose aggregate it holds (−1 before the
    /// first); `nil` for other tables. Replicates carry it (`it`), so that a replica promoted to
    /// primary goes on from the iteration after it (docs/FAULT-TOLERANCE.md).
    public var appliedIteration: Int64?

    /// Checks that `updater` may be applied to this store: its state must be the table updater's.
    public func check(updater other: any Updater) throws {
        if other.stateWidth != 0 && other.name != updater.name {
            throw StorageError(
                .invalidRequest,
                "updater '\(other.name)' keeps per-value state and cannot be applied to a table updated by '\(updater.name)'")
        }
    }

    /// Folds `count` values per key (`valueLength` floats each) into the store with `updater`.
    public func push(keys: UnsafeRawPointer, count: Int, values incoming: UnsafeRawPointer, updater: any Updater) {
        guard count > 0 else { return }
        isUntouched = false
        if updater is AddUpdater, layout == .dense, valueLength == 1 {
            DenseAdd.add(keys: keys, count: count, lowerBound: range.lowerBound, incoming: incoming, into: values.baseAddress!)
            return
        }
        switch updater {
        case let u as AddUpdater: push(u, keys: keys, count: count, incoming: incoming)
        case let u as AssignUpdater: push(u, keys: keys, count: count, incoming: incoming)
        case let u as FTRLUpdater: push(u, keys: keys, count: count, incoming: incoming)
        case let u as AdaGradUpdater: push(u, keys: keys, count: count, incoming: incoming)
        case let u as SGDUpdater: push(u, keys: keys, count: count, incoming: incoming)
        default: pushOpened(updater, keys: keys, count: count, incoming: incoming)
        }
    }

    private func pushOpened(_ updater: some Updater, keys: UnsafeRawPointer, count: Int, incoming: UnsafeRawPointer) {
        push(updater, keys: keys, count: count, incoming: incoming)
    }

    @inline(__always)
    private func push<U: Updater>(_ u: U, keys: UnsafeRawPointer, count: Int, incoming: UnsafeRawPointer) {
        if layout == .sorted { insertMissing(keys: keys, count: count) }
        let width = valueLength
        let stateWidth = u.stateWidth
        let lower = range.lowerBound
        let dense = layout == .dense
        let sortedKeys = self.sortedKeys
        // Every key of a push has a slot (a sorted store inserted the missing ones above), so the
        // store holds at least one value.
        let base = values.baseAddress!
        let stateBase = stateWidth > 0 ? state.baseAddress : nil
        // One float per key in a dense store, the usual shape: `while` loops (a `for` over a range
        // costs a call per key here) that call the updater's per-key update directly.
        if width == 1 && dense {
            var i = 0
            if let stateBase {
                while i < count {
                    // Two misses per key (value and state) in a large store: asked for `prefetchDistance` keys ahead.
                    if i &+ prefetchDistance < count {
                        let ahead = Int(truncatingIfNeeded: keys.loadUnaligned(fromByteOffset: 8 &* (i &+ prefetchDistance), as: UInt64.self) &- lower)
                        zps_prefetch_for_writing(base + ahead)
                        zps_prefetch_for_writing(stateBase + ahead &* stateWidth)
                    }
                    let slot = Int(truncatingIfNeeded: keys.loadUnaligned(fromByteOffset: 8 &* i, as: UInt64.self) &- lower)
                    u.update(&base[slot], state: stateBase + slot &* stateWidth, incoming: incoming.loadUnaligned(fromByteOffset: 4 &* i, as: Float.self))
                    i &+= 1
                }
            } else {
                var scratch: Float = 0
                while i < count {
                    let slot = Int(truncatingIfNeeded: keys.loadUnaligned(fromByteOffset: 8 &* i, as: UInt64.self) &- lower)
                    u.update(&base[slot], state: &scratch, incoming: incoming.loadUnaligned(fromByteOffset: 4 &* i, as: Float.self))
                    i &+= 1
                }
            }
            return
        }
        var cursor = 0
        for i in 0..<count {
            let key = keys.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)
            let slot: Int
            if dense {
                slot = Int(key &- lower)
            } else {
                cursor = RangeStore.advance(sortedKeys, from: cursor, to: key)
                slot = cursor
            }
            u.apply(
                values: base + slot * width,
                state: stateBase.map { $0 + slot * width * stateWidth },
                incoming: incoming + 4 * i * width, count: width)
        }
    }

    /// Writes the values of `count` keys, `valueLength` floats each, to `output` in key order.
    public func pull(keys: UnsafeRawPointer, count: Int, into output: UnsafeMutableRawPointer) {
        let width = valueLength
        let lower = range.lowerBound
        guard let base = UnsafePointer(values.baseAddress) else {
            output.initializeMemory(as: UInt8.self, repeating: 0, count: 4 * count * width)
            return
        }
        switch layout {
        case .dense:
            if width == 1 {
                DenseGather.gather(
                    keys: keys, count: count, lowerBound: lower, values: base,
                    into: output.assumingMemoryBound(to: Float.self))
            } else {
                for i in 0..<count {
                    let slot = Int(keys.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self) &- lower)
                    (output + 4 * i * width).copyMemory(from: base + slot * width, byteCount: 4 * width)
                }
            }
        case .sorted:
            var cursor = 0
            for i in 0..<count {
                let key = keys.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)
                cursor = RangeStore.advance(sortedKeys, from: cursor, to: key)
                let target = output + 4 * i * width
                if cursor < sortedKeys.count && sortedKeys[cursor] == key {
                    target.copyMemory(from: base + cursor * width, byteCount: 4 * width)
                } else {
                    target.initializeMemory(as: UInt8.self, repeating: 0, count: 4 * width)
                }
            }
        }
    }

    /// The keys inside `subrange` that hold a value (every key when dense) and their values, in key order.
    public func snapshot(of subrange: KeyRange) -> (keys: [UInt64], values: [Float]) {
        let part = range.intersection(subrange)
        guard !part.isEmpty else { return ([], []) }
        switch layout {
        case .dense:
            let first = Int(part.lowerBound - range.lowerBound) * valueLength
            let last = Int(part.upperBound - range.lowerBound) * valueLength
            return (Array(part.lowerBound..<part.upperBound), values.array(first..<last))
        case .sorted:
            let start = RangeStore.advance(sortedKeys, from: 0, to: part.lowerBound)
            let end = RangeStore.advance(sortedKeys, from: start, to: part.upperBound)
            return (Array(sortedKeys[start..<end]), values.array((start * valueLength)..<(end * valueLength)))
        }
    }

    /// The keys inside `subrange` that hold a value (every key when dense), in key order.
    public func storedKeys(in subrange: KeyRange) -> [UInt64] {
        let part = range.intersection(subrange)
        guard !part.isEmpty else { return [] }
        switch layout {
        case .dense:
            return Array(part.lowerBound..<part.upperBound)
        case .sorted:
            let start = RangeStore.advance(sortedKeys, from: 0, to: part.lowerBound)
            return Array(sortedKeys[start..<RangeStore.advance(sortedKeys, from: start, to: part.upperBound)])
        }
    }

    /// Runs `function` on the values of every stored key inside `subrange` (every key when dense);
    /// returns how many keys it touched.
    @discardableResult
    public func apply(_ function: any RangeFunction, on subrange: KeyRange) -> Int {
        let part = range.intersection(subrange)
        guard !part.isEmpty else { return 0 }
        let start: Int
        let end: Int
        switch layout {
        case .dense:
            start = Int(part.lowerBound - range.lowerBound)
            end = Int(part.upperBound - range.lowerBound)
        case .sorted:
            start = RangeStore.advance(sortedKeys, from: 0, to: part.lowerBound)
            end = RangeStore.advance(sortedKeys, from: start, to: part.upperBound)
        }
        guard start < end else { return 0 }
        isUntouched = false
        let width = valueLength
        function.apply(to: UnsafeMutableBufferPointer(rebasing: values.buffer[(start * width)..<(end * width)]))
        return end - start
    }

    /// Floats per key in ``readEntries(keys:count:into:)`` and ``writeEntries(keys:count:entries:)``:
    /// the values, then the updater's state for them.
    public var entryWidth: Int { valueLength * (1 + updater.stateWidth) }

    /// Copies each key's values and updater state (``entryWidth`` floats) into `output`, in key
    /// order: what a primary forwards to its replicas after a push. A key the sorted layout does
    /// not hold reads as zeros. Keys must be sorted and inside the range.
    public func readEntries(keys: UnsafeRawPointer, count: Int, into output: UnsafeMutablePointer<Float>) {
        let width = valueLength
        let stateFloats = width * updater.stateWidth
        let entry = width + stateFloats
        if layout == .dense && entry == 1 {
            DenseGather.gather(
                keys: keys, count: count, lowerBound: range.lowerBound, values: UnsafePointer(values.baseAddress!), into: output)
            return
        }
        if layout == .dense, holdsAll(keys: keys, count: count) {
            DenseEntries.read(
                keys: keys, count: count, lowerBound: range.lowerBound, values: UnsafePointer(values.baseAddress!), width: width,
                state: UnsafePointer(state.baseAddress), stateWidth: stateFloats, into: output)
            return
        }
        // Element by element in `while` loops: a few floats per key, where a call to memmove would
        // cost more, and where a `for` over a range costs a call per element in this loop.
        let valueBase = values.baseAddress!
        let stateBase = state.baseAddress
        var cursor = 0
        var i = 0
        while i < count {
            let key = keys.loadUnaligned(fromByteOffset: 8 &* i, as: UInt64.self)
            let target = output + i &* entry
            i &+= 1
            guard let slot = slot(of: key, cursor: &cursor) else {
                target.initialize(repeating: 0, count: entry)
                continue
            }
            let value = valueBase + slot &* width
            var j = 0
            while j < width {
                target[j] = value[j]
                j &+= 1
            }
            if stateFloats > 0, let stateBase {
                let from = stateBase + slot &* stateFloats
                j = 0
                while j < stateFloats {
                    target[width &+ j] = from[j]
                    j &+= 1
                }
            }
        }
    }

    /// Sets each key's values and updater state from `entries` (``entryWidth`` floats per key, as
    /// ``readEntries(keys:count:into:)`` wrote them): how a replica takes what its primary made.
    /// Keys must be sorted and inside the range.
    public func writeEntries(keys: UnsafeRawPointer, count: Int, entries: UnsafeRawPointer) {
        guard count > 0 else { return }
        isUntouched = false
        if layout == .sorted { insertMissing(keys: keys, count: count) }
        let width = valueLength
        let stateFloats = width * updater.stateWidth
        let entry = width + stateFloats
        if layout == .dense && entry == 1 {
            DenseScatter.scatter(keys: keys, count: count, lowerBound: range.lowerBound, incoming: entries, into: values.baseAddress!)
            return
        }
        if layout == .dense, holdsAll(keys: keys, count: count) {
            DenseEntries.write(
                keys: keys, count: count, lowerBound: range.lowerBound, entries: entries, values: values.baseAddress!, width: width,
                state: state.baseAddress, stateWidth: stateFloats)
            return
        }
        // As in ``readEntries(keys:count:into:)``: `while` loops, element by element.
        let valueBase = values.baseAddress!
        let stateBase = state.baseAddress
        var cursor = 0
        var i = 0
        while i < count {
            let key = keys.loadUnaligned(fromByteOffset: 8 &* i, as: UInt64.self)
            let source = entries + 4 &* i &* entry
            i &+= 1
            guard let slot = slot(of: key, cursor: &cursor) else { continue }
            let value = valueBase + slot &* width
            var j = 0
            while j < width {
                value[j] = source.loadUnaligned(fromByteOffset: 4 &* j, as: Float.self)
                j &+= 1
            }
            if stateFloats > 0, let stateBase {
                let to = stateBase + slot &* stateFloats
                j = 0
                while j < stateFloats {
                    to[j] = source.loadUnaligned(fromByteOffset: 4 &* (width &+ j), as: Float.self)
                    j &+= 1
                }
            }
        }
    }

    /// Whether the `count` sorted keys at `keys` all lie in the range: whether its first and last do.
    private func holdsAll(keys: UnsafeRawPointer, count: Int) -> Bool {
        count == 0
            || (range.contains(keys.loadUnaligned(as: UInt64.self))
                && range.contains(keys.loadUnaligned(fromByteOffset: 8 &* (count &- 1), as: UInt64.self)))
    }

    /// Where `key`'s values start, in values of ``valueLength`` floats; `nil` for a key the sorted
    /// layout does not hold. `cursor` carries the search position from one sorted key to the next.
    private func slot(of key: UInt64, cursor: inout Int) -> Int? {
        switch layout {
        case .dense:
            return range.contains(key) ? Int(key - range.lowerBound) : nil
        case .sorted:
            cursor = RangeStore.advance(sortedKeys, from: cursor, to: key)
            return cursor < sortedKeys.count && sortedKeys[cursor] == key ? cursor : nil
        }
    }

    /// The index of the first stored key ≥ `key`, searching from `start` (keys arrive sorted, so a
    /// gallop from the previous position is cheaper than a full binary search).
    @inline(__always)
    private static func advance(_ keys: [UInt64], from start: Int, to key: UInt64) -> Int {
        var low = start
        var step = 1
        var high = start
        while high < keys.count && keys[high] < key {
            low = high + 1
            high += step
            step &<<= 1
        }
        high = min(high, keys.count)
        while low < high {
            let mid = (low + high) / 2
            if keys[mid] < key { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// Adds the keys of a push that the sorted layout does not hold yet, with zero values and state.
    private func insertMissing(keys: UnsafeRawPointer, count: Int) {
        var missing: [UInt64] = []
        var cursor = 0
        for i in 0..<count {
            let key = keys.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)
            cursor = RangeStore.advance(sortedKeys, from: cursor, to: key)
            if cursor == sortedKeys.count || sortedKeys[cursor] != key { missing.append(key) }
        }
        guard !missing.isEmpty else { return }
        let width = valueLength
        let stateWidth = updater.stateWidth * width
        let total = sortedKeys.count + missing.count
        var mergedKeys: [UInt64] = []
        mergedKeys.reserveCapacity(total)
        let oldValues = values.baseAddress
        let oldState = state.baseAddress
        // Every float of both is written below, from the old buffers or as a zero.
        let newValues = FloatBuffer.uninitialized(count: total * width)
        let newState = FloatBuffer.uninitialized(count: total * stateWidth)
        let valueBase = newValues.baseAddress!
        let stateBase = newState.baseAddress
        var old = 0
        var new = 0
        while old < sortedKeys.count || new < missing.count {
            let at = mergedKeys.count
            if new == missing.count || (old < sortedKeys.count && sortedKeys[old] < missing[new]) {
                mergedKeys.append(sortedKeys[old])
                (valueBase + at * width).initialize(from: oldValues! + old * width, count: width)
                if stateWidth > 0 { (stateBase! + at * stateWidth).initialize(from: oldState! + old * stateWidth, count: stateWidth) }
                old += 1
            } else {
                mergedKeys.append(missing[new])
                (valueBase + at * width).initialize(repeating: 0, count: width)
                if stateWidth > 0 { (stateBase! + at * stateWidth).initialize(repeating: 0, count: stateWidth) }
                new += 1
            }
        }
        sortedKeys = mergedKeys
        values = newValues
        state = newState
    }
}
