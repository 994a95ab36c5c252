/// What a worker's pushes, pulls and range functions put on the wire, with and without its
/// communication filters: payload bytes (keys, values and lengths frames; headers not counted).
public struct WorkerTraffic: Sendable {
    /// Requests sent to servers, resends after a key-cache miss included (retries not counted).
    public var requests = 0
    /// Payload bytes of those requests before the filters.
    public var plainBytesSent = 0
    /// Payload bytes of those requests as sent.
    public var bytesSent = 0
    /// Payload bytes of the replies as received.
    public var bytesReceived = 0
    /// Keys of the pushes sent, after the value filters.
    public var pushedKeys = 0
    /// Requests sent again with their keys after a key-cache miss.
    public var keyCacheResends = 0
    /// What each filter stage did.
    public var report = FilterReport()

    /// No traffic yet.
    public init() {}
}
