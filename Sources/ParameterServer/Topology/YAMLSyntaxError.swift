import Yams

extension TopologyError {
    /// Translates what libyaml reports (via Yams) into a located error.
    init(syntax error: YamlError, file: String) {
        switch error {
        case .scanner(let context, let problem, let mark, _),
             .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            // libyaml's own wording: "while parsing a flow mapping at 2:10, did not find expected ','".
            var message = "invalid YAML: "
            if let context {
                message += context.text.hasPrefix("while ")
                    ? "\(context.text) at \(context.mark.line):\(context.mark.column), " : "\(context.text), "
            }
            message += problem
            self.init(.syntax, file: file, line: mark.line, column: mark.column, path: "", message: message)
        case .reader(let problem, let offset, _, let yaml):
            let (line, column) = offset.map { Self.lineAndColumn(ofCharacter: $0, in: yaml) } ?? (0, 0)
            self.init(.syntax, file: file, line: line, column: column, path: "", message: "invalid text: \(problem)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.map { "\"\($0)\"" }.joined(separator: ", ")
            self.init(
                .duplicate, file: file, line: context.mark.line, column: context.mark.column, path: "",
                message: "key \(keys) appears more than once in this mapping")
        default:
            self.init(.syntax, file: file, line: 0, column: 0, path: "", message: "invalid YAML: \(error)")
        }
    }

    private static func lineAndColumn(ofCharacter offset: Int, in text: String) -> (Int, Int) {
        var line = 1, column = 1
        for character in text.prefix(offset) {
            if character == "\n" || character == "\r\n" {
                line += 1
                column = 1
            } else {
                column += character.unicodeScalars.count
            }
        }
        return (line, column)
    }
}
