import ZeroMQ

/// Pushes only the entries whose accumulated change is significant; the rest accumulate locally
/// and go out once they are (or with ``flush()``).
///
/// For one table on one worker. A key's pending change is the sum of everything pushed for it and
/// not yet sent; an entry is sent, and its pending change cleared, when any of its floats exceeds
/// the threshold in magnitude. Nothing is lost: the sum of what the server receives plus what is
/// pending always equals the sum of what was pushed.
public struct SignificantlyModifiedFilter: Sendable {
    /// The magnitude an accumulated change must exceed to be sent.
    public let threshold: Float
    /// Floats per key.
    public var valueLength: Int { pending.valueLength }
    /// The changes held back.
    var pending: PendingChanges

    /// Creates the filter for a table with `valueLength` floats per key.
    public init(threshold: Float, valueLength: Int) {
        self.threshold = threshold
        self.pending = PendingChanges(valueLength: valueLength)
    }

    /// Keys with a pending change.
    public var pendingKeyCount: Int { pending.count }

    /// The push with insignificant entries held back and earlier pending changes added to the rest.
    /// Other messages, and pushes with per-key lengths, pass unchanged.
    public mutating func filter(_ message: Message) -> Message {
        let threshold = self.threshold
        return ValueFilterPass.run(message, valueLength: valueLength, pending: &pending) { _, _, sum in
            !sum.contains { abs($0) > threshold }
        }
    }

    /// Every pending change (sorted by key), clearing them; `nil` when nothing is pending.
    public mutating func flush() -> (keys: [UInt64], values: [Float])? {
        pending.flush()
    }
}
