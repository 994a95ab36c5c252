import Dispatch
import ZeroMQ

/// How long a blocking receive in a test may wait before it returns `nil`, so a broken test fails
/// instead of hanging. Not a timing assertion: every test passes long before it.
let receiveTimeoutMilliseconds: Int32 = 10_000

/// A ROUTER bound to `endpoint` (an ephemeral TCP port by default) and a DEALER with routing id
/// `dealer-1` connected to it; the context is terminated afterwards, also when `body` throws.
func withRouterAndDealer<Result>(
    bindingTo endpoint: String = "tcp://127.0.0.1:0",
    _ body: (borrowing Socket, borrowing Socket) throws -> Result
) throws -> Result {
    let context = try Context()
    let result: Result
    do {
        let router = try Socket(.router, context: context)
        let dealer = try Socket(.dealer, context: context)
        try prepare(router)
        try prepare(dealer)
        try dealer.set(.routingID, to: dealerID)
        let bound = try router.bind(to: endpoint)
        try dealer.connect(to: bound)
        result = try body(router, dealer)
    } catch {
        try context.terminate()
        throw error
    }
    try context.terminate()
    return result
}

/// The routing id the DEALER of ``withRouterAndDealer(bindingTo:_:)`` announces.
let dealerID: [UInt8] = Array("dealer-1".utf8)

/// Linger 0 so termination never waits on a test's leftovers; bounded receives.
func prepare(_ socket: borrowing Socket) throws {
    try socket.set(.linger, to: 0)
    try socket.set(.receiveTimeout, to: receiveTimeoutMilliseconds)
}

/// A frame of `count` bytes whose byte `i` is `(i * 31 + seed) % 251`, so misplaced bytes show.
func patternFrame(count: Int, seed: Int = 7) -> Frame {
    Frame.allocate(count: count) { buffer in
        for index in 0..<count {
            buffer[index] = UInt8(truncatingIfNeeded: (index &* 31 &+ seed) % 251)
        }
    }
}

/// Runs `body` on a new thread and reports whether it finished within `seconds`; a hang guard only.
func finishesOnAnotherThread(within seconds: Double, _ body: @escaping @Sendable () -> Void) -> Bool {
    let done = DispatchSemaphore(value: 0)
    DispatchQueue.global().async {
        body()
        done.signal()
    }
    return done.wait(timeout: .now() + seconds) == .success
}
