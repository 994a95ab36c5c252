import ZeroMQ

/// One push or pull of a worker, from submission until it finished: what to send once the
/// ``TaskEngine`` starts it, then the slices in flight and, for a pull, the replies merged in key
/// order with the clocks of what each server read.
///
/// ``Worker`` creates it on the caller's thread and hands it over, untouched from then on, in the
/// work it queues for the I/O thread, which alone uses it after that: hence `@unchecked Sendable`.
final class WorkerTask: @unchecked Sendable {
    /// A push or pull as the application submitted it.
    struct Request {
        var kind: MessageKind
        var table: TableSpec
        var keys: [UInt64]
        var values: [Float]?
        var updater: String?
        var iteration: Int64?
        var wantClock: Bool
        var pull: PendingPull?
        /// The key range of a range function (its name is `updater`).
        var range: KeyRange? = nil
        /// The arguments of a range function.
        var arguments: [Double]? = nil
        /// A push of what the significantly-modified filter held back: not filtered again.
        var bypassesValueFilters = false
        /// A pull whose result keeps the reply frames instead of copying them into an array.
        var readsInPlace = false
    }

    /// Set once, when ``Worker`` issues it (``issue(_:pull:)``), before the task is queued.
    private(set) var timestamp: Timestamp
    let kind: MessageKind
    /// The table's id.
    let table: UInt32
    /// The iteration of a `bsp` task.
    let iteration: Int64?
    let valueLength: Int
    let keyCount: Int
    /// A pull whose result reads the reply frames in place (``PulledFloats``).
    let readsInPlace: Bool
    /// Until the engine starts the task.
    var request: Request?
    /// Set when the task starts.
    var deadline: ContinuousClock.Instant?
    /// Slices not answered yet.
    var remaining = 0
    /// Per slice: its number of keys, the positions of its keys in the request (ascending runs), and,
    /// once its pull reply arrived, the values, merged in key order when the last arrives.
    var sliceParts: [(keyCount: Int, runs: [Range<Int>], values: Frame?)] = []
    /// The minimum of the clocks received so far; `clockMissing` once a server sent none.
    private var clock: [Int64]?
    private var clockMissing = false
    var pull: PendingPull?
    /// The caller of ``Worker/wait(_:)``, the usual single waiter, kept without a closure.
    var waiting: UnsafeContinuation<Void, any Error>?
    /// Other waiters: callbacks, ``Worker/waitForAll()``, a second `wait`.
    var waiters: [(RequestError?) -> Void] = []
    var error: RequestError?

    /// A task not issued yet: ``Worker`` moves the request in before it takes its issue lock, then
    /// gives it its timestamp under the lock.
    convenience init(request: consuming Request) {
        self.init(timestamp: .none, request: request)
    }

    init(timestamp: Timestamp, request: consuming Request) {
        self.timestamp = timestamp
        kind = request.kind
        table = request.table.id
        iteration = request.iteration
        valueLength = request.table.valueLength
        keyCount = request.keys.count
        readsInPlace = request.readsInPlace
        pull = request.pull
        self.request = request
    }

    /// Gives the task its timestamp, and a pull its pending result.
    func issue(_ timestamp: Timestamp, pull: PendingPull?) {
        self.timestamp = timestamp
        if let pull { self.pull = pull }
    }

    /// Keeps the values and clock of slice `slice`'s pull reply.
    func received(values: Frame?, clock sliceClock: [Int64]?, slice: Int) {
        sliceParts[slice].values = values
        merge(clock: sliceClock)
    }

    /// Per slice sent again in parts after a fail-over (its keys now on several servers): the
    /// values of the parts answered so far, with the positions of their keys in the slice.
    private var partValues: [Int: [(runs: [Range<Int>], values: Frame)?]] = [:]

    /// Keeps part `part` of `parts` of slice `slice`'s pull reply, whose keys are those at `runs` of
    /// the slice; once every part is in, the slice's values are the parts' put back in key order.
    func received(values: Frame?, clock sliceClock: [Int64]?, slice: Int, part: Int, of parts: Int, runs: [Range<Int>]) {
        var list = partValues.removeValue(forKey: slice) ?? Array(repeating: nil, count: parts)
        list[part] = (runs, values ?? Frame())
        merge(clock: sliceClock)
        guard list.allSatisfy({ $0 != nil }) else {
            partValues[slice] = list
            return
        }
        let width = valueLength
        sliceParts[slice].values = Frame.allocate(count: 4 * width * sliceParts[slice].keyCount) { output in
            for case let (runs, frame)? in list {
                Self.scatter(frame, runs: runs, width: width, into: output)
            }
        }
    }

    /// Copies the values of `frame`, those of the keys at `runs` one after another, to those
    /// positions of `output` (`width` floats per key).
    private static func scatter(_ frame: Frame, runs: [Range<Int>], width: Int, into output: UnsafeMutableRawBufferPointer) {
        frame.withUnsafeBytes { input in
            var offset = 0
            for run in runs where !run.isEmpty {
                let bytes = 4 * width * run.count
                (output.baseAddress! + 4 * width * run.lowerBound).copyMemory(from: input.baseAddress! + offset, byteCount: bytes)
                offset += bytes
            }
        }
    }

    private func merge(clock sliceClock: [Int64]?) {
        if let sliceClock {
            clock = clock.map { Self.minimum($0, sliceClock) } ?? sliceClock
        } else {
            clockMissing = true
        }
    }

    /// The pull's values in key order and, when every server sent one, the combined clock.
    func pulledValues() -> PulledValues {
        let clock = clockMissing ? nil : clock
        if readsInPlace {
            // Every slice's reply was checked to hold its values (an empty frame for no keys).
            return PulledValues(floats: PulledFloats(inPlaceParts()), clock: clock, timestamp: timestamp)
        }
        let width = valueLength
        let total = keyCount * width
        let values = [Float](unsafeUninitializedCapacity: total) { buffer, initialized in
            let output = UnsafeMutableRawBufferPointer(buffer)
            for (keys, runs, frame) in sliceParts where keys > 0 {
                if let frame { Self.scatter(frame, runs: runs, width: width, into: output) }
            }
            initialized = total
        }
        return PulledValues(values: values, clock: clock, timestamp: timestamp)
    }

    /// The parts of the reply frames in key order, one per run of a slice: each a frame, the floats
    /// to skip at its start and the floats to read.
    private func inPlaceParts() -> [(frame: Frame, skip: Int, count: Int)] {
        let width = valueLength
        var parts: [(position: Int, part: (frame: Frame, skip: Int, count: Int))] = []
        parts.reserveCapacity(sliceParts.count)
        for (_, runs, frame) in sliceParts {
            var skip = 0
            for run in runs where !run.isEmpty {
                parts.append((run.lowerBound, (frame ?? Frame(), skip, run.count * width)))
                skip += run.count * width
            }
        }
        // Slices each of one run come in key order already: the usual case sorts nothing.
        if !parts.indices.dropFirst().allSatisfy({ parts[$0 - 1].position < parts[$0].position }) {
            parts.sort { $0.position < $1.position }
        }
        return parts.map(\.part)
    }

    /// The elementwise minimum of two servers' clocks; a server whose clock is shorter has not heard
    /// from the nodes beyond it, so their entries count as 0.
    static func minimum(_ a: [Int64], _ b: [Int64]) -> [Int64] {
        guard a.count != b.count else { return VectorClock.elementwiseMinimum(a, b) }
        let (short, long) = a.count < b.count ? (a, b) : (b, a)
        return VectorClock.elementwiseMinimum(short, Array(long.prefix(short.count)))
            + Array(repeating: 0, count: long.count - short.count)
    }
}
