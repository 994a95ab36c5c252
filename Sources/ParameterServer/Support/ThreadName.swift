import CSystem

/// Naming threads, so that `top -H`, `ps -L`, `/proc/<pid>/task/*/comm` and profilers tell a node's
/// I/O thread (named after the node, e.g. `server-0`) from libzmq's (numbered after the node, e.g.
/// `1000/ZMQbg/IO/0`, see ``NodeRole/libzmqThreadPrefix(rank:)``) and the rest.
public enum ThreadName {
    /// Names the calling thread; the kernel keeps the first 15 bytes.
    public static func setCurrent(_ name: String) {
        #if os(Linux)
        _ = zps_name_current_thread(name)
        #endif
    }
}
