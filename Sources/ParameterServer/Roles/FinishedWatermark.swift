import Synchronization

/// The newest task timestamp up to which every task of a worker has finished successfully, written
/// by the worker's I/O thread and read by the application's threads: a ``Worker/wait(_:)`` on a
/// task at or below it returns at once, without a trip through the I/O thread.
///
/// Tasks finish out of order (other servers, other consistency models), so the I/O thread keeps
/// the finished timestamps above the mark until the gap below them closes. A failed task stops the
/// mark below it for good: waits on it and on later tasks take the I/O thread's path, which reports
/// the failure.
final class FinishedWatermark: Sendable {
    private let mark = Atomic<Int64>(0)

    /// Every task up to this timestamp finished successfully.
    var value: Int64 { mark.load(ordering: .acquiring) }

    /// The I/O thread's side: finished timestamps above the mark, and whether a failure stopped it.
    struct Tracker {
        private var finishedAbove: Set<Int64> = []
        private var stopped = false

        /// Records that task `timestamp` finished (`succeeded` or not) and advances `watermark`.
        mutating func finished(_ timestamp: Int64, succeeded: Bool, watermark: FinishedWatermark) {
            guard !stopped else { return }
            guard succeeded else {
                stopped = true
                finishedAbove.removeAll()
                return
            }
            var current = watermark.mark.load(ordering: .relaxed)
            guard timestamp > current else { return }
            if timestamp != current + 1 {
                finishedAbove.insert(timestamp)
                return
            }
            current = timestamp
            while !finishedAbove.isEmpty, finishedAbove.remove(current + 1) != nil { current += 1 }
            watermark.mark.store(current, ordering: .releasing)
        }
    }
}
