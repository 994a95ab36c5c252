/// What the manager spent on distributing the node table: messages and bytes, whole tables and
/// changes apart. A client's registration costs a change per server and worker and one whole
/// table of the servers and workers to the client, whatever the number of clients already
/// admitted, and the log line at the end of a job lets a test check that.
public struct TableTraffic: Hashable, Sendable, CustomStringConvertible {
    /// Whole tables sent.
    public var tables = 0
    /// Bytes of the whole tables' messages.
    public var tableBytes = 0
    /// Changes (`nt.base`) sent.
    public var changes = 0
    /// Bytes of the changes' messages.
    public var changeBytes = 0

    /// Counts one message of `bytes`, a change when `isChange`.
    mutating func count(bytes: Int, isChange: Bool) {
        if isChange {
            changes += 1
            changeBytes += bytes
        } else {
            tables += 1
            tableBytes += bytes
        }
    }

    /// `node tables sent: 12 whole (3456 bytes), 40 changes (4000 bytes)`: the form tests read.
    public var description: String {
        "node tables sent: \(tables) whole (\(tableBytes) bytes), \(changes) changes (\(changeBytes) bytes)"
    }
}
