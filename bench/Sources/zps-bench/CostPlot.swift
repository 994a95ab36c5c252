import Foundation

/// An SVG chart of the `cost` scenario: examples/s of each learner as a bar (medians, every run as
/// a dot), with its CPU per example, test AUC and log-loss written under it.
enum CostPlot {
    static func svg(_ rows: [ResultRow], shapes: [String]) -> String? {
        func row(_ shape: String, _ metric: String) -> ResultRow? {
            rows.first { $0.shape == shape && $0.metric == metric }
        }
        let bars = shapes.compactMap { shape in row(shape, "examples/s").map { (shape: shape, rate: $0) } }
        guard !bars.isEmpty else { return nil }
        let highest = bars.flatMap { [$0.rate.median] + $0.rate.runs }.max()!
        let step = highest > 400_000 ? 100_000.0 : 50_000.0
        let yHigh = max(step, (highest / step).rounded(.up) * step)
        let (left, top, width, height) = (90.0, 40.0, 780.0, 340.0)
        let slot = width / Double(bars.count)
        func y(_ value: Double) -> Double { top + height - value / yHigh * height }
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="960" height="540" font-family="sans-serif" font-size="12">
            <rect width="960" height="540" fill="white"/>
            <text x="\(left)" y="24" font-size="15">Sparse LR, 1M synthetic Criteo rows, 2 epochs: zps against Vowpal Wabbit (one process)</text>
            <rect x="\(left)" y="\(top)" width="\(width)" height="\(height)" fill="none" stroke="#444"/>

            """
        for tick in stride(from: 0.0, through: yHigh, by: step) {
            svg += "<line x1=\"\(left)\" y1=\"\(y(tick))\" x2=\"\(left + width)\" y2=\"\(y(tick))\" stroke=\"#ddd\"/>"
            svg += "<text x=\"\(left - 6)\" y=\"\(y(tick) + 4)\" text-anchor=\"end\">\(Int(tick / 1000))k</text>\n"
        }
        svg += "<text transform=\"translate(24 \(top + height / 2)) rotate(-90)\" text-anchor=\"middle\">training examples/s (median; dots: runs)</text>\n"
        for (index, bar) in bars.enumerated() {
            let centre = left + slot * (Double(index) + 0.5)
            let colour = index == 0 ? "#7f7f7f" : "#1f77b4"
            svg += String(
                format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%@\"/>\n",
                centre - slot * 0.3, y(bar.rate.median), slot * 0.6, top + height - y(bar.rate.median), colour)
            for run in bar.rate.runs {
                svg += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#d62728\"/>", centre, y(run))
            }
            svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.0fk/s</text>\n", centre, y(bar.rate.median) - 6, bar.rate.median / 1000)
            var lines = wrap(bar.shape, width: 20)
            if let cpu = row(bar.shape, "CPU per example") { lines.append(String(format: "CPU %.2f us/ex", cpu.median)) }
            if let auc = row(bar.shape, "test AUC"), let loss = row(bar.shape, "test logloss") {
                lines.append(String(format: "AUC %.4f", auc.median))
                lines.append(String(format: "logloss %.4f", loss.median))
            }
            if let ratio = row(bar.shape + " / VW", "examples/s zps/VW") { lines.append(String(format: "%.2fx VW", ratio.median)) }
            for (line, text) in lines.enumerated() {
                svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"10\">%@</text>\n", centre, top + height + 18 + Double(line) * 13, text)
            }
        }
        svg += "</svg>\n"
        return svg
    }

    /// `text` in lines of at most about `width` characters, broken between words.
    static func wrap(_ text: String, width: Int) -> [String] {
        var lines: [String] = []
        for word in text.split(separator: " ") {
            if let last = lines.last, last.count + 1 + word.count <= width {
                lines[lines.count - 1] = last + " " + word
            } else {
                lines.append(String(word))
            }
        }
        return lines
    }
}
