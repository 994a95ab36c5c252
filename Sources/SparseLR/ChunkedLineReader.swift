#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads lines from a file (or a byte array) through one reusable buffer, a large chunk at a time.
///
/// A line is returned as a pointer into the buffer, without its `\n` and without a trailing `\r`, and
/// stays valid until the next call. A line that spans two chunks is moved to the front of the buffer
/// before the next chunk is read; a line longer than the buffer makes the buffer grow.
final class ChunkedLineReader {
    private enum Source {
        case file(descriptor: Int32)
        case memory(bytes: [UInt8], position: Int)
    }

    private var source: Source
    private var buffer: UnsafeMutableRawBufferPointer
    /// The unread bytes are `buffer[start ..< end]`.
    private var start = 0
    private var end = 0
    private var reachedEnd = false
    /// The 1-based number of the last line returned.
    private(set) var lineNumber = 0

    /// Opens `path` for reading.
    init(path: String, bufferSize: Int) throws(DataFormatError) {
        precondition(bufferSize > 0, "bufferSize must be positive")
        var descriptor: Int32
        repeat {
            descriptor = open(path, O_RDONLY)
        } while descriptor < 0 && errno == EINTR
        guard descriptor >= 0 else {
            throw DataFormatError(file: path, line: nil, detail: "cannot open: \(String(cString: strerror(errno)))")
        }
        source = .file(descriptor: descriptor)
        buffer = .allocate(byteCount: bufferSize, alignment: 16)
    }

    /// Reads from `bytes` as if they were a file.
    init(bytes: [UInt8], bufferSize: Int) {
        precondition(bufferSize > 0, "bufferSize must be positive")
        source = .memory(bytes: bytes, position: 0)
        buffer = .allocate(byteCount: bufferSize, alignment: 16)
    }

    deinit {
        if case .file(let descriptor) = source { _ = close(descriptor) }
        buffer.deallocate()
    }

    /// The next line, or nil at the end of the input. `name` is used only in error messages.
    func nextLine(name: String) throws(DataFormatError) -> UnsafeRawBufferPointer? {
        var scanFrom = start
        while true {
            let base = buffer.baseAddress!
            if scanFrom < end, let found = memchr(base + scanFrom, Int32(UInt8(ascii: "\n")), end - scanFrom) {
                let newline = base.distance(to: found)
                let line = trimmedLine(from: start, to: newline)
                start = newline + 1
                lineNumber += 1
                return line
            }
            if reachedEnd {
                guard start < end else { return nil }
                let line = trimmedLine(from: start, to: end)
                start = end
                lineNumber += 1
                return line
            }
            scanFrom = end - start
            try refill(name: name)
        }
    }

    private func trimmedLine(from lineStart: Int, to lineEnd: Int) -> UnsafeRawBufferPointer {
        var last = lineEnd
        if last > lineStart && buffer[last - 1] == UInt8(ascii: "\r") { last -= 1 }
        return UnsafeRawBufferPointer(rebasing: buffer[lineStart..<last])
    }

    /// Keeps the unfinished line at the front, grows the buffer if that line fills it, and reads more.
    private func refill(name: String) throws(DataFormatError) {
        let pending = end - start
        if pending > 0 && start > 0 {
            buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: pending)
        }
        start = 0
        end = pending
        if end == buffer.count {
            let larger = UnsafeMutableRawBufferPointer.allocate(byteCount: buffer.count * 2, alignment: 16)
            larger.baseAddress!.copyMemory(from: buffer.baseAddress!, byteCount: end)
            buffer.deallocate()
            buffer = larger
        }
        let room = buffer.count - end
        switch source {
        case .file(let descriptor):
            var count: Int
            repeat {
                count = read(descriptor, buffer.baseAddress! + end, room)
            } while count < 0 && errno == EINTR
            guard count >= 0 else {
                throw DataFormatError(file: name, line: nil, detail: "read failed: \(String(cString: strerror(errno)))")
            }
            if count == 0 { reachedEnd = true }
            end += count
        case .memory(let bytes, let position):
            let count = min(room, bytes.count - position)
            bytes.withUnsafeBytes { all in
                if count > 0 { (buffer.baseAddress! + end).copyMemory(from: all.baseAddress! + position, byteCount: count) }
            }
            if count == 0 { reachedEnd = true }
            end += count
            source = .memory(bytes: bytes, position: position + count)
        }
    }
}
