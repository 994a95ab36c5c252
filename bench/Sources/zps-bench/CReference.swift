import Foundation

/// The C reference programs of ../shared/limits (`ps_bench`, `zmq_thr`): located, built out of tree
/// when needed, run as child processes, their `RESULT` lines parsed into samples.
struct CReference: Sendable {
    /// The folder holding the built programs.
    let binaries: URL

    /// Finds the programs beside the sources in `limits`, or builds them into `buildFolder` with the
    /// folder's Makefile; nil when `limits` does not exist.
    static func locate(limits: String, buildFolder: String) throws -> CReference? {
        let manager = FileManager.default
        var isFolder: ObjCBool = false
        guard manager.fileExists(atPath: limits, isDirectory: &isFolder), isFolder.boolValue else { return nil }
        for folder in [limits, buildFolder] where manager.isExecutableFile(atPath: folder + "/ps_bench")
            && manager.isExecutableFile(atPath: folder + "/zmq_thr")
        {
            return CReference(binaries: URL(fileURLWithPath: folder))
        }
        let output = try ChildProcess.run("/usr/bin/env", ["make", "-s", "-C", limits, "OUT=\(buildFolder)"])
        guard manager.isExecutableFile(atPath: buildFolder + "/ps_bench") else {
            throw BenchError("could not build the C reference in \(buildFolder): \(output)")
        }
        return CReference(binaries: URL(fileURLWithPath: buildFolder))
    }

    /// `ps_bench net dense N window rounds`: one worker process and one server process (fork), tcp loopback.
    ///
    /// Its CPU per request (`cpu us/req`, both processes, push and pull phases together) is the CPU
    /// of the run less that of a run of one round, which costs the same start-up, store and warm-up.
    func parameterServerRound(keys: Int, window: Int, rounds: Int) throws -> [Sample] {
        let start = Self.childrenCPUSeconds()
        let lines = try run("ps_bench", ["net", "dense", "\(keys)", "\(window)", "\(rounds)"])
        let measured = Self.childrenCPUSeconds() - start
        let setupStart = Self.childrenCPUSeconds()
        _ = try run("ps_bench", ["net", "dense", "\(keys)", "\(window)", "1"])
        let setup = Self.childrenCPUSeconds() - setupStart
        var samples = lines.compactMap { line -> Sample? in
            switch line.metric {
            case "push_keys_per_s": Sample(metric: "push keys/s", value: line.value, unit: "keys/s")
            case "pull_keys_per_s": Sample(metric: "pull keys/s", value: line.value, unit: "keys/s")
            case "push_round_p50": Sample(metric: "push p50 us", value: line.value, unit: "us")
            case "pull_round_p50": Sample(metric: "pull p50 us", value: line.value, unit: "us")
            default: nil
            }
        }
        if rounds > 1 {
            let perRequest = max(0, measured - setup) / Double(2 * (rounds - 1)) * 1e6
            samples.append(Sample(metric: "cpu us/req", value: perRequest, unit: "us"))
        }
        return samples
    }

    /// CPU seconds of the child processes waited for so far (and of their own waited-for children).
    private static func childrenCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_CHILDREN.rawValue, &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    /// `ps_bench local dense N`: the server's add and gather loops alone.
    func storeLoops(keys: Int) throws -> [Sample] {
        let lines = try run("ps_bench", ["local", "dense", "\(keys)"])
        return lines.compactMap { line in
            switch line.metric {
            case "add_keys_per_s": Sample(metric: "apply keys/s", value: line.value, unit: "keys/s")
            case "get_keys_per_s": Sample(metric: "gather keys/s", value: line.value, unit: "keys/s")
            default: nil
            }
        }
    }

    /// `msgpack_bench`: msgpack-c encoding and decoding a 10-field header (into a C struct).
    func headerCodec() throws -> [Sample] {
        try run("msgpack_bench", []).compactMap { line in
            guard line.config == "header10" else { return nil }
            switch line.metric {
            case "encode_ops_per_s": return Sample(metric: "encode headers/s", value: line.value, unit: "ops/s")
            case "decode_ops_per_s": return Sample(metric: "decode headers/s", value: line.value, unit: "ops/s")
            case "encoded_bytes": return Sample(metric: "header bytes", value: line.value, unit: "B")
            default: return nil
            }
        }
    }

    /// `zmq_thr thr tcp BYTES zc`: one-way libzmq throughput of zero-copy single-frame messages.
    func zeroCopyThroughput(bytes: Int, count: Int) throws -> Double {
        let lines = try run("zmq_thr", ["thr", "tcp", "\(bytes)", "zc", "\(count)"])
        guard let rate = lines.first(where: { $0.metric == "GBps" })?.value else {
            throw BenchError("zmq_thr printed no GBps line")
        }
        return rate
    }

    /// `zmq_info`'s CURVE figures: one-way libzmq throughput of 1 MiB frames over tcp, plaintext
    /// and CURVE, measured one after the other in one run.
    func curveThroughput() throws -> (plaintext: Double, curve: Double) {
        let lines = try run("zmq_info", [])
        guard let plaintext = lines.first(where: { $0.metric == "plain_GBps" })?.value,
            let curve = lines.first(where: { $0.metric == "curve_GBps" })?.value
        else { throw BenchError("zmq_info printed no zmq_curve lines (libzmq without CURVE?)") }
        return (plaintext, curve)
    }

    private struct ResultLine {
        /// What the program measured it on (`header10`, `dense`, …).
        var config: String
        var metric: String
        var value: Double
    }

    /// Runs a program and returns its `RESULT bench config metric value unit` lines.
    private func run(_ program: String, _ arguments: [String]) throws -> [ResultLine] {
        let output = try ChildProcess.run(binaries.appendingPathComponent(program).path, arguments)
        let lines = output.split(separator: "\n").compactMap { line -> ResultLine? in
            let fields = line.split(separator: " ")
            guard fields.count >= 6, fields[0] == "RESULT", let value = Double(fields[4]) else { return nil }
            return ResultLine(config: String(fields[2]), metric: String(fields[3]), value: value)
        }
        guard !lines.isEmpty else { throw BenchError("\(program) \(arguments.joined(separator: " ")) printed no result: \(output)") }
        return lines
    }
}

/// Runs a program to its end and returns what it printed.
enum ChildProcess {
    static func run(_ path: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw BenchError("\(path) \(arguments.joined(separator: " ")) exited with \(process.terminationStatus): \(text)")
        }
        return text
    }
}

/// A failure of the bench itself (not of zps), with a message for the terminal.
struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
