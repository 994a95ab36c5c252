import CZeroMQ

/// The one place every `zmq_*` call that reports failure as `-1` + `errno` goes through.
///
/// Following the system-call wrapper of SwiftNIO: an interrupted call (`EINTR`) is simply repeated,
/// `EAGAIN` becomes a value where the caller asked for non-blocking behaviour, and anything else
/// becomes a ``ZMQError`` naming the call. The context is an autoclosure so the hot path builds no
/// string unless a call fails.
enum ZMQCall {
    /// Runs `body` until it stops failing with `EINTR`; throws any other failure, `EAGAIN` included.
    @inline(__always)
    @discardableResult
    static func run(
        _ context: @autoclosure () -> String, _ body: () -> Int32
    ) throws(ZMQError) -> Int32 {
        while true {
            let result = body()
            if result != -1 { return result }
            let code = zmq_errno()
            if code == EINTR { continue }
            throw ZMQError(code: code, context: context())
        }
    }

    /// Like ``run(_:_:)``, but returns `nil` when the call would block (`EAGAIN`).
    @inline(__always)
    static func runUnlessWouldBlock(
        _ context: @autoclosure () -> String, _ body: () -> Int32
    ) throws(ZMQError) -> Int32? {
        while true {
            let result = body()
            if result != -1 { return result }
            let code = zmq_errno()
            if code == EINTR { continue }
            if code == EAGAIN { return nil }
            throw ZMQError(code: code, context: context())
        }
    }

    /// Runs a call that returns a handle, or `nil` with `errno` set; retries `EINTR`.
    @inline(__always)
    static func handle(
        _ context: @autoclosure () -> String, _ body: () -> UnsafeMutableRawPointer?
    ) throws(ZMQError) -> UnsafeMutableRawPointer {
        while true {
            if let handle = body() { return handle }
            let code = zmq_errno()
            if code == EINTR { continue }
            throw ZMQError(code: code, context: context())
        }
    }
}
