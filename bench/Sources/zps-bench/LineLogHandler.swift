import Logging

/// Hands each log line of level notice and above to a closure, with no formatting beyond the
/// message: how the bench reads what in-process nodes report (a server's replication traffic at
/// its end, the manager's fail-over) and when they report it.
struct LineLogHandler: LogHandler {
    private let sink: @Sendable (String) -> Void
    var logLevel: Logger.Level = .notice
    var metadata: Logger.Metadata = [:]

    init(_ sink: @escaping @Sendable (String) -> Void) {
        self.sink = sink
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        sink(event.message.description)
    }
}
