/// Slurm's compressed host lists, as in `SLURM_STEP_NODELIST`: `node[01-04,07],login1`.
public enum SlurmHostList {
    /// The first host a list names (`node01` for `node[01-04,07],login1`), keeping the digits'
    /// zero padding; `nil` for an empty or malformed list.
    public static func first(of list: String) -> String? {
        // The first entry ends at the first comma outside brackets.
        var depth = 0
        var end = list.endIndex
        for index in list.indices {
            switch list[index] {
            case "[": depth += 1
            case "]": depth -= 1
            case "," where depth == 0: end = index
            default: continue
            }
            if end != list.endIndex { break }
        }
        var rest = list[..<end]
        guard !rest.isEmpty else { return nil }
        // Each bracketed group contributes its first number: `rack[3,5]-n[1-2]` → `rack3-n1`.
        var host = ""
        while let open = rest.firstIndex(of: "[") {
            guard let close = rest[open...].firstIndex(of: "]") else { return nil }
            let firstNumber = rest[rest.index(after: open)..<close].prefix { $0 != "," && $0 != "-" }
            guard !firstNumber.isEmpty, firstNumber.allSatisfy(\.isNumber) else { return nil }
            host += rest[..<open] + firstNumber
            rest = rest[rest.index(after: close)...]
        }
        guard !rest.contains("]") else { return nil }
        return host + rest
    }
}
