/// Order statistics of measured figures.
enum Statistics {
    /// The middle figure (the upper one of an even count); nil for no figures.
    static func median(_ values: [Double]) -> Double? {
        percentile(values, 0.5)
    }

    /// The `fraction` percentile by the nearest-rank rule `ps_bench` uses (index ⌊count × fraction⌋).
    static func percentile(_ values: [Double], _ fraction: Double) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]
    }
}

extension Duration {
    /// The duration in seconds.
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) * 1e-18
    }
}
