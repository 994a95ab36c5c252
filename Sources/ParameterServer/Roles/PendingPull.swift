import Synchronization

/// What a pull returns: the values, and the vector clock of what it read when it asked for one.
public struct PulledValues: Sendable {
    /// An array, or, for a pull made to read in place, the reply frames.
    private enum Storage: Sendable {
        case array([Float])
        case inPlace(PulledFloats)
    }

    private var storage: Storage

    /// `valueLength` floats per requested key, in key order. For a pull that reads in place
    /// (``Worker/submitPull(table:keys:consistency:after:iteration:wantClock:inPlace:)``) every
    /// access copies them out of the frames: read ``floats`` there instead.
    public var values: [Float] {
        get {
            switch storage {
            case .array(let values): values
            case .inPlace(let floats): floats.array
            }
        }
        set { storage = .array(newValue) }
    }

    /// The same floats without a copy: in the reply frames for a pull that reads in place, around
    /// the array otherwise.
    public var floats: PulledFloats {
        switch storage {
        case .array(let values): PulledFloats(values)
        case .inPlace(let floats): floats
        }
    }

    /// The elementwise minimum of the clocks of every server the pull read (one entry per node id),
    /// or `nil` when the pull did not ask for it or a server keeps none.
    public var clock: [Int64]?
    /// The pull's task timestamp.
    public var timestamp: Timestamp

    /// Creates a pull result.
    public init(values: [Float], clock: [Int64]?, timestamp: Timestamp) {
        self.storage = .array(values)
        self.clock = clock
        self.timestamp = timestamp
    }

    /// A pull result read in place.
    init(floats: PulledFloats, clock: [Int64]?, timestamp: Timestamp) {
        self.storage = .inPlace(floats)
        self.clock = clock
        self.timestamp = timestamp
    }
}

/// A pull that has been submitted and may not have finished: lets a worker keep several pulls in
/// flight and use the newest one that finished (``result``), or wait for one (``values()``).
public final class PendingPull: Sendable {
    /// The pull's task timestamp.
    public let timestamp: Timestamp

    /// Unchecked continuations: every pull waits here, and `finish` resumes each exactly once.
    private typealias Waiter = UnsafeContinuation<PulledValues, any Error>

    private enum State {
        case waiting
        /// The usual case, one task waiting, without an array.
        case waitingOne(Waiter)
        case waitingMany([Waiter])
        case finished(Result<PulledValues, any Error>)
    }

    private let state = Mutex<State>(.waiting)

    init(timestamp: Timestamp) {
        self.timestamp = timestamp
    }

    /// The outcome once the pull finished, `nil` before; never waits.
    public var result: Result<PulledValues, any Error>? {
        state.withLock { state in
            if case .finished(let result) = state { return result }
            return nil
        }
    }

    /// Whether the pull has finished (succeeded or failed).
    public var isFinished: Bool { result != nil }

    /// Waits for the pull and returns its values and clock; throws its error.
    public func values() async throws -> PulledValues {
        if let result { return try result.get() }
        return try await withUnsafeThrowingContinuation { continuation in
            let finished = state.withLock { state -> Result<PulledValues, any Error>? in
                switch state {
                case .finished(let result):
                    return result
                case .waiting:
                    state = .waitingOne(continuation)
                case .waitingOne(let first):
                    state = .waitingMany([first, continuation])
                case .waitingMany(var waiters):
                    state = .waiting  // drops the array's reference, so that the append does not copy it
                    waiters.append(continuation)
                    state = .waitingMany(waiters)
                }
                return nil
            }
            if let finished { continuation.resume(with: finished) }
        }
    }

    /// Records the outcome and resumes every waiter; later calls are ignored.
    func finish(_ result: Result<PulledValues, any Error>) {
        let previous = state.withLock { state -> State in
            if case .finished = state { return state }
            defer { state = .finished(result) }
            return state
        }
        switch previous {
        case .waitingOne(let waiter): waiter.resume(with: result)
        case .waitingMany(let waiters): for waiter in waiters { waiter.resume(with: result) }
        case .waiting, .finished: break
        }
    }
}
