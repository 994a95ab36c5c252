import Foundation
import ParameterServer

/// What one worker measured in one push/pull run: the keys it moved, when each phase began and
/// ended, and the round trip of every request.
struct PushPullRun: Sendable {
    var pushKeys = 0
    var keysPerRequest = 1
    var pullKeys = 0
    var pushStart = ContinuousClock.now
    var pushEnd = ContinuousClock.now
    var pullStart = ContinuousClock.now
    var pullEnd = ContinuousClock.now
    /// CPU seconds of the whole process (every node and libzmq thread in it) at the phase edges.
    var pushStartCPU = 0.0
    var pushEndCPU = 0.0
    var pullStartCPU = 0.0
    var pullEndCPU = 0.0
    /// CPU seconds of the worker's I/O thread, on which the application runs, at both ends of the
    /// two phases: the worker's own cost, without the server's or libzmq's.
    var workerStartCPU = 0.0
    var workerEndCPU = 0.0
    /// CPU seconds of the servers' I/O threads (named `server-<rank>`) at the same two points.
    var serverStartCPU = 0.0
    var serverEndCPU = 0.0
    /// CPU seconds of the workers' and of the servers' libzmq I/O threads (numbered after their
    /// nodes, see `NodeRole.libzmqThreadPrefix(rank:)`) at the same two points.
    var workerLibzmqStartCPU = 0.0
    var workerLibzmqEndCPU = 0.0
    var serverLibzmqStartCPU = 0.0
    var serverLibzmqEndCPU = 0.0
    var pushLatencies: [Double] = []
    var pullLatencies: [Double] = []

    /// Pushes then pulls `rounds` requests of the key sets round-robin, `window` requests in flight,
    /// after a correctness check (one worker: a pull of a pushed set must read back exactly what was
    /// pushed) and a warm-up; workers start each phase together at a barrier. The pulls copy their
    /// values into an array, as `ps_bench`'s do, or with `readInPlace` leave them in the reply
    /// frames (`Worker.pullInPlace`), as `zmq_thr`'s receiver does.
    static func measure(
        worker: Worker, table: UInt32, sets: KeySets, rounds: Int, window: Int, checkReadBack: Bool,
        readInPlace: Bool = false
    ) async throws -> PushPullRun {
        try await worker.wait(worker.push(table: table, keys: sets.keys[0], values: sets.values[0]))
        if checkReadBack {
            let read = try await worker.pull(table: table, keys: sets.keys[0])
            guard read == sets.values[0] else { throw BenchError("a pull read back other values than the push wrote") }
        }
        for set in 1..<sets.keys.count {
            try await worker.wait(worker.push(table: table, keys: sets.keys[set], values: sets.values[set]))
        }
        for set in sets.keys.indices { _ = try await worker.pull(table: table, keys: sets.keys[set]) }

        var run = PushPullRun()
        run.pushLatencies.reserveCapacity(rounds)
        run.pullLatencies.reserveCapacity(rounds)
        try await worker.barrier("push")
        run.pushStartCPU = processCPUSeconds()
        run.workerStartCPU = threadCPUSeconds()
        run.serverStartCPU = threadsCPUSeconds(named: "server-")
        run.workerLibzmqStartCPU = threadsCPUSeconds { isLibzmqIOThread($0, of: .worker) }
        run.serverLibzmqStartCPU = threadsCPUSeconds { isLibzmqIOThread($0, of: .server) }
        run.pushStart = .now
        var pending: [(timestamp: Timestamp, issued: ContinuousClock.Instant)] = []
        pending.reserveCapacity(window)
        for round in 0..<rounds {
            if pending.count == window {
                let oldest = pending.removeFirst()
                try await worker.wait(oldest.timestamp)
                run.pushLatencies.append((ContinuousClock.now - oldest.issued).seconds * 1e6)
            }
            let set = round % sets.keys.count
            let issued = ContinuousClock.now
            pending.append((try await worker.push(table: table, keys: sets.keys[set], values: sets.values[set]), issued))
        }
        for request in pending {
            try await worker.wait(request.timestamp)
            run.pushLatencies.append((ContinuousClock.now - request.issued).seconds * 1e6)
        }
        run.pushEnd = .now
        run.pushEndCPU = processCPUSeconds()
        run.pushKeys = rounds * sets.keys[0].count
        run.keysPerRequest = sets.keys[0].count

        try await worker.barrier("pull")
        run.pullStartCPU = processCPUSeconds()
        run.pullStart = .now
        // `window` sequential pullers keep `window` pulls in flight.
        run.pullLatencies = try await withThrowingTaskGroup(of: [Double].self) { group in
            for lane in 0..<window {
                group.addTask {
                    var latencies: [Double] = []
                    var round = lane
                    while round < rounds {
                        let issued = ContinuousClock.now
                        let keys = sets.keys[round % sets.keys.count]
                        let count =
                            readInPlace
                            ? try await worker.pullInPlace(table: table, keys: keys).count
                            : try await worker.pull(table: table, keys: keys).count
                        latencies.append((ContinuousClock.now - issued).seconds * 1e6)
                        guard count == sets.values[0].count else { throw BenchError("a pull returned \(count) values") }
                        round += window
                    }
                    return latencies
                }
            }
            var all: [Double] = []
            for try await part in group { all += part }
            return all
        }
        run.pullEnd = .now
        run.pullEndCPU = processCPUSeconds()
        run.workerEndCPU = threadCPUSeconds()
        run.serverEndCPU = threadsCPUSeconds(named: "server-")
        run.workerLibzmqEndCPU = threadsCPUSeconds { isLibzmqIOThread($0, of: .worker) }
        run.serverLibzmqEndCPU = threadsCPUSeconds { isLibzmqIOThread($0, of: .server) }
        run.pullKeys = rounds * sets.keys[0].count
        return run
    }

    /// The figures of a run of several workers: keys/s over the span from the first start to the
    /// last end, and latency percentiles over every request.
    static func samples(_ runs: [PushPullRun], unitsPerKey: Int = 1) -> [Sample] {
        func rate(_ keys: Int, _ starts: [ContinuousClock.Instant], _ ends: [ContinuousClock.Instant]) -> Double {
            Double(keys) / (ends.max()! - starts.min()!).seconds
        }
        let pushRate = rate(runs.reduce(0) { $0 + $1.pushKeys }, runs.map(\.pushStart), runs.map(\.pushEnd))
        let pullRate = rate(runs.reduce(0) { $0 + $1.pullKeys }, runs.map(\.pullStart), runs.map(\.pullEnd))
        let pushLatencies = runs.flatMap(\.pushLatencies)
        let pullLatencies = runs.flatMap(\.pullLatencies)
        // The process CPU over the span of a phase (from the first start to the last end), per request.
        func cpuPerRequest(_ starts: [Double], _ ends: [Double], keys: Int) -> Double {
            let requests = Double(keys) / Double(max(1, runs[0].keysPerRequest))
            return (ends.max()! - starts.min()!) / requests * 1e6
        }
        let pushKeys = runs.reduce(0) { $0 + $1.pushKeys }
        let pullKeys = runs.reduce(0) { $0 + $1.pullKeys }
        let pushCPU = cpuPerRequest(runs.map(\.pushStartCPU), runs.map(\.pushEndCPU), keys: pushKeys)
        let pullCPU = cpuPerRequest(runs.map(\.pullStartCPU), runs.map(\.pullEndCPU), keys: pullKeys)
        // Both phases together, the figure `ps_bench` gives.
        let cpu = (pushCPU * Double(pushKeys) + pullCPU * Double(pullKeys)) / Double(max(1, pushKeys + pullKeys))
        // Each worker's I/O thread over both phases (the barrier between them included), per request.
        func requests(_ run: PushPullRun) -> Double {
            Double(max(1, (run.pushKeys + run.pullKeys) / max(1, run.keysPerRequest)))
        }
        let workerCPU = runs.map { run in (run.workerEndCPU - run.workerStartCPU) / requests(run) * 1e6 }
            .reduce(0, +) / Double(runs.count)
        // Every worker reads every server's threads (and every node's libzmq threads); the first
        // worker's reading covers all requests.
        let allRequests = runs.map(requests).reduce(0, +)
        let serverCPU = (runs[0].serverEndCPU - runs[0].serverStartCPU) / allRequests * 1e6
        let workerLibzmqCPU = (runs[0].workerLibzmqEndCPU - runs[0].workerLibzmqStartCPU) / allRequests * 1e6
        let serverLibzmqCPU = (runs[0].serverLibzmqEndCPU - runs[0].serverLibzmqStartCPU) / allRequests * 1e6
        return [
            Sample(metric: "push keys/s", value: pushRate, unit: "keys/s"),
            Sample(metric: "pull keys/s", value: pullRate, unit: "keys/s"),
            Sample(metric: "push p50 us", value: Statistics.percentile(pushLatencies, 0.5) ?? 0, unit: "us"),
            Sample(metric: "push p99 us", value: Statistics.percentile(pushLatencies, 0.99) ?? 0, unit: "us"),
            Sample(metric: "pull p50 us", value: Statistics.percentile(pullLatencies, 0.5) ?? 0, unit: "us"),
            Sample(metric: "pull p99 us", value: Statistics.percentile(pullLatencies, 0.99) ?? 0, unit: "us"),
            Sample(metric: "push cpu us/req", value: pushCPU, unit: "us"),
            Sample(metric: "pull cpu us/req", value: pullCPU, unit: "us"),
            Sample(metric: "cpu us/req", value: cpu, unit: "us"),
            Sample(metric: "worker thread cpu us/req", value: workerCPU, unit: "us"),
            Sample(metric: "server threads cpu us/req", value: serverCPU, unit: "us"),
            Sample(metric: "worker libzmq cpu us/req", value: workerLibzmqCPU, unit: "us"),
            Sample(metric: "server libzmq cpu us/req", value: serverLibzmqCPU, unit: "us"),
        ]
    }
}

/// CPU seconds the calling thread has used so far.
func threadCPUSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

/// CPU seconds used so far by this process's threads whose name starts with `prefix`, such as the
/// I/O threads of the nodes of an in-process cluster (`server-0`, …).
func threadsCPUSeconds(named prefix: String) -> Double {
    threadsCPUSeconds { $0.hasPrefix(prefix) }
}

/// Whether a thread's name is that of a libzmq I/O thread of a node of `role`: `2003/ZMQbg/IO/0`
/// for worker 3's (see `NodeRole.libzmqThreadPrefix(rank:)`).
func isLibzmqIOThread(_ name: String, of role: NodeRole) -> Bool {
    guard let slash = name.firstIndex(of: "/"), let number = Int(name[..<slash]) else { return false }
    return number / 1000 == Int(role.rawValue) && name[slash...].hasPrefix("/ZMQbg/IO/")
}

/// CPU seconds used so far by this process's threads whose name `matches`.
func threadsCPUSeconds(where matches: (String) -> Bool) -> Double {
    guard let threads = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task") else { return 0 }
    var total = 0.0
    for thread in threads {
        guard let tid = Int32(thread),
            let name = try? String(contentsOfFile: "/proc/self/task/\(thread)/comm", encoding: .utf8),
            matches(name.trimmingCharacters(in: .whitespacesAndNewlines))
        else { continue }
        // The CPU-time clock of another thread of this process, by thread id: what glibc's
        // `pthread_getcpuclockid` computes (per-thread, scheduler clock).
        var time = timespec()
        if clock_gettime(clockid_t(~tid << 3 | 6), &time) == 0 {
            total += Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
        }
    }
    return total
}

/// CPU seconds this process has used so far, over all its threads.
func processCPUSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}
