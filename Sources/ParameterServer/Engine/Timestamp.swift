/// The timestamp of a task: its place in the issue order of the node that created it.
///
/// Timestamps are counted **per issuing node, across all of its tables**: a node's ``TaskEngine``
/// hands out 1, 2, 3, … in submission order, whichever table a task addresses. One counter per node
/// (rather than one per table) lets a task depend on a task of another table by timestamp alone and
/// lets `wait(t)` name any task without a table. Servers record the timestamps of applied pushes in
/// their ``VectorClock``s; a node's entries there only ever grow.
///
/// `0` (``none``) means "no task": it is the clock entry of a node whose update was never applied.
/// On the wire a timestamp is the header field `ts` (``Header/timestamp``).
public struct Timestamp: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The position in the issuing node's task order, starting at 1.
    public var rawValue: Int64

    /// Wraps a raw timestamp.
    public init(rawValue: Int64) { self.rawValue = rawValue }

    /// Wraps a raw timestamp.
    public init(_ rawValue: Int64) { self.rawValue = rawValue }

    /// No task; smaller than every issued timestamp.
    public static let none = Timestamp(0)

    /// The first timestamp a node issues.
    public static let first = Timestamp(1)

    /// The timestamp issued right after this one.
    public var next: Timestamp { Timestamp(rawValue + 1) }

    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.rawValue < b.rawValue }

    public var description: String { "t\(rawValue)" }
}
