import ZeroMQ

extension RequestSlicer {
    /// The parts of `range` each server holds, one slice per server range it overlaps, in key order;
    /// for a range function, which names a range instead of keys (docs/PROTOCOL.md section 14).
    func slices(of range: KeyRange) -> [Slice] {
        routes.compactMap { route in
            let part = route.range.intersection(range)
            guard !part.isEmpty else { return nil }
            return Slice(server: route.server, keys: Frame(array: [UInt64]()), values: nil, keyCount: 0, range: part)
        }
    }
}
