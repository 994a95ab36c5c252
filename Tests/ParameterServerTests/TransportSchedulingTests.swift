import Foundation
import Logging
import ServiceLifecycle
import Testing
import ZeroMQ

@testable import ParameterServer

@Suite("I/O thread scheduling policy")
struct TransportSchedulingTests {
    @Test(arguments: [true, false])
    func theIOThreadRunsUnderTheChosenPolicy(batchScheduling: Bool) async throws {
        let context = try Context()
        var settings = TransportSettings()
        settings.batchScheduling = batchScheduling
        let transport = try ZMQTransport(
            context: context, bind: "tcp://127.0.0.1:*", settings: settings, logger: TransportAffinityTests.logger
        ) {
            TransportAffinityTests.IdleHandler()
        }
        _ = try transport.start()
        let usesBatch: Bool = await withCheckedContinuation { continuation in
            transport.execute { _, _ in continuation.resume(returning: ThreadScheduling.currentThreadUsesBatchPolicy) }
        }
        #expect(usesBatch == batchScheduling)
        transport.stop()
        await transport.waitUntilFinished()
        try context.terminate()
    }

    @Test func aThreadCanBeMovedToTheBatchPolicyAndReportsIt() async {
        let result: (Int32?, Bool) = await withCheckedContinuation { continuation in
            let thread = Thread {
                // A new thread inherits its creator's policy, and the test's may be a thread that a
                // node's I/O thread started: begin from the default policy.
                ThreadScheduling.useDefaultPolicyForCurrentThread()
                let before = ThreadScheduling.currentThreadUsesBatchPolicy
                let refused = ThreadScheduling.useBatchPolicyForCurrentThread()
                continuation.resume(returning: (refused, !before && ThreadScheduling.currentThreadUsesBatchPolicy))
            }
            thread.start()
        }
        #expect(result.0 == nil)
        #expect(result.1)
    }
}

/// A node's settings reach its I/O thread: a server started with `batchScheduling` off keeps the
/// default policy, one started with it on runs under `SCHED_BATCH`. The servers' manager is a bare
/// ROUTER that takes their registration and never answers.
///
/// The policy is read once, when the node says it is bound: its transport has started by then, and
/// the I/O thread names itself and takes its policy before it binds. The thread must still be there
/// when it is read, so the node is not left to end at a short startup deadline (a test task starved
/// for that long on a busy machine used to find no thread at all); it runs under a service group
/// and is shut down, gracefully, once read.
@Suite("Node scheduling settings")
struct NodeSchedulingTests {
    @Test(arguments: [true, false])
    func aServerRunsItsIOThreadUnderItsSetting(batchScheduling: Bool) async throws {
        let rank = batchScheduling ? 71 : 72
        let context = try Context()
        let manager = try Socket(.router, context: context)
        let managerEndpoint = try manager.bind(to: "tcp://127.0.0.1:*")
        var settings = NodeSettings(
            role: .server, rank: rank, managerEndpoint: managerEndpoint, bindEndpoint: "tcp://127.0.0.1:*",
            tables: [TableSpec(name: "w", id: 0, valueLength: 1)],
            deadlines: Deadlines(startup: .seconds(120), shutdown: .milliseconds(500)))
        settings.batchScheduling = batchScheduling
        let (bound, boundContinuation) = AsyncStream.makeStream(of: String.self)
        let server = ServerNode(settings: settings, logger: TransportAffinityTests.logger) { endpoint in
            boundContinuation.yield(endpoint)
            boundContinuation.finish()
        }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: server)], gracefulShutdownSignals: [], logger: TransportAffinityTests.logger))
        let running = Task { try await group.run() }
        var endpoints = bound.makeAsyncIterator()
        let endpoint = await endpoints.next()
        #expect(endpoint != nil, "the server never bound")
        let policy = Self.schedulingPolicy(ofThreadNamed: "server-\(rank)")
        // Linux's SCHED_BATCH is 3, SCHED_OTHER 0.
        #expect(policy == (batchScheduling ? 3 : 0))
        await group.triggerGracefulShutdown()
        // The node fails on purpose ("asked to stop"): only that it ended matters here.
        _ = await running.result
        try manager.set(.linger, to: 0)
        manager.close()
        try context.terminate()
    }

    /// Everything a node's settings say of its I/O thread reaches its transport's settings; the
    /// manager's thread never busy-polls (it waits on all its sockets).
    @Test func nodeAndManagerSettingsBecomeTheirTransportSettings() {
        var settings = NodeSettings(
            role: .worker, rank: 3, managerEndpoint: "tcp://127.0.0.1:1", bindEndpoint: "tcp://127.0.0.1:*",
            tables: [], cpu: 1)
        settings.batchScheduling = false
        settings.busyPoll = .microseconds(7)
        let transport = settings.transportSettings
        #expect(transport.cpu == 1 && transport.threadName == "worker-3" && transport.libzmqThreadPrefix == 2003)
        #expect(!transport.batchScheduling && transport.busyPoll == .microseconds(7))
        // Without a busy poll of its own a node polls under batch scheduling only, which it is not
        // under unless its settings ask.
        var unset = NodeSettings(role: .server, rank: 0, managerEndpoint: "", bindEndpoint: "", tables: [])
        #expect(!unset.batchScheduling && !unset.transportSettings.batchScheduling)
        #expect(unset.transportSettings.busyPoll == nil)
        #expect(unset.transportSettings.effectiveBusyPoll == .zero)
        unset.batchScheduling = true
        #expect(unset.transportSettings.effectiveBusyPoll == TransportSettings.defaultBusyPoll)
        #expect(transport.effectiveBusyPoll == .microseconds(7))

        var manager = ManagerSettings(bindEndpoint: "tcp://127.0.0.1:*", servers: 1, workers: 1, keySpace: KeyRange(0, 8), cpu: 0)
        manager.batchScheduling = false
        let managerTransport = manager.transportSettings
        #expect(managerTransport.cpu == 0 && managerTransport.threadName == "manager" && managerTransport.libzmqThreadPrefix == 0)
        #expect(!managerTransport.batchScheduling && managerTransport.effectiveBusyPoll == .zero)
        manager.batchScheduling = true
        #expect(manager.transportSettings.effectiveBusyPoll == .zero)
    }

    /// libzmq's threads are numbered by role and rank below rank 1000, and left plain from there.
    @Test func libzmqThreadsAreNumberedByRoleAndRank() {
        #expect(NodeRole.manager.libzmqThreadPrefix(rank: 0) == 0)
        #expect(NodeRole.server.libzmqThreadPrefix(rank: 0) == 1000)
        #expect(NodeRole.server.libzmqThreadPrefix(rank: 999) == 1999)
        #expect(NodeRole.worker.libzmqThreadPrefix(rank: 17) == 2017)
        #expect(NodeRole.worker.libzmqThreadPrefix(rank: 1000) == nil)
        #expect(NodeRole.server.libzmqThreadPrefix(rank: -1) == nil)
    }

    /// The scheduling policy of this process's thread called `name` (field 41 of its `stat`).
    static func schedulingPolicy(ofThreadNamed name: String) -> Int? {
        let threads = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        for thread in threads {
            let comm = (try? String(contentsOfFile: "/proc/self/task/\(thread)/comm", encoding: .utf8)) ?? ""
            guard comm.trimmingCharacters(in: .whitespacesAndNewlines) == name,
                let stat = try? String(contentsOfFile: "/proc/self/task/\(thread)/stat", encoding: .utf8),
                let nameEnd = stat.lastIndex(of: ")")
            else { continue }
            let fields = stat[stat.index(after: nameEnd)...].split(separator: " ")
            return fields.count > 38 ? Int(fields[38]) : nil
        }
        return nil
    }
}
