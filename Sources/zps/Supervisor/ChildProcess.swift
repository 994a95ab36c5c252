import Foundation
import ParameterServer

#if canImport(Glibc)
import Glibc
#endif

/// A child process started with `posix_spawn`, in its own process group, its standard output and
/// standard error connected to pipes the supervisor reads.
final class ChildProcess {
    /// The node's name, e.g. `server-1`.
    let name: String
    let pid: pid_t
    /// Read ends of the child's standard output and standard error (non-blocking).
    let stdoutFD: Int32
    let stderrFD: Int32
    /// The exit status once reaped.
    private(set) var status: Status?

    enum Status: Equatable, CustomStringConvertible {
        case exited(Int32)
        case signaled(Int32)

        var succeeded: Bool { self == .exited(0) }
        /// The node was fine: the manager stopped it because the job failed elsewhere, and reports why.
        var stoppedForJobFailure: Bool { self == .exited(NodeFailure.jobFailedElsewhereExitStatus) }

        var description: String {
            switch self {
            case .exited(let code): return "exited with status \(code)"
            case .signaled(let signal): return "was killed by signal \(signal) (\(Self.signalName(signal)))"
            }
        }

        private static func signalName(_ signal: Int32) -> String {
            switch signal {
            case SIGKILL: return "SIGKILL"
            case SIGTERM: return "SIGTERM"
            case SIGINT: return "SIGINT"
            case SIGSEGV: return "SIGSEGV"
            case SIGABRT: return "SIGABRT"
            case SIGBUS: return "SIGBUS"
            case SIGILL: return "SIGILL"
            case SIGTRAP: return "SIGTRAP"
            default: return "signal \(signal)"
            }
        }
    }

    /// Starts `executable` with `arguments`.
    init(name: String, executable: String, arguments: [String]) throws {
        self.name = name
        var outPipe: [Int32] = [0, 0]
        var errPipe: [Int32] = [0, 0]
        guard pipe(&outPipe) == 0, pipe(&errPipe) == 0 else {
            throw SupervisorError("could not create pipes for \(name): \(String(cString: strerror(errno)))")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        for fd in outPipe + errPipe { posix_spawn_file_actions_addclose(&actions, fd) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Its own process group: a Ctrl-C reaches only the supervisor, which stops the children in order.
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var childPID: pid_t = 0
        let result = posix_spawn(&childPID, executable, &actions, &attributes, argv, environ)
        close(outPipe[1])
        close(errPipe[1])
        guard result == 0 else {
            close(outPipe[0])
            close(errPipe[0])
            throw SupervisorError("could not start \(name) (\(executable)): \(String(cString: strerror(result)))")
        }
        pid = childPID
        stdoutFD = outPipe[0]
        stderrFD = errPipe[0]
        for fd in [stdoutFD, stderrFD] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
    }

    /// Reaps the child if it has exited; returns its status then.
    @discardableResult
    func poll() -> Status? {
        if let status { return status }
        var raw: Int32 = 0
        let result = waitpid(pid, &raw, WNOHANG)
        guard result == pid else { return nil }
        let signal = raw & 0x7f
        status = signal == 0 ? .exited((raw >> 8) & 0xff) : .signaled(signal)
        return status
    }

    /// Whether the child is stopped (SIGSTOP, SIGTSTP, a debugger): alive, but it answers nothing
    /// and sends no heartbeats, so its peers time out on it.
    var isStopped: Bool {
        guard status == nil, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")")
        else { return false }
        let state = stat[close...].dropFirst(2).first
        return state == "T" || state == "t"
    }

    /// Sends `signal` to the child unless it has been reaped.
    func send(_ signal: Int32) {
        guard status == nil else { return }
        kill(pid, signal)
    }

    deinit {
        close(stdoutFD)
        close(stderrFD)
    }
}

/// A failure of `zps run` itself.
struct SupervisorError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
