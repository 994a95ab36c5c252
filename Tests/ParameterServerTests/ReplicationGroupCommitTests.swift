import Logging
import Synchronization
import Testing
import ZeroMQ

@testable import ParameterServer

/// Group commit on a primary (docs/FAULT-TOLERANCE.md): while a flush waits for its
/// acknowledgement, the pushes the primary applies gather into the next flush, which carries each
/// key they changed once; their replies wait for that flush.
@Suite("Replication group commit")
struct ReplicationGroupCommitTests {
    static let table = TableSpec(name: "weights", id: 0, valueLength: 2, consistency: .eventual)

    /// The indices of the pushes acknowledged so far.
    final class Acknowledged: Sendable {
        let indices = Mutex<[Int]>([])
    }

    /// Worker 0 pushes `pushes[index]`, each key's entries `[key % 7 + index, 1]`, at timestamp
    /// `index + 1`; its index goes into `acknowledged` once it is acknowledged.
    static func push(_ index: Int, of pushes: [[UInt64]], on network: InMemoryNetwork, acknowledged: Acknowledged) {
        network.execute(on: "mem://worker-0", as: WorkerCore.self) { core in
            let keys = pushes[index]
            let values = keys.flatMap { key in [Float(key % 7) + Float(index), 1] }
            let timestamp = Timestamp(Int64(index + 1))
            core.submit(
                WorkerCore.Request(kind: .push, table: Self.table, keys: keys, values: values, updater: nil,
                                   iteration: nil, wantClock: false, pull: nil),
                timestamp: timestamp, after: [], consistency: nil)
            core.whenFinished(timestamp) { error in if error == nil { acknowledged.indices.withLock { $0.append(index) } } }
        }
    }

    /// The keys server 0 has sent down its chains.
    static func forwardedKeys(on network: InMemoryNetwork) -> Int {
        var keys = 0
        network.execute(on: "mem://server-0", as: ServerCore.self) { core in keys = core.replicationTraffic.keys }
        return keys
    }

    /// The entries of `range` once every push of `pushes` is applied, as ``push(_:of:on:acknowledged:)`` sends them.
    static func expectedEntries(of pushes: [[UInt64]], in range: KeyRange) -> [Float] {
        var expected = [Float](repeating: 0, count: Int(range.count) * 2)
        for (index, keys) in pushes.enumerated() {
            for key in keys {
                expected[Int(key - range.lowerBound) * 2] += Float(key % 7) + Float(index)
                expected[Int(key - range.lowerBound) * 2 + 1] += 1
            }
        }
        return expected
    }

    @Test("pushes applied while the replica is silent go down the chain in one flush, each key once, and are acknowledged when it answers")
    func pushesGatherWhileAFlushIsUnacknowledged() throws {
        let network = ReplicatedPair.start(table: Self.table, seed: 7, logger: ReplicatedPair.logger("zps.test.group-commit"))

        // Server 0 is the primary of the lower half, server 1 its replica.
        let primaryRange = ReplicatedPair.halves[0]
        var random = SplitMix64(seed: 11)
        let pushes: [[UInt64]] = (0..<4).map { _ in
            Array(Set((0..<60).map { _ in primaryRange.lowerBound + random.next() % primaryRange.count })).sorted()
        }
        let acknowledged = Acknowledged()
        func push(_ index: Int) { Self.push(index, of: pushes, on: network, acknowledged: acknowledged) }
        func forwardedKeys() -> Int { Self.forwardedKeys(on: network) }

        // What went down the chain before any push: the first node table's copy of the range.
        let copied = forwardedKeys()
        // The first push goes down the chain at once; the replica then stops answering.
        push(0)
        network.pause("mem://server-1")
        network.deliverAll()
        #expect(forwardedKeys() == copied + pushes[0].count)
        // Each of the next pushes is applied, and the primary's input runs dry after each.
        for index in 1..<pushes.count {
            push(index)
            network.deliverAll()
        }
        #expect(forwardedKeys() == copied + pushes[0].count, "nothing more goes down the chain before the first flush is acknowledged")
        #expect(acknowledged.indices.withLock { $0 }.isEmpty)
        network.resume("mem://server-1")
        network.deliverAll()
        let gathered = Set(pushes[1...].joined())
        #expect(forwardedKeys() == copied + pushes[0].count + gathered.count)
        #expect(acknowledged.indices.withLock { $0 }.sorted() == Array(0..<pushes.count))

        let primary = ReplicatedPair.entries(on: network, 0, primaryRange, table: Self.table, replica: false)
        let replica = ReplicatedPair.entries(on: network, 1, primaryRange, table: Self.table, replica: true)
        let expected = Self.expectedEntries(of: pushes, in: primaryRange)
        #expect(primary == expected)
        #expect(replica == expected)
    }

    @Test("pushes queued behind an acknowledgement go in the flush after it, with the pushes gathered before it")
    func pushesQueuedBehindTheAcknowledgementJoinTheNextFlush() throws {
        let network = ReplicatedPair.start(table: Self.table, seed: 5, logger: ReplicatedPair.logger("zps.test.group-commit"))
        let primaryRange = ReplicatedPair.halves[0]
        var random = SplitMix64(seed: 23)
        // Pushes 1 and 2 share about half their keys: sent in one flush, each shared key goes once.
        let shared = (0..<40).map { _ in primaryRange.lowerBound + random.next() % primaryRange.count }
        let pushes: [[UInt64]] = (0..<3).map { _ in
            Array(Set(shared + (0..<40).map { _ in primaryRange.lowerBound + random.next() % primaryRange.count })).sorted()
        }
        let acknowledged = Acknowledged()
        func push(_ index: Int) { Self.push(index, of: pushes, on: network, acknowledged: acknowledged) }
        func forwardedKeys() -> Int { Self.forwardedKeys(on: network) }
        let copied = forwardedKeys()
        // Push 0 goes down the chain and waits there; push 1 is applied and gathers meanwhile.
        network.pause("mem://server-1")
        push(0)
        network.deliverAll()
        push(1)
        network.deliverAll()
        #expect(forwardedKeys() == copied + pushes[0].count)
        // The replica acknowledges while the primary is stopped, and push 2 waits behind that: the
        // primary handles the acknowledgement with push 2 still queued for it (its input has not
        // run dry), then push 2.
        network.pause("mem://server-0")
        network.resume("mem://server-1")
        network.deliverAll()
        network.clog(from: "mem://worker-0", to: "mem://server-0")
        push(2)
        network.resume("mem://server-0")
        network.deliverAll()
        #expect(forwardedKeys() == copied + pushes[0].count, "nothing goes down the chain while push 2 is queued")
        network.unclog(from: "mem://worker-0", to: "mem://server-0")
        network.deliverAll()
        let gathered = Set(pushes[1] + pushes[2])
        #expect(gathered.count < pushes[1].count + pushes[2].count)
        #expect(forwardedKeys() == copied + pushes[0].count + gathered.count, "pushes 1 and 2 went down the chain in one flush")
        #expect(acknowledged.indices.withLock { $0 }.sorted() == [0, 1, 2])
        let primary = ReplicatedPair.entries(on: network, 0, primaryRange, table: Self.table, replica: false)
        let replica = ReplicatedPair.entries(on: network, 1, primaryRange, table: Self.table, replica: true)
        let expected = Self.expectedEntries(of: pushes, in: primaryRange)
        #expect(primary == expected)
        #expect(replica == expected)
    }
}
