import Foundation
import ParameterServer
import Synchronization
import Testing

/// A worker checks the keys of each push and pull on the caller's side, and an array it checked once
/// is not scanned again: what a caller changes after that is still refused.
@Suite("Worker key checks", .serialized)
struct WorkerKeyCheckTests {
    @Test("a key array pushed again is applied again; a copy made unsorted is refused at the caller")
    func repeatedAndChangedArrays() async throws {
        let (manager, server, _, settings) = try await ClusterSupport.startOneServer("keycheck", keySpace: 100_000)
        defer { manager.kill(); server.kill() }
        let outcome = Mutex<(refusal: RequestError?, pulled: [Float])>((nil, []))
        let keys: [UInt64] = (0..<2_000).map { 7 + 41 * UInt64($0) }
        let values: [Float] = keys.map { Float($0 % 97) - 40.5 }
        let node = WorkerNode(settings: settings, logger: ClusterSupport.logger) { worker in
            _ = try await worker.waitUntilRegistered()
            for _ in 0..<3 { try await worker.push(table: 0, keys: keys, values: values) }
            var unsorted = keys
            unsorted.swapAt(1_000, 1_001)
            do {
                try await worker.push(table: 0, keys: unsorted, values: values)
            } catch let error as RequestError {
                outcome.withLock { $0.refusal = error }
            }
            try await worker.waitForAll()
            let pulled = try await worker.pull(table: 0, keys: keys)
            outcome.withLock { $0.pulled = pulled }
            return "pushed three times"
        }
        try await node.run()
        let (refusal, pulled) = outcome.withLock { $0 }
        #expect(refusal?.code == .unsortedKeys)
        #expect(refusal?.message.contains("at index 1001") == true, "\(String(describing: refusal))")
        // Three pushes of the same array, each applied once, and nothing of the refused one.
        #expect(pulled == values.map { $0 + $0 + $0 })
        #expect(try await manager.waitForExit(within: .seconds(30)) == 0)
        #expect(try await server.waitForExit(within: .seconds(30)) == 0, "server: \(server.errors.suffix(1000))")
    }
}
