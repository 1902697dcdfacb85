//! Splitting partial reads into lines. Pure: bytes in, complete lines out, with the byte offsets the
//! registry needs. A line ends at `\n` (a trailing `\r` is dropped); bytes after the last newline wait
//! for more input, so a line still being written is never shipped half. A line longer than
//! `max_line_bytes` keeps its first `max_line_bytes` bytes (Filebeat's `message_max_bytes`), and its
//! offsets still span the whole line. Invalid UTF-8 becomes U+FFFD, never an error.

/// Filebeat's default `message_max_bytes`: 10 MiB.
pub const DEFAULT_MAX_LINE_BYTES: usize = 10 * 1024 * 1024;

/// One complete line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Without the `\n` (and a `\r` before it), lossily decoded.
    pub text: String,
    /// Byte offset of the line's first byte.
    pub offset: u64,
    /// Byte offset just past its newline: where reading resumes.
    pub end: u64,
    /// Bytes past `max_line_bytes` were dropped.
    pub truncated: bool,
}

#[derive(Debug)]
pub struct LineSplitter {
    max_line_bytes: usize,
    /// The current line's bytes so far (at most `max_line_bytes`).
    buf: Vec<u8>,
    /// Offset of the current line's first byte.
    line_start: u64,
    /// Offset of the next byte fed.
    next: u64,
    overflow: bool,
}

impl LineSplitter {
    /// Starts at byte `offset` of the file, which must be a line start.
    pub fn new(offset: u64, max_line_bytes: usize) -> Self {
        LineSplitter { max_line_bytes: max_line_bytes.max(1), buf: Vec::new(), line_start: offset, next: offset, overflow: false }
    }

    /// Forgets any partial line and starts again at `offset` (after truncation).
    pub fn reset(&mut self, offset: u64) {
        *self = LineSplitter::new(offset, self.max_line_bytes);
    }

    /// Offset of the next byte to feed (= the file position the reader is at).
    pub fn position(&self) -> u64 {
        self.next
    }

    /// Bytes of an unfinished line held back.
    pub fn pending(&self) -> u64 {
        self.next - self.line_start
    }

    /// Feeds the next bytes of the file; returns the lines they complete, in order.
    pub fn feed(&mut self, mut chunk: &[u8]) -> Vec<Line> {
        let mut lines = Vec::new();
        while !chunk.is_empty() {
            match chunk.iter().position(|&b| b == b'\n') {
                Some(at) => {
                    self.keep(&chunk[..at]);
                    self.next += at as u64 + 1;
                    lines.push(self.finish());
                    chunk = &chunk[at + 1..];
                }
                None => {
                    self.keep(chunk);
                    self.next += chunk.len() as u64;
                    chunk = &[];
                }
            }
        }
        lines
    }

    fn keep(&mut self, bytes: &[u8]) {
        let room = self.max_line_bytes - self.buf.len();
        if bytes.len() > room {
            self.overflow = true;
        }
        self.buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn finish(&mut self) -> Line {
        let mut bytes = std::mem::take(&mut self.buf);
        if !self.overflow && bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        let line = Line {
            text: String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            offset: self.line_start,
            end: self.next,
            truncated: self.overflow,
        };
        self.line_start = self.next;
        self.overflow = false;
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn splits_across_chunks_and_holds_partial_lines() {
        let mut s = LineSplitter::new(100, 1024);
        assert!(s.feed(b"hel").is_empty());
        let lines = s.feed(b"lo\r\nworld\npart");
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0], Line { text: "hello".into(), offset: 100, end: 107, truncated: false });
        assert_eq!(lines[1], Line { text: "world".into(), offset: 107, end: 113, truncated: false });
        assert_eq!(s.pending(), 4);
        assert_eq!(s.position(), 117);
        assert_eq!(s.feed(b"\n")[0].text, "part");
    }

    #[test]
    fn long_lines_are_cut_but_offsets_span_them() {
        let mut s = LineSplitter::new(0, 4);
        let lines = s.feed(b"abcdefgh\nxy\n");
        assert_eq!(lines[0], Line { text: "abcd".into(), offset: 0, end: 9, truncated: true });
        assert_eq!(lines[1], Line { text: "xy".into(), offset: 9, end: 12, truncated: false });
    }

    #[test]
    fn binary_garbage_is_decoded_lossily() {
        let mut s = LineSplitter::new(0, 64);
        let lines = s.feed(&[0xff, 0xfe, b'a', 0, 0xc3, b'\n']);
        assert_eq!(lines[0].text, "\u{fffd}\u{fffd}a\u{0}\u{fffd}");
        assert_eq!(lines[0].end, 6);
    }

    proptest! {
        /// However the bytes are cut into reads, the lines are those of the whole input, offsets are
        /// contiguous, and nothing past the last newline is emitted.
        #[test]
        fn chunking_never_changes_the_lines(
            data in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'\r'), any::<u8>()], 0..400),
            cuts in proptest::collection::vec(0usize..400, 0..12),
            max in 1usize..40,
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
            cuts.sort_unstable();
            let mut s = LineSplitter::new(7, max);
            let mut got = Vec::new();
            let mut from = 0;
            for cut in cuts.into_iter().chain([data.len()]) {
                got.extend(s.feed(&data[from..cut]));
                from = cut;
            }
            let mut expected = Vec::new();
            let mut start = 0usize;
            for (i, b) in data.iter().enumerate() {
                if *b == b'\n' {
                    let raw = &data[start..i];
                    let truncated = raw.len() > max;
                    let mut kept = raw[..raw.len().min(max)].to_vec();
                    if !truncated && kept.last() == Some(&b'\r') {
                        kept.pop();
                    }
                    expected.push(Line {
                        text: String::from_utf8_lossy(&kept).into_owned(),
                        offset: 7 + start as u64,
                        end: 7 + i as u64 + 1,
                        truncated,
                    });
                    start = i + 1;
                }
            }
            prop_assert_eq!(got, expected);
            prop_assert_eq!(s.pending(), (data.len() - start) as u64);
        }
    }
}
