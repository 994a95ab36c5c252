import CSystem
#if canImport(Glibc)
import Glibc
#endif

/// Keeping a thread on one CPU.
///
/// A node's I/O thread hands every message to and from libzmq's I/O thread; when both stay on one
/// CPU those hand-offs need no wake-up of another CPU and find the message in that CPU's cache.
/// Where several nodes share a host, giving each its own CPU (the topology's `cpus`) keeps them
/// from being moved onto each other's.
public enum ThreadAffinity {
    /// Restricts the calling thread to `cpu` (0-based, as `/proc/cpuinfo` numbers them).
    public static func pinCurrentThread(to cpu: Int) throws(ThreadAffinityError) {
        #if os(Linux)
        guard let value = Int32(exactly: cpu), zps_pin_current_thread(value) == 0 else {
            throw ThreadAffinityError(cpu: cpu, code: errno)
        }
        #else
        throw ThreadAffinityError(cpu: cpu, code: ENOSYS)
        #endif
    }

    /// The CPU the calling thread is restricted to, or `nil` when it may run on several.
    public static var currentThreadCPU: Int? {
        #if os(Linux)
        let cpu = zps_current_thread_cpu()
        return cpu >= 0 ? Int(cpu) : nil
        #else
        return nil
        #endif
    }

    /// The number of CPUs online on this host.
    public static var onlineCPUs: Int { max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))) }
}

/// A thread could not be kept on the CPU asked for.
public struct ThreadAffinityError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The CPU asked for.
    public var cpu: Int
    /// The `errno` of `sched_setaffinity`.
    public var code: Int32

    public var description: String {
        if code == EINVAL {
            return "CPU \(cpu) is not available on this host (it has CPUs 0-\(ThreadAffinity.onlineCPUs - 1))"
        }
        return "cannot keep a thread on CPU \(cpu): \(String(cString: strerror(code)))"
    }
}
