#if canImport(Glibc)
import Glibc
#endif

/// The host part of a `tcp://HOST:PORT` endpoint, and whether the name resolves: libzmq resolves a
/// name only when it connects, and retries a name that does not resolve without a word, so a node
/// asks first and can say why it cannot reach a peer.
public enum EndpointHost {
    /// The host of a `tcp://HOST:PORT` endpoint (without the brackets of an IPv6 address), or `nil`
    /// for other transports.
    public static func host(of endpoint: String) -> String? {
        guard endpoint.hasPrefix("tcp://"), let colon = endpoint.lastIndex(of: ":") else { return nil }
        var host = endpoint[endpoint.index(endpoint.startIndex, offsetBy: 6)..<colon]
        if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        return host.isEmpty ? nil : String(host)
    }

    /// `nil` when `host` resolves to an address (an address resolves to itself), else the
    /// resolver's reason, e.g. `Name or service not known`.
    public static func resolutionFailure(of host: String) -> String? {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &result)
        if let result { freeaddrinfo(result) }
        guard status != 0 else { return nil }
        return String(cString: gai_strerror(status))
    }
}

extension EndpointHost {
    /// Whether `endpoint` reaches only this machine: `inproc://`, `ipc://`, or `tcp://` on a
    /// loopback address (`127.0.0.0/8`, `::1`, `localhost`, the `lo` interface).
    public static func isLoopback(endpoint: String) -> Bool {
        if endpoint.hasPrefix("inproc://") || endpoint.hasPrefix("ipc://") { return true }
        guard let host = host(of: endpoint) else { return false }
        return isLoopback(host: host)
    }

    /// Whether `host` names the loopback interface: `127.0.0.0/8`, `::1`, `localhost` or `lo`.
    public static func isLoopback(host: String) -> Bool {
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        if octets.count == 4, octets[0] == "127", octets.allSatisfy({ UInt8($0) != nil }) { return true }
        return ["::1", "localhost", "lo"].contains(host.lowercased())
    }
}
