/// The report as a plain-text table for the terminal.
enum ResultTable {
    static func render(_ rows: [ResultRow]) -> String {
        let header = ["scenario", "shape", "metric", "zps", "C", "zps/C"]
        let body = rows.map { row in
            [
                row.scenario, row.shape, row.metric, format(row.median, row.unit),
                row.referenceMedian.map { format($0, row.unit) } ?? "-",
                row.ratio.map { String(format: "%.2fx", $0) } ?? "-",
            ]
        }
        return align(header: header, body: body, rightAligned: 3...5)
    }

    /// `header` and `body` in columns padded to their widest cell, with a rule under the header;
    /// the columns in `rightAligned` (figures) are aligned right.
    static func align(header: [String], body: [[String]], rightAligned: ClosedRange<Int>) -> String {
        let widths = header.indices.map { column in
            ([header] + body).map { $0[column].count }.max()!
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { column, cell in
                let padding = String(repeating: " ", count: widths[column] - cell.count)
                return rightAligned.contains(column) ? padding + cell : cell + padding
            }.joined(separator: "  ")
        }
        let rule = widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")
        return ([line(header), rule] + body.map(line)).joined(separator: "\n")
    }

    /// A figure with an SI prefix for rates (`12.3 M keys/s`) and plain for the rest.
    static func format(_ value: Double, _ unit: String) -> String {
        switch unit {
        case "keys/s":
            if value >= 1e6 { return String(format: "%.1f M/s", value / 1e6) }
            return String(format: "%.0f k/s", value / 1e3)
        case "us": return String(format: "%.0f us", value)
        case "ex/s": return String(format: "%.1f k/s", value / 1e3)
        case "us/ex": return String(format: "%.2f us", value)
        case "AUC", "logloss": return String(format: "%.4f", value)
        case "GB/s": return String(format: "%.2f GB/s", value)
        default: return String(format: "%.3g %@", value, unit)
        }
    }
}
