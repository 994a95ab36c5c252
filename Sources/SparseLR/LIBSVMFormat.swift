/// LIBSVM / svmlight lines: `label index[:value] index[:value] … [# comment]`.
///
/// Labels `1`/`+1` are positive, `0`/`-1` negative. The key of a feature is its index plus
/// ``keyOffset`` (the index itself by default); indices are 1-based by convention, which leaves key 0
/// free for a bias feature. A missing `:value` means 1. Spaces and tabs separate tokens, and may
/// trail; `#` starts a comment that runs to the end of the line; `qid:` tokens are ignored.
public struct LIBSVMFormat: ExampleLineFormat, Sendable, Hashable {
    /// Added to every index to form its key.
    public var keyOffset: UInt64

    /// Creates the format; keys are `index + keyOffset`.
    public init(keyOffset: UInt64 = 0) {
        self.keyOffset = keyOffset
    }

    /// Blank lines and lines holding only a comment are not data.
    public func isDataLine(_ line: UnsafeRawBufferPointer) -> Bool {
        for byte in line where !ByteParsing.isBlank(byte) {
            return byte != UInt8(ascii: "#")
        }
        return false
    }

    public func appendFeatures(
        from line: UnsafeRawBufferPointer, to batch: inout ExampleBatch
    ) throws(LineFormatError) -> Float {
        var end = line.count
        if let hash = line.firstIndex(of: UInt8(ascii: "#")) { end = hash }
        var position = 0
        var field = 0
        var label: Float = 0
        while true {
            while position < end && ByteParsing.isBlank(line[position]) { position += 1 }
            guard position < end else { break }
            let tokenStart = position
            while position < end && !ByteParsing.isBlank(line[position]) { position += 1 }
            let token = UnsafeRawBufferPointer(rebasing: line[tokenStart..<position])
            field += 1
            if field == 1 {
                label = try Self.label(token)
            } else {
                try appendFeature(token, field: field, to: &batch)
            }
        }
        return label
    }

    private static func label(_ token: UnsafeRawBufferPointer) throws(LineFormatError) -> Float {
        switch ByteParsing.integer(token) {
        case 1: return 1
        case 0, -1: return 0
        default: throw LineFormatError(field: 1, fieldName: "label", expected: "a label 0, 1, -1 or +1", found: token)
        }
    }

    private func appendFeature(
        _ token: UnsafeRawBufferPointer, field: Int, to batch: inout ExampleBatch
    ) throws(LineFormatError) {
        let colon = token.firstIndex(of: UInt8(ascii: ":"))
        let indexBytes = UnsafeRawBufferPointer(rebasing: token[..<(colon ?? token.count)])
        guard let index = ByteParsing.unsigned(indexBytes) else {
            if colon != nil, indexBytes.elementsEqual("qid".utf8) { return }
            throw LineFormatError(field: field, fieldName: "index", expected: "a feature index", found: token)
        }
        let (key, overflow) = index.addingReportingOverflow(keyOffset)
        guard !overflow else {
            throw LineFormatError(field: field, fieldName: "index", expected: "an index that fits the key space", found: token)
        }
        var value: Float = 1
        if let colon {
            let valueBytes = UnsafeRawBufferPointer(rebasing: token[(colon + 1)...])
            guard let parsed = ByteParsing.float(valueBytes), parsed.isFinite else {
                throw LineFormatError(field: field, fieldName: "value", expected: "a number", found: valueBytes)
            }
            value = parsed
        }
        batch.appendFeature(key: key, value: value)
    }
}
