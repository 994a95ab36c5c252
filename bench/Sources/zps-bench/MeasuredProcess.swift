import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A child process run to its end, its wall time and the CPU time it and every process it waited
/// for used (user plus system, from `getrusage(RUSAGE_CHILDREN)`); its output goes to a file.
///
/// The CPU figure is exact only while no other child of zps-bench ends meanwhile, which holds for
/// the scenarios that use it: they run one process at a time.
struct MeasuredProcess {
    /// How the process ended and what it cost.
    struct Outcome {
        var status: Int32
        var wallSeconds: Double
        var cpuSeconds: Double
        /// The process's standard output and error, together.
        var output: String
    }

    var executable: String
    var arguments: [String]
    /// Where standard output and error go.
    var logPath: String

    /// Runs the process and waits for it.
    func run() throws -> Outcome {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw BenchError("no executable at \(executable)")
        }
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        defer { try? log.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = log
        process.standardError = log
        let cpuBefore = Self.childrenCPUSeconds()
        let start = ContinuousClock.now
        try process.run()
        process.waitUntilExit()
        let wall = (ContinuousClock.now - start).seconds
        let cpu = Self.childrenCPUSeconds() - cpuBefore
        let output = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return Outcome(status: process.terminationStatus, wallSeconds: wall, cpuSeconds: cpu, output: output)
    }

    /// User plus system CPU of every child this process has waited for.
    static func childrenCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_CHILDREN.rawValue), &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) * 1e-6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}
