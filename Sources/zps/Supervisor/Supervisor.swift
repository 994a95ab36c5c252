import Foundation
import ParameterServer
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `zps run`: starts the manager, then every server and worker of a topology as separate processes
/// on this host, relays their output, shows live progress, and stops all of them cleanly when the
/// job ends, when any of them fails, or on Ctrl-C. It never leaves a child behind: children that do
/// not stop within the shutdown deadline are killed, and each child dies with the supervisor.
final class Supervisor: Sendable {
    struct Configuration: Sendable {
        var topologyPath: String
        var topology: Topology
        var executable: String
        var passThrough: [String]
        var showLiveProgress: Bool
    }

    /// What happened, for the summary and `--json`.
    struct Outcome: Sendable {
        var succeeded: Bool
        var seconds: Double
        /// The root cause of a failure.
        var failure: String?
        /// Every failure noticed, the root cause first, then the others in the order they came.
        var errors: [String]
        var summaries: [String]
        /// The `result` lines of the workers: one JSON object each, as the job wrote it.
        var results: [String]
        var exits: [String]
    }

    private let configuration: Configuration
    private let stopRequested = Atomic<Bool>(false)

    init(configuration: Configuration) {
        self.configuration = configuration
    }

    /// Asks the supervisor to stop every child (after Ctrl-C or SIGTERM); safe from any thread.
    func requestStop() {
        stopRequested.store(true, ordering: .relaxed)
    }

    /// Runs the job to its end on the calling thread.
    func run() -> Outcome {
        var run = SupervisorRun(configuration: configuration, stopRequested: { self.stopRequested.load(ordering: .relaxed) })
        return run.execute()
    }
}

/// The state of one `zps run`; lives on the supervisor's thread.
private struct SupervisorRun {
    private let configuration: Supervisor.Configuration
    private let stopRequested: () -> Bool
    private var children: [ChildProcess] = []
    private var partialLines: [Int32: [UInt8]] = [:]
    private var openFDs: Set<Int32> = []
    private var causes = FailureCauses()
    private var summaries: [String] = []
    private var results: [String] = []
    /// Servers that exited while replication covered them: the manager moves their ranges to their
    /// replicas and the job goes on (docs/FAULT-TOLERANCE.md).
    private var toleratedExits: Set<String> = []
    /// The children whose exit ``reap()`` has judged. Not the children with a status: any later
    /// `poll()` of the same turn (counting exits, say) may be the first to see an exit, and it must
    /// still be judged at the next turn.
    private var reapedChildren: Set<Int32> = []
    private var progress: [Int: (fraction: Double, text: String)] = [:]
    private var stopping: (since: ContinuousClock.Instant, killed: Bool)?
    /// When a child last exited, to tell when the nodes still running only wait for ones that are gone.
    private var lastExit: ContinuousClock.Instant?
    private var exitedCount = 0
    private var killedStragglers: Set<String> = []
    private var managerEndpoint: String?
    private var lastProgressPrint = ContinuousClock.now
    private var progressLineShown = false
    private let start = ContinuousClock.now

    init(configuration: Supervisor.Configuration, stopRequested: @escaping () -> Bool) {
        self.configuration = configuration
        self.stopRequested = stopRequested
    }

    private var topology: Topology { configuration.topology }

    mutating func execute() -> Supervisor.Outcome {
        let deadlines = topology.deadlines
        say("starting \(topology.name): 1 manager, \(topology.servers.count) server(s), \(topology.workers.count) worker(s) on this host")
        launch("manager", role: "manager", rank: 0, extra: [])
        let managerReadyDeadline = start + deadlines.startup
        while true {
            pumpOutput(timeoutMilliseconds: 100)
            reap()
            let now = ContinuousClock.now
            if stopping == nil {
                if stopRequested() {
                    fail("interrupted: stopping every process", .interruption)
                } else if managerEndpoint == nil, now > managerReadyDeadline {
                    fail("the manager did not report its endpoint within \(deadlines.startup)", .cause)
                }
            }
            if children.allSatisfy({ $0.poll() != nil }) { break }
            if let manager = children.first, manager.poll() != nil, stopping == nil {
                // The job is over; give the others the shutdown deadline to exit on their own.
                stopping = (now, false)
            }
            let exited = children.filter { $0.poll() != nil }.count
            if exited > exitedCount {
                exitedCount = exited
                lastExit = now
            }
            killStragglers(now: now)
            if let since = stopping?.since, stopping?.killed == false, now - since > deadlines.shutdown + .seconds(2) {
                for child in children where child.poll() == nil {
                    say("\(child.name) (pid \(child.pid)) did not exit within \(deadlines.shutdown); killing it")
                    child.send(SIGKILL)
                }
                stopping?.killed = true
            }
            showProgress()
        }
        pumpOutput(timeoutMilliseconds: 0)
        clearProgressLine()
        let exits = children.map { "\($0.name) (pid \($0.pid)) \($0.poll()!)" }
        // A node stopped for the job's failure (exit status 3) is not its cause, unless nothing else failed.
        let failedChildren = children.filter { !$0.poll()!.succeeded && !toleratedExits.contains($0.name) }
        if causes.isEmpty, let first = failedChildren.first(where: { !$0.poll()!.stoppedForJobFailure }) ?? failedChildren.first {
            causes.note("\(first.name) (pid \(first.pid)) \(first.poll()!)", .consequence)
        }
        let failure = causes.rootCause
        let elapsed = start.duration(to: .now)
        let (seconds, attoseconds) = elapsed.components
        return Supervisor.Outcome(
            succeeded: failure == nil, seconds: Double(seconds) + Double(attoseconds) / 1e18, failure: failure,
            errors: causes.ordered, summaries: summaries, results: results, exits: exits)
    }

    // MARK: Children

    private mutating func launch(_ name: String, role: String, rank: Int, extra: [String]) {
        var arguments = [role, "--topology", configuration.topologyPath, "--supervised"]
        if role != "manager" { arguments += ["--rank", "\(rank)"] }
        arguments += extra + configuration.passThrough
        do {
            let child = try ChildProcess(name: name, executable: configuration.executable, arguments: arguments)
            children.append(child)
            openFDs.formUnion([child.stdoutFD, child.stderrFD])
        } catch {
            fail("\(error)", .cause)
        }
    }

    private mutating func startNodes(managerEndpoint: String) {
        self.managerEndpoint = managerEndpoint
        for rank in 0..<topology.servers.count {
            launch("server-\(rank)", role: "server", rank: rank, extra: ["--manager", managerEndpoint])
        }
        for rank in 0..<topology.workers.count {
            launch("worker-\(rank)", role: "worker", rank: rank, extra: ["--manager", managerEndpoint])
        }
    }

    private mutating func reap() {
        for child in children where !reapedChildren.contains(child.pid) {
            guard let status = child.poll() else { continue }
            reapedChildren.insert(child.pid)
            if !status.succeeded && !status.stoppedForJobFailure && stopping == nil {
                if child.name.hasPrefix("server-"), topology.replication > 0 {
                    toleratedExits.insert(child.name)
                    clearProgressLine()
                    say("\(child.name) (pid \(child.pid)) \(status); replication \(topology.replication) covers it: the manager moves its ranges to their replicas once its heartbeats stop")
                    continue
                }
                // A signal the supervisor did not send is a cause; an exit status follows some other failure.
                if case .signaled = status {
                    fail("\(child.name) (pid \(child.pid)) \(status)", .cause)
                } else {
                    fail("\(child.name) (pid \(child.pid)) \(status)", .consequence)
                }
            }
        }
    }

    /// Children found stopped when a failure shows are its likely root cause: a stopped server
    /// blocks the workers that send to it, and the manager may miss their heartbeats first.
    private mutating func noteStoppedChildren() {
        for child in children where child.isStopped {
            causes.note(
                "\(child.name) (pid \(child.pid)) is stopped (e.g. by SIGSTOP): it answers no requests and sends no heartbeats",
                .stoppedProcess)
        }
    }

    /// Once a failed job is stopping and the manager or every other node has exited, the nodes
    /// still running can only be waiting for acknowledgements that will never come: they get a
    /// second, then are killed, so that a failure ends the job at once rather than at the shutdown deadline.
    private mutating func killStragglers(now: ContinuousClock.Instant) {
        guard !causes.isEmpty, let stopping, !stopping.killed, let lastExit, now - lastExit > .seconds(1),
              let manager = children.first
        else { return }
        let running = children.filter { $0.poll() == nil }
        let stragglers = manager.poll() != nil ? running : (running.count == 1 ? running : [])
        for child in stragglers where !killedStragglers.contains(child.name) {
            killedStragglers.insert(child.name)
            let gone = manager.poll() != nil ? "the manager" : "every other process"
            say("\(child.name) (pid \(child.pid)) was still running 1 s after \(gone) exited; killing it")
            child.send(SIGKILL)
        }
    }

    /// Records a failure; the first one starts stopping every child that is still running.
    private mutating func fail(_ reason: String, _ weight: FailureCauses.Weight) {
        let first = causes.isEmpty
        noteStoppedChildren()
        causes.note(reason, weight)
        if first {
            clearProgressLine()
            say("error: \(reason)")
        }
        guard stopping == nil else { return }
        stopping = (ContinuousClock.now, false)
        for child in children where child.poll() == nil { child.send(SIGTERM) }
    }

    // MARK: Output

    private mutating func pumpOutput(timeoutMilliseconds: Int32) {
        let owners = Dictionary(uniqueKeysWithValues: children.flatMap { [($0.stdoutFD, $0), ($0.stderrFD, $0)] })
        var descriptors = openFDs.sorted().map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        guard !descriptors.isEmpty else {
            usleep(UInt32(max(timeoutMilliseconds, 1)) * 1000)
            return
        }
        let ready = Glibc.poll(&descriptors, nfds_t(descriptors.count), timeoutMilliseconds)
        guard ready > 0 else { return }
        var buffer = [UInt8](repeating: 0, count: 65536)
        for descriptor in descriptors where descriptor.revents != 0 {
            guard let child = owners[descriptor.fd] else { continue }
            while true {
                let count = read(descriptor.fd, &buffer, buffer.count)
                if count > 0 {
                    consume(buffer[0..<count], fd: descriptor.fd, child: child)
                    continue
                }
                if count == 0 || (errno != EAGAIN && errno != EINTR) {
                    openFDs.remove(descriptor.fd)
                    if let rest = partialLines.removeValue(forKey: descriptor.fd), !rest.isEmpty {
                        handleLine(String(decoding: rest, as: UTF8.self), fd: descriptor.fd, child: child)
                    }
                }
                break
            }
        }
    }

    private mutating func consume(_ bytes: ArraySlice<UInt8>, fd: Int32, child: ChildProcess) {
        var pending = partialLines[fd] ?? []
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                handleLine(String(decoding: pending, as: UTF8.self), fd: fd, child: child)
                pending.removeAll(keepingCapacity: true)
            } else {
                pending.append(byte)
            }
        }
        partialLines[fd] = pending
    }

    private mutating func handleLine(_ line: String, fd: Int32, child: ChildProcess) {
        guard fd == child.stdoutFD, line.hasPrefix(SupervisorChannel.prefix) else {
            clearProgressLine()
            let stream = fd == child.stdoutFD ? FileHandle.standardOutput : FileHandle.standardError
            stream.write(Data("[\(child.name)] \(line)\n".utf8))
            return
        }
        let message = line.dropFirst(SupervisorChannel.prefix.count)
        let parts = message.split(separator: " ", maxSplits: 1).map(String.init)
        let rest = parts.count > 1 ? parts[1] : ""
        switch parts.first {
        case "ready" where child.name == "manager" && managerEndpoint == nil:
            startNodes(managerEndpoint: rest)
        case "progress":
            let fields = rest.split(separator: " ", maxSplits: 2).map(String.init)
            if fields.count >= 2, let rank = Int(fields[0]), let fraction = Double(fields[1]) {
                progress[rank] = (fraction, fields.count > 2 ? fields[2] : "")
            }
        case "left":
            // A server asked to stop (SIGTERM) mid-job, which the manager took out of it.
            clearProgressLine()
            say("\(child.name) (pid \(child.pid)) was asked to stop and left the job: the manager moved its ranges to their replicas")
        case "summary":
            summaries.append(rest)
        case "result":
            results.append(rest)
        case "failed":
            // A node's own failure, e.g. the data error of a worker: more precise than its exit status.
            let fields = rest.split(separator: " ", maxSplits: 1).map(String.init)
            if fields.count == 2 {
                let text = fields[1].hasPrefix("\(child.name):") ? fields[1] : "\(child.name): \(fields[1])"
                causes.note(text, fields[0] == "cause" ? .cause : .consequence)
            }
        case "failure":
            // The manager's own finding is a cause; its report that it was told to stop follows one.
            // Its relay of a node's failure (`worker-0 failed: TEXT`) is worded as the node's own
            // report (`worker-0: TEXT`), so that the two are one cause whichever comes first.
            noteStoppedChildren()
            let relayed = rest.firstMatch(of: #/^((?:worker|server)-[0-9]+) failed: (.*)$/#).map { "\($0.1): \($0.2)" }
            causes.note(relayed ?? rest, rest.hasSuffix("asked to stop (signal)") ? .consequence : .cause)
        default:
            clearProgressLine()
            say("[\(child.name)] \(line)")
        }
    }

    // MARK: Display

    private mutating func showProgress() {
        guard !progress.isEmpty, stopping == nil else { return }
        let now = ContinuousClock.now
        let interval: Duration = configuration.showLiveProgress ? .milliseconds(200) : .seconds(5)
        guard now - lastProgressPrint >= interval else { return }
        lastProgressPrint = now
        let overall = progress.values.map(\.fraction).reduce(0, +) / Double(topology.workers.count)
        let elapsed = Double((now - start).components.seconds)
        let eta = overall > 0.01 ? max(0, elapsed / overall - elapsed) : nil
        let detail = progress.keys.sorted().map { rank in
            let entry = progress[rank]!
            return "w\(rank) \(Int(entry.fraction * 100))% \(entry.text)"
        }.joined(separator: " | ")
        let line = String(format: "[%3.0f%%] %.0fs elapsed%@ | %@", overall * 100, elapsed,
                          eta.map { String(format: ", ETA %.0fs", $0) } ?? "", detail)
        if configuration.showLiveProgress {
            FileHandle.standardError.write(Data(("\r\u{1B}[2K" + line).utf8))
            progressLineShown = true
        } else {
            say(line)
        }
    }

    private mutating func clearProgressLine() {
        guard progressLineShown else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8))
        progressLineShown = false
    }

    private func say(_ text: String) {
        FileHandle.standardError.write(Data(("zps: " + text + "\n").utf8))
    }
}
