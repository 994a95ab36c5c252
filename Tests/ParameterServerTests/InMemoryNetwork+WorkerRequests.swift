import Synchronization

@testable import ParameterServer

/// The outcome of each request a test submitted on an in-memory worker, by timestamp: "ok", or the
/// error it failed with.
final class RequestOutcomes: Sendable {
    private let finished = Mutex<[Int64: String]>([:])

    /// Everything finished so far.
    var all: [Int64: String] { finished.withLock { $0 } }

    func record(_ timestamp: Int64, _ error: (any Error)?) {
        finished.withLock { $0[timestamp] = error.map { "\($0)" } ?? "ok" }
    }
}

extension InMemoryNetwork {
    /// Submits `request` as `timestamp` on the worker at `worker`, with no dependency and the
    /// table's consistency; its outcome goes to `outcomes`.
    func submit(
        _ request: WorkerCore.Request, _ timestamp: Int64, on worker: String = "mem://worker-0", outcomes: RequestOutcomes
    ) {
        execute(on: worker, as: WorkerCore.self) { core in
            core.submit(request, timestamp: Timestamp(timestamp), after: [], consistency: nil)
            core.whenFinished(Timestamp(timestamp)) { outcomes.record(timestamp, $0) }
        }
    }

    /// Submits a sequential pull of `keys` of `table` as `timestamp` on the worker at `worker`; its
    /// values arrive in the returned pull.
    func pull(_ keys: [UInt64], of table: TableSpec, _ timestamp: Int64, on worker: String = "mem://worker-0") -> PendingPull {
        let pull = PendingPull(timestamp: Timestamp(timestamp))
        execute(on: worker, as: WorkerCore.self) { core in
            core.submit(
                WorkerCore.Request(kind: .pull, table: table, keys: keys, values: nil, updater: nil,
                                   iteration: nil, wantClock: false, pull: pull),
                timestamp: Timestamp(timestamp), after: [], consistency: .sequential)
        }
        return pull
    }
}
