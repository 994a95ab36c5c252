import Foundation

/// An SVG chart of the `failover` scenario: fail-over time p50 and p99 and detection p50 (ms,
/// linear) against keys per server (log), with the 300 ms target and the heartbeat timeout.
enum FailoverPlot {
    static func svg(_ rows: [ResultRow]) -> String? {
        let series: [(metric: String, colour: String, dashed: Bool)] = [
            ("fail-over p99 ms", "#d62728", false), ("fail-over p50 ms", "#1f77b4", false),
            ("detection p50 ms", "#2ca02c", true),
        ]
        func points(_ metric: String) -> [(Double, Double)] {
            rows.filter { $0.metric == metric }
                .compactMap { row in row.parameters["keys_per_server"].flatMap(Double.init).map { ($0, row.median) } }
                .sorted { $0.0 < $1.0 }
        }
        let plotted = series.map { (line: $0, points: points($0.metric)) }.filter { !$0.points.isEmpty }
        guard !plotted.isEmpty else { return nil }
        let timeout = rows.lazy.compactMap { $0.parameters["heartbeat_timeout"] }.first ?? "?"
        let stop = rows.lazy.compactMap { $0.parameters["stop"] }.first ?? "kill -9"
        let xs = plotted.flatMap { $0.points.map(\.0) }
        let (xLow, xHigh) = (floor(log10(xs.min()!)), max(ceil(log10(xs.max()!)), floor(log10(xs.min()!)) + 1))
        let yHigh = max(400, (plotted.flatMap { $0.points.map(\.1) }.max()! / 100).rounded(.up) * 100)
        let (left, top, width, height) = (80.0, 40.0, 560.0, 380.0)
        func x(_ value: Double) -> Double { left + (log10(value) - xLow) / (xHigh - xLow) * width }
        func y(_ value: Double) -> Double { top + height - value / yHigh * height }
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="960" height="480" font-family="sans-serif" font-size="12">
            <rect width="960" height="480" fill="white"/>
            <text x="\(left)" y="24" font-size="15">zps fail-over: \(stop) of 1 of 3 servers (replication 1), heartbeat timeout \(timeout)</text>
            <rect x="\(left)" y="\(top)" width="\(width)" height="\(height)" fill="none" stroke="#444"/>

            """
        for decade in Int(xLow)...Int(xHigh) {
            let position = x(pow(10, Double(decade)))
            svg += "<line x1=\"\(position)\" y1=\"\(top)\" x2=\"\(position)\" y2=\"\(top + height)\" stroke=\"#ddd\"/>"
            svg += "<text x=\"\(position)\" y=\"\(top + height + 16)\" text-anchor=\"middle\">10^\(decade)</text>\n"
        }
        for step in stride(from: 0.0, through: yHigh, by: 100) {
            svg += "<line x1=\"\(left)\" y1=\"\(y(step))\" x2=\"\(left + width)\" y2=\"\(y(step))\" stroke=\"#ddd\"/>"
            svg += "<text x=\"\(left - 6)\" y=\"\(y(step) + 4)\" text-anchor=\"end\">\(Int(step))</text>\n"
        }
        svg += "<line x1=\"\(left)\" y1=\"\(y(300))\" x2=\"\(left + width)\" y2=\"\(y(300))\" stroke=\"#888\" stroke-dasharray=\"2 3\"/>"
        svg += "<text x=\"\(left + width - 4)\" y=\"\(y(300) - 4)\" text-anchor=\"end\" fill=\"#888\">target p99 300 ms</text>\n"
        svg += "<text x=\"\(left + width / 2)\" y=\"\(top + height + 36)\" text-anchor=\"middle\">keys per server</text>\n"
        svg += "<text transform=\"translate(20 \(top + height / 2)) rotate(-90)\" text-anchor=\"middle\">ms from \(stop)</text>\n"
        for (index, entry) in plotted.enumerated() {
            let path = entry.points.map { String(format: "%.1f,%.1f", x($0.0), y($0.1)) }.joined(separator: " ")
            let dash = entry.line.dashed ? " stroke-dasharray=\"6 4\"" : ""
            svg += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(entry.line.colour)\" stroke-width=\"2\"\(dash)/>\n"
            for point in entry.points {
                svg += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%@\"/>", x(point.0), y(point.1), entry.line.colour)
            }
            let legendY = top + 14 + Double(index) * 18
            svg += "<line x1=\"660\" y1=\"\(legendY - 4)\" x2=\"690\" y2=\"\(legendY - 4)\" stroke=\"\(entry.line.colour)\" stroke-width=\"2\"\(dash)/>"
            svg += "<text x=\"696\" y=\"\(legendY)\">\(entry.line.metric)</text>\n"
        }
        svg += "</svg>\n"
        return svg
    }
}
