/// A text format with one example per line; ``ExampleReader`` supplies the lines.
public protocol ExampleLineFormat {
    /// Whether the first line of the file is a header rather than data.
    var hasHeader: Bool { get }

    /// Reads the header line (only called when ``hasHeader`` is true).
    mutating func readHeader(_ line: UnsafeRawBufferPointer) throws(LineFormatError)

    /// Whether the line holds an example; blank and comment-only lines do not.
    func isDataLine(_ line: UnsafeRawBufferPointer) -> Bool

    /// Parses one data line, appends its features to `batch` and returns its label (0 or 1); the reader
    /// finishes the example. On error the reader discards whatever was appended.
    func appendFeatures(from line: UnsafeRawBufferPointer, to batch: inout ExampleBatch) throws(LineFormatError) -> Float
}

extension ExampleLineFormat {
    /// No header by default.
    public var hasHeader: Bool { false }

    /// Headerless formats ignore this call.
    public mutating func readHeader(_ line: UnsafeRawBufferPointer) throws(LineFormatError) {}

    /// Any line with a character other than spaces and tabs is data by default.
    public func isDataLine(_ line: UnsafeRawBufferPointer) -> Bool {
        !ByteParsing.isBlank(line: line)
    }
}
