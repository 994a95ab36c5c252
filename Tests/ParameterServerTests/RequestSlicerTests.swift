import Testing
import ZeroMQ

@testable import ParameterServer

/// A request split by servers whose ranges alternate (as with a hash ring's virtual nodes): one
/// message per server, its keys and values those of the request that server holds, and a pull's
/// replies put back in key order, as an array and read in place, also after a fail-over resent a
/// slice in parts.
@Suite("Request slicing, one message per server")
struct RequestSlicerTests {
    static let width = 2

    /// Servers 1…`servers`, each holding the segments of `[0, keySpace)` a seeded draw gives it:
    /// `segments` segments of random lengths, each owned by a random server.
    static func interleavedRoutes(servers: Int, segments: Int, keySpace: UInt64, seed: UInt64) -> [RequestSlicer.Route] {
        var random = SplitMix64(seed: seed)
        let destinations = (1...servers).map {
            RequestSlicer.Destination(NodeInfo(id: NodeID(UInt32($0)), role: .server, rank: UInt32($0 - 1), endpoint: "mem://s\($0)"))
        }
        let cuts = Set((1..<segments).map { _ in 1 + random.next() % (keySpace - 1) }).sorted()
        let bounds = [0] + cuts + [keySpace]
        return zip(bounds, bounds.dropFirst()).map { lower, upper in
            RequestSlicer.Route(range: KeyRange(lower, upper), server: destinations[Int(random.next() % UInt64(servers))])
        }
    }

    /// The floats of `keys`' values: distinct per key and position.
    static func values(of keys: [UInt64]) -> [Float] {
        keys.flatMap { key in (0..<width).map { Float(key) * 4 + Float($0) } }
    }

    static func floats(_ frame: Frame) -> [Float] {
        frame.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    static func keys(_ frame: Frame) -> [UInt64] {
        frame.withUnsafeBytes { raw in (0..<(raw.count / 8)).map { raw.loadUnaligned(fromByteOffset: 8 * $0, as: UInt64.self) } }
    }

    @Test(arguments: 0..<40)
    func everyServerGetsOneMessageWithExactlyTheKeysItHolds(seed: UInt64) throws {
        let routes = Self.interleavedRoutes(servers: 1 + Int(seed % 4), segments: 2 + Int(seed % 30), keySpace: 10_000, seed: seed)
        let slicer = RequestSlicer(routes: routes)
        var random = SplitMix64(seed: seed ^ 0xABCD)
        let keys = Set((0..<(1 + random.next() % 300)).map { _ in random.next() % 10_000 }).sorted()
        let values = Self.values(of: keys)
        let slices = try slicer.slices(keys: keys, values: values, valueLength: Self.width, node: "worker-0")

        func owner(_ key: UInt64) -> NodeID { routes.first { $0.range.contains(key) }!.server.id }
        let servers = keys.map(owner)
        #expect(slices.map(\.server.id) == servers.reduce(into: [NodeID]()) { if !$0.contains($1) { $0.append($1) } })
        var covered: [Int] = []
        for slice in slices {
            let positions = keys.indices.filter { servers[$0] == slice.server.id }
            #expect(slice.runs.flatMap { Array($0) } == positions)
            #expect(slice.runs.allSatisfy { !$0.isEmpty })
            // Runs are as long as they can be: keys of adjacent ranges of one server make one run.
            #expect(zip(slice.runs, slice.runs.dropFirst()).allSatisfy { $0.upperBound < $1.lowerBound })
            #expect(slice.keyCount == positions.count)
            #expect(Self.keys(slice.keys) == positions.map { keys[$0] })
            #expect(Self.floats(try #require(slice.values)) == Self.values(of: positions.map { keys[$0] }))
            covered += positions
        }
        #expect(covered.sorted() == Array(keys.indices))
    }

    @Test func aBSPPushReachesEveryServerOnceEvenWithoutKeysThere() throws {
        let routes = Self.interleavedRoutes(servers: 3, segments: 12, keySpace: 1000, seed: 7)
        let slicer = RequestSlicer(routes: routes)
        let first = routes[0]
        let keys = [first.range.lowerBound]
        let slices = try slicer.slices(keys: keys, values: Self.values(of: keys), valueLength: Self.width, within: [.all], node: "w")
        #expect(Set(slices.map(\.server.id)) == Set(routes.map(\.server.id)))
        #expect(slices.count == Set(routes.map(\.server.id)).count)
        #expect(slices[0].server.id == first.server.id && slices[0].keyCount == 1)
        #expect(slices.dropFirst().allSatisfy { $0.keyCount == 0 && $0.runs.isEmpty && $0.keys.count == 0 })
    }

    @Test func aKeyNoServerHoldsIsRefusedNamingIt() {
        let slicer = RequestSlicer(routes: Self.interleavedRoutes(servers: 2, segments: 5, keySpace: 100, seed: 3))
        #expect(throws: RequestError.self) {
            try slicer.slices(keys: [5, 100], values: nil, valueLength: 1, node: "w")
        }
        do {
            _ = try slicer.slices(keys: [5, 100], values: nil, valueLength: 1, node: "w")
        } catch {
            #expect(error.code == .keyOutOfRange && error.message.contains("key 100"))
        }
    }

    /// A pull task whose slices are answered as the servers would: each reply holds the values of
    /// the slice's keys, in the slice's order.
    static func pulledTask(keys: [UInt64], slices: [RequestSlicer.Slice], inPlace: Bool) -> WorkerTask {
        let table = TableSpec(name: "t", id: 0, valueLength: width)
        let task = WorkerTask(timestamp: Timestamp(1), request: WorkerTask.Request(
            kind: .pull, table: table, keys: keys, values: nil, updater: nil, iteration: nil, wantClock: false, pull: nil,
            readsInPlace: inPlace))
        task.sliceParts = slices.map { ($0.keyCount, $0.runs, nil) }
        for (index, slice) in slices.enumerated() {
            task.received(values: Frame(array: values(of: Self.keys(slice.keys))), clock: nil, slice: index)
        }
        return task
    }

    @Test(arguments: 0..<20)
    func aPullsRepliesArePutBackInKeyOrder(seed: UInt64) throws {
        let routes = Self.interleavedRoutes(servers: 3, segments: 3 + Int(seed), keySpace: 5000, seed: seed)
        let slicer = RequestSlicer(routes: routes)
        var random = SplitMix64(seed: seed &+ 99)
        let keys = Set((0..<200).map { _ in random.next() % 5000 }).sorted()
        let slices = try slicer.slices(keys: keys, values: nil, valueLength: Self.width, node: "w")
        let expected = Self.values(of: keys)
        #expect(Self.pulledTask(keys: keys, slices: slices, inPlace: false).pulledValues().values == expected)
        let inPlace = Self.pulledTask(keys: keys, slices: slices, inPlace: true).pulledValues().floats
        #expect(Array(inPlace) == expected && inPlace.array == expected)
    }

    @Test func aSliceResentInPartsIsPutBackInKeyOrder() throws {
        // Server 1 held the slice; after a fail-over its keys lie on servers 2 and 3, alternately.
        let keys: [UInt64] = [1, 2, 11, 12, 21, 22, 31]
        let old = RequestSlicer(routes: Self.interleavedRoutes(servers: 1, segments: 1, keySpace: 100, seed: 1))
        let slices = try old.slices(keys: keys, values: nil, valueLength: Self.width, node: "w")
        #expect(slices.count == 1)
        let two = RequestSlicer.Destination(NodeInfo(id: NodeID(2), role: .server, rank: 1, endpoint: "mem://s2"))
        let three = RequestSlicer.Destination(NodeInfo(id: NodeID(3), role: .server, rank: 2, endpoint: "mem://s3"))
        let new = RequestSlicer(routes: (0..<10).map { RequestSlicer.Route(range: KeyRange(UInt64($0) * 10, UInt64($0) * 10 + 10), server: $0 % 2 == 0 ? two : three) })
        let parts = try new.slices(keys: keys, values: nil, valueLength: Self.width, node: "w")
        #expect(parts.count == 2 && parts.allSatisfy { $0.runs.count > 1 })
        let table = TableSpec(name: "t", id: 0, valueLength: Self.width)
        let task = WorkerTask(timestamp: Timestamp(1), request: WorkerTask.Request(
            kind: .pull, table: table, keys: keys, values: nil, updater: nil, iteration: nil, wantClock: false, pull: nil))
        task.sliceParts = slices.map { ($0.keyCount, $0.runs, nil) }
        for (index, part) in parts.enumerated().reversed() {
            task.received(
                values: Frame(array: Self.values(of: Self.keys(part.keys))), clock: nil, slice: 0, part: index, of: parts.count,
                runs: part.runs)
        }
        #expect(task.pulledValues().values == Self.values(of: keys))
    }
}
