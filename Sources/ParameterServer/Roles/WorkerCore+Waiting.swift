import ZeroMQ

/// What the application waits for on a worker: finished tasks, barriers, and the report of its end.
extension WorkerCore {
    /// Resumes `continuation` once the task `timestamp` finished (at once if it already has).
    func whenFinished(_ timestamp: Timestamp, _ continuation: UnsafeContinuation<Void, any Error>) {
        if let task = tasks[timestamp] {
            if task.waiting == nil {
                task.waiting = continuation
            } else {
                task.waiters.append { error in
                    if let error { continuation.resume(throwing: error) } else { continuation.resume() }
                }
            }
        } else if let error = failures.removeValue(forKey: timestamp) {
            continuation.resume(throwing: error)
        } else {
            continuation.resume()
        }
    }

    /// Runs `callback` here once task `timestamp` finished (at once if it has), with its error.
    func whenFinished(_ timestamp: Timestamp, run callback: @escaping (RequestError?) -> Void) {
        if let task = tasks[timestamp] {
            task.waiters.append(callback)
        } else {
            callback(failures[timestamp])
        }
    }

    /// Resumes `continuation` once every task up to `last` has finished; throws the first failure.
    func whenAllFinished(upTo last: Timestamp, _ continuation: VoidContinuation) {
        let open = tasks.keys.filter { $0 <= last }
        var remaining = open.count
        var firstError: RequestError?
        let settle = { [self] in
            let failed = failures.filter { $0.key <= last }
            for key in failed.keys { failures[key] = nil }
            if let error = firstError ?? failed.min(by: { $0.key < $1.key })?.value {
                continuation.resume(throwing: error)
            } else {
                continuation.resume()
            }
        }
        guard remaining > 0 else { return settle() }
        for timestamp in open {
            tasks[timestamp]?.waiters.append { error in
                if firstError == nil, let error { firstError = error }
                remaining -= 1
                if remaining == 0 { settle() }
            }
        }
    }

    /// Takes the changes the significantly-modified filters hold back, to be pushed by ``Worker``.
    func takePendingPushes() -> [(table: UInt32, keys: [UInt64], values: [Float])] {
        filters.takePending()
    }

    /// Asks the manager to release `continuation` once every worker reached the barrier `name`.
    func barrier(_ name: String, continuation: VoidContinuation) {
        let id = link.makeRequestID()
        barrierWaiters[id] = (name, continuation, now + settings.deadlines.barrier)
        link.send(Header(kind: .barrier, requestID: id, name: name), onFailure: .barrier, into: &directives)
    }

    /// Tells the manager the application ended, with its summary or failure.
    func reportDone(summary: String, failure: String?) {
        link.send(
            Header(
                kind: .workerDone, requestID: link.makeRequestID(), name: summary,
                errorCode: failure == nil ? nil : .internalError, errorMessage: failure),
            into: &directives)
    }
}
