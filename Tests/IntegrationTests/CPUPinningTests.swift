import Foundation
import ParameterServer
import Testing

@Suite("Nodes kept on a CPU")
struct CPUPinningTests {
    /// The topology's `scheduling` reaches the threads: `batch` when it says so, the kernel's
    /// default policy when it says nothing.
    @Test("a server started with --cpu keeps its I/O thread (named after the node, under the topology's scheduling) and libzmq's on that CPU",
        arguments: [true, false])
    func serverThreadsStayOnTheirCPU(batchScheduled: Bool) async throws {
        let directory = try ClusterSupport.temporaryDirectory("cpu")
        let topology = try ClusterSupport.writeTopology(in: directory, servers: 1, workers: 1, keySpace: 10, tables: [("w", 1)])
        if batchScheduled {
            let text = try String(contentsOfFile: topology, encoding: .utf8)
            let scheduled = text.replacingOccurrences(of: "servers: { count: 1,", with: "servers: { count: 1, scheduling: batch,")
            #expect(scheduled != text)
            try scheduled.write(toFile: topology, atomically: true, encoding: .utf8)
        }
        let (manager, endpoint) = try await NodeProcess.startManager(topology: topology, directory: directory)
        defer { manager.kill() }
        let cpu = ThreadAffinity.onlineCPUs - 1
        let server = try NodeProcess(
            "server-0", arguments: ["server", "--topology", topology, "--rank", "0", "--manager", endpoint, "--cpu", "\(cpu)"],
            directory: directory)
        defer { server.kill() }
        // Wait for the two threads to be started and pinned. libzmq's are numbered after the node.
        let zmqIO = "\(try #require(NodeRole.server.libzmqThreadPrefix(rank: 0)))/ZMQbg/IO/0"
        var pinned: [String: String] = [:]
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            pinned = Self.threadsOnOneCPU(of: server.pid)
            if pinned.values.contains(zmqIO) && pinned.values.contains("server-0") { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(pinned.values.contains(zmqIO), "threads on CPU \(cpu): \(pinned)")
        #expect(pinned.values.contains("server-0"), "threads on CPU \(cpu): \(pinned)")
        #expect(Set(pinned.keys.map { Self.allowedCPUs(pid: server.pid, thread: $0) }) == ["\(cpu)"])
        // Under `scheduling: batch` the node's I/O thread runs under SCHED_BATCH (policy 3), and so
        // do libzmq's I/O threads, which it starts when it makes its first socket; else SCHED_OTHER (0).
        let policies = Dictionary(pinned.map { ($0.value, Self.schedulingPolicy(pid: server.pid, thread: $0.key)) }) { first, _ in first }
        let expected = batchScheduled ? 3 : 0
        #expect(policies["server-0"] == expected, "policies: \(policies)")
        #expect(policies[zmqIO] == expected, "policies: \(policies)")
    }

    /// The scheduling policy of a thread, field 41 of its `stat` (counted after the name).
    static func schedulingPolicy(pid: Int32, thread: String) -> Int? {
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/task/\(thread)/stat", encoding: .utf8)) ?? ""
        guard let nameEnd = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: nameEnd)...].split(separator: " ")
        // Fields after the name start at field 3 (state).
        return fields.count > 38 ? Int(fields[38]) : nil
    }

    @Test("a server asked for a CPU the host lacks exits with an error naming it")
    func missingCPUIsReported() async throws {
        let directory = try ClusterSupport.temporaryDirectory("cpu-missing")
        let topology = try ClusterSupport.writeTopology(in: directory, servers: 1, workers: 1, keySpace: 10, tables: [("w", 1)])
        let missing = ThreadAffinity.onlineCPUs + 64
        let server = try NodeProcess(
            "server-0",
            arguments: ["server", "--topology", topology, "--rank", "0", "--manager", "tcp://127.0.0.1:1", "--cpu", "\(missing)"],
            directory: directory)
        defer { server.kill() }
        let status = try await server.waitForExit(within: .seconds(20))
        #expect(status != nil && status != 0)
        #expect(server.errors.contains("server-0 cannot run on its cpu: CPU \(missing) is not available on this host"), "stderr: \(server.errors)")
    }

    /// The threads of `pid` allowed on exactly one CPU, by thread id, with their names.
    static func threadsOnOneCPU(of pid: Int32) -> [String: String] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        var result: [String: String] = [:]
        for thread in tasks {
            guard let cpus = allowedCPUs(pid: pid, thread: thread), !cpus.contains(","), !cpus.contains("-") else { continue }
            result[thread] = ((try? String(contentsOfFile: "/proc/\(pid)/task/\(thread)/comm", encoding: .utf8)) ?? "")
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return result
    }

    static func allowedCPUs(pid: Int32, thread: String) -> String? {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/task/\(thread)/status", encoding: .utf8)) ?? ""
        return status.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") }
            .map { $0.dropFirst("Cpus_allowed_list:".count).trimmingCharacters(in: .whitespaces) }
    }
}
