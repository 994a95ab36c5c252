import Foundation
import Testing
import ZeroMQ

@Suite("Context I/O thread affinity")
struct ContextAffinityTests {
    /// libzmq starts its I/O thread with the first socket; the thread it starts is kept on CPU 0.
    /// (Other tests may start unpinned contexts meanwhile, so the check is that a new one is pinned.)
    @Test func ioThreadsRunOnTheGivenCPU() async throws {
        let before = Self.zmqIOThreads()
        let context = try Context(options: Context.Options(ioThreadCPUs: [0]))
        do {
            let socket = try Socket(.dealer, context: context)
            // The thread names itself after it starts.
            var pinned: [String] = []
            for _ in 0..<100 where pinned.isEmpty {
                pinned = Self.zmqIOThreads().subtracting(before).filter { Self.allowedCPUs($0) == "0" }
                if pinned.isEmpty { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(!pinned.isEmpty, "no new libzmq I/O thread kept on CPU 0")
            socket.close()
        }
        try context.terminate()
    }

    /// A context given a thread name prefix starts its I/O thread as `PREFIX/ZMQbg/IO/0`; the
    /// prefix is this test's own, so no other test's context makes such a thread.
    @Test func ioThreadsCarryTheNamePrefix() async throws {
        let prefix = 4711
        let context = try Context(options: Context.Options(threadNamePrefix: prefix))
        do {
            let socket = try Socket(.dealer, context: context)
            var names: [String] = []
            for _ in 0..<100 where !names.contains("\(prefix)/ZMQbg/IO/0") {
                names = Self.threadNames()
                if !names.contains("\(prefix)/ZMQbg/IO/0") { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(names.contains("\(prefix)/ZMQbg/IO/0"), "threads: \(names)")
            socket.close()
        }
        try context.terminate()
    }

    /// The names of this process's threads.
    private static func threadNames() -> [String] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.compactMap { thread in
            (try? String(contentsOfFile: "/proc/self/task/\(thread)/comm", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    /// The ids of this process's libzmq I/O threads (named `ZMQbg/IO/…`).
    private static func zmqIOThreads() -> Set<String> {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return Set(tasks.filter { thread in
            let name = (try? String(contentsOfFile: "/proc/self/task/\(thread)/comm", encoding: .utf8)) ?? ""
            return name.hasPrefix("ZMQbg/IO")
        })
    }

    /// The `Cpus_allowed_list` line of a thread's status.
    private static func allowedCPUs(_ thread: String) -> String? {
        let status = (try? String(contentsOfFile: "/proc/self/task/\(thread)/status", encoding: .utf8)) ?? ""
        return status.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") }
            .map { $0.dropFirst("Cpus_allowed_list:".count).trimmingCharacters(in: .whitespaces) }
    }
}
