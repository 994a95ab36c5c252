import Foundation

/// An SVG chart of push and pull keys/s against keys per request (log-log), zps as solid lines and
/// the C reference dashed in the same colour, one pair per requests-in-flight setting.
enum ResultPlot {
    static func svg(_ rows: [ResultRow], title: String) -> String? {
        let plotted = rows.filter { $0.requestSize != nil && $0.unit == "keys/s" }
        guard !plotted.isEmpty else { return nil }
        struct Series { var name: String; var colour: String; var dashed: Bool; var points: [(Double, Double)] }
        let palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
        var series: [Series] = []
        let groups = Dictionary(grouping: plotted) { "\($0.metric), \($0.parameters["inflight"] ?? "1") in flight" }
        for (index, key) in groups.keys.sorted().enumerated() {
            let group = groups[key]!.sorted { $0.requestSize! < $1.requestSize! }
            let colour = palette[index % palette.count]
            series.append(Series(
                name: "zps " + key, colour: colour, dashed: false,
                points: group.map { (Double($0.requestSize!), $0.median) }))
            let reference = group.compactMap { row in row.referenceMedian.map { (Double(row.requestSize!), $0) } }
            if !reference.isEmpty {
                series.append(Series(name: "C " + key, colour: colour, dashed: true, points: reference))
            }
        }
        let xs = series.flatMap { $0.points.map(\.0) }
        let ys = series.flatMap { $0.points.map(\.1) }
        let (xLow, xHigh) = (floor(log10(xs.min()!)), max(ceil(log10(xs.max()!)), floor(log10(xs.min()!)) + 1))
        let (yLow, yHigh) = (floor(log10(ys.min()!)), max(ceil(log10(ys.max()!)), floor(log10(ys.min()!)) + 1))
        let (left, top, width, height) = (80.0, 40.0, 560.0, 380.0)
        func x(_ value: Double) -> Double { left + (log10(value) - xLow) / (xHigh - xLow) * width }
        func y(_ value: Double) -> Double { top + height - (log10(value) - yLow) / (yHigh - yLow) * height }
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="960" height="480" font-family="sans-serif" font-size="12">
            <rect width="960" height="480" fill="white"/>
            <text x="\(left)" y="24" font-size="15">\(title)</text>
            <rect x="\(left)" y="\(top)" width="\(width)" height="\(height)" fill="none" stroke="#444"/>

            """
        for decade in Int(xLow)...Int(xHigh) {
            let position = x(pow(10, Double(decade)))
            svg += "<line x1=\"\(position)\" y1=\"\(top)\" x2=\"\(position)\" y2=\"\(top + height)\" stroke=\"#ddd\"/>"
            svg += "<text x=\"\(position)\" y=\"\(top + height + 16)\" text-anchor=\"middle\">\(decadeLabel(decade))</text>\n"
        }
        for decade in Int(yLow)...Int(yHigh) {
            let position = y(pow(10, Double(decade)))
            svg += "<line x1=\"\(left)\" y1=\"\(position)\" x2=\"\(left + width)\" y2=\"\(position)\" stroke=\"#ddd\"/>"
            svg += "<text x=\"\(left - 6)\" y=\"\(position + 4)\" text-anchor=\"end\">\(decadeLabel(decade))</text>\n"
        }
        svg += "<text x=\"\(left + width / 2)\" y=\"\(top + height + 36)\" text-anchor=\"middle\">keys per request</text>\n"
        svg += "<text transform=\"translate(20 \(top + height / 2)) rotate(-90)\" text-anchor=\"middle\">keys/s (median)</text>\n"
        for (index, line) in series.enumerated() {
            let path = line.points.map { String(format: "%.1f,%.1f", x($0.0), y($0.1)) }.joined(separator: " ")
            let dash = line.dashed ? " stroke-dasharray=\"6 4\"" : ""
            svg += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(line.colour)\" stroke-width=\"2\"\(dash)/>\n"
            for point in line.points {
                svg += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%@\"/>", x(point.0), y(point.1), line.colour)
            }
            let legendY = top + 14 + Double(index) * 18
            svg += "<line x1=\"660\" y1=\"\(legendY - 4)\" x2=\"690\" y2=\"\(legendY - 4)\" stroke=\"\(line.colour)\" stroke-width=\"2\"\(dash)/>"
            svg += "<text x=\"696\" y=\"\(legendY)\">\(line.name)</text>\n"
        }
        svg += "</svg>\n"
        return svg
    }

    private static func decadeLabel(_ decade: Int) -> String {
        switch decade {
        case ..<3: return String(Int(pow(10, Double(decade))))
        case 3..<6: return "\(Int(pow(10, Double(decade - 3))))K"
        case 6..<9: return "\(Int(pow(10, Double(decade - 6))))M"
        default: return "\(Int(pow(10, Double(decade - 9))))G"
        }
    }
}
