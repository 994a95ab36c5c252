/// Finds the known name a misspelt one was probably meant to be, for "did you mean" hints.
enum NameSuggestion {
    /// The candidate closest to `name` by edit distance, if it is close enough to be a likely typo:
    /// about a third of the name's length (at least 1, at most 3) edits away. Failing that, the
    /// only candidate that starts with `name` (at least 3 characters), as in `bounded` for `bounded_delay`.
    static func closest(to name: String, among candidates: [String]) -> String? {
        closestByEdits(to: name, among: candidates) ?? onlyCompletion(of: name, among: candidates)
    }

    private static func onlyCompletion(of name: String, among candidates: [String]) -> String? {
        guard name.count >= 3 else { return nil }
        let completions = candidates.filter { $0.lowercased().hasPrefix(name.lowercased()) }
        return completions.count == 1 ? completions[0] : nil
    }

    private static func closestByEdits(to name: String, among candidates: [String]) -> String? {
        let limit = min(3, max(1, (name.count + 1) / 3))
        var best: (candidate: String, distance: Int)?
        for candidate in candidates {
            let distance = editDistance(name.lowercased(), candidate.lowercased())
            if distance <= limit, distance < (best?.distance ?? Int.max) {
                best = (candidate, distance)
            }
        }
        return best?.candidate
    }

    /// `"; did you mean \"value_length\"?"`, or an empty string when nothing is close.
    static func hint(for name: String, among candidates: [String]) -> String {
        guard let suggestion = closest(to: name, among: candidates) else { return "" }
        return "; did you mean \"\(suggestion)\"?"
    }

    /// The Levenshtein distance, counting a swap of two neighbouring characters as one edit.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previousRow = [Int](repeating: 0, count: b.count + 1)
        var row = Array(0...b.count)
        var twoRowsBack = row
        for i in 1...a.count {
            twoRowsBack = previousRow
            previousRow = row
            row = [Int](repeating: 0, count: b.count + 1)
            row[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                row[j] = min(previousRow[j] + 1, row[j - 1] + 1, previousRow[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    row[j] = min(row[j], twoRowsBack[j - 2] + 1)
                }
            }
        }
        return row[b.count]
    }
}
