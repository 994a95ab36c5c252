/// Replaces the stored value with the pushed one.
public struct AssignUpdater: Updater {
    public let name = "assign"
    public let stateWidth = 0
    /// Creates the updater.
    public init() {}
    @inlinable
    public func update(_ value: inout Float, state: UnsafeMutablePointer<Float>, incoming: Float) {
        value = incoming
    }
    @inlinable
    public func apply(
        values: UnsafeMutablePointer<Float>, state: UnsafeMutablePointer<Float>?,
        incoming: UnsafeRawPointer, count: Int
    ) {
        UnsafeMutableRawPointer(values).copyMemory(from: incoming, byteCount: 4 * count)
    }
}

/// Adds the pushed value to the stored one (the classic gradient-aggregation updater).
public struct AddUpdater: Updater {
    public let name = "add"
    public let stateWidth = 0
    /// Creates the updater.
    public init() {}
    @inlinable
    public func update(_ value: inout Float, state: UnsafeMutablePointer<Float>, incoming: Float) {
        value += incoming
    }
    @inlinable
    public func apply(
        values: UnsafeMutablePointer<Float>, state: UnsafeMutablePointer<Float>?,
        incoming: UnsafeRawPointer, count: Int
    ) {
        for i in 0..<count {
            values[i] += incoming.loadUnaligned(fromByteOffset: 4 * i, as: Float.self)
        }
    }
}
