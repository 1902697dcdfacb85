//! Jute, ZooKeeper's serialization: big-endian fixed-width integers, booleans as one byte,
//! buffers and strings as an `i32` length followed by the bytes (`-1` means null), vectors as
//! an `i32` count followed by the items. Pure: no I/O, never panics on any input.

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq, Clone)]
pub enum JuteError {
    #[error("record truncated: needed {needed} more bytes at offset {offset}")]
    Truncated { offset: usize, needed: usize },
    #[error("invalid length {len} at offset {offset}")]
    BadLength { offset: usize, len: i32 },
    #[error("string at offset {offset} is not valid UTF-8")]
    BadUtf8 { offset: usize },
    #[error("unknown {what} {value}")]
    Unknown { what: &'static str, value: i64 },
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, JuteError>;

/// Reads jute values from a byte slice.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.remaining() < n {
            return Err(JuteError::Truncated { offset: self.pos, needed: n - self.remaining() });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn int(&mut self) -> Result<i32> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn long(&mut self) -> Result<i64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }

    pub fn boolean(&mut self) -> Result<bool> {
        Ok(self.take(1)?[0] != 0)
    }

    /// A buffer that may be null (`-1`), as znode data is.
    pub fn payload(&mut self) -> Result<Payload> {
        let offset = self.pos;
        let len = self.int()?;
        if len == -1 {
            return Ok(Payload::null());
        }
        if len < 0 {
            return Err(JuteError::BadLength { offset, len });
        }
        Ok(Payload::from(self.take(len as usize)?.to_vec()))
    }

    /// A buffer; null (`-1`) reads as empty.
    pub fn buffer(&mut self) -> Result<Vec<u8>> {
        Ok(self.buffer_ref()?.to_vec())
    }

    pub fn buffer_ref(&mut self) -> Result<&'a [u8]> {
        let offset = self.pos;
        let len = self.int()?;
        if len == -1 {
            return Ok(&[]);
        }
        if len < 0 {
            return Err(JuteError::BadLength { offset, len });
        }
        self.take(len as usize)
    }

    /// A string; null (`-1`) reads as empty.
    pub fn ustring(&mut self) -> Result<String> {
        let offset = self.pos;
        let b = self.buffer_ref()?;
        std::str::from_utf8(b).map(str::to_owned).map_err(|_| JuteError::BadUtf8 { offset })
    }

    /// A vector count; `-1` (null) reads as zero items.
    pub fn count(&mut self) -> Result<usize> {
        let offset = self.pos;
        let n = self.int()?;
        if n == -1 {
            return Ok(0);
        }
        if n < 0 {
            return Err(JuteError::BadLength { offset, len: n });
        }
        // Every item takes at least one byte: refuse counts the buffer cannot hold, so a
        // hostile count never makes us reserve memory.
        if n as usize > self.remaining() {
            return Err(JuteError::Truncated { offset, needed: n as usize - self.remaining() });
        }
        Ok(n as usize)
    }

    pub fn strings(&mut self) -> Result<Vec<String>> {
        let n = self.count()?;
        (0..n).map(|_| self.ustring()).collect()
    }
}

/// Writes jute values into a growable buffer.
#[derive(Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Self {
        Writer { buf: Vec::with_capacity(64) }
    }

    /// A writer that leaves room for the 4-byte frame length, filled in by [`Writer::finish_frame`].
    pub fn framed() -> Self {
        Writer { buf: vec![0, 0, 0, 0] }
    }

    pub fn finish_frame(mut self) -> Vec<u8> {
        let len = (self.buf.len() - 4) as i32;
        self.buf[..4].copy_from_slice(&len.to_be_bytes());
        self.buf
    }

    pub fn int(&mut self, v: i32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub fn long(&mut self, v: i64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub fn boolean(&mut self, v: bool) -> &mut Self {
        self.buf.push(v as u8);
        self
    }

    pub fn buffer(&mut self, v: &[u8]) -> &mut Self {
        self.int(v.len() as i32);
        self.buf.extend_from_slice(v);
        self
    }

    /// Writes `-1` for null data, as ZooKeeper answers getData on a node created with null data.
    pub fn payload(&mut self, v: &Payload) -> &mut Self {
        match v.as_option() {
            Some(b) => self.buffer(b),
            None => self.int(-1),
        }
    }

    pub fn ustring(&mut self, v: &str) -> &mut Self {
        self.buffer(v.as_bytes())
    }

    pub fn strings<S: AsRef<str>>(&mut self, v: &[S]) -> &mut Self {
        self.int(v.len() as i32);
        for s in v {
            self.ustring(s.as_ref());
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_scalars() {
        let mut w = Writer::new();
        w.int(-7).long(1 << 40).boolean(true).buffer(b"abc").ustring("/x").strings(&["a", "bc"]);
        let mut r = Reader::new(&w.buf);
        assert_eq!(r.int().unwrap(), -7);
        assert_eq!(r.long().unwrap(), 1 << 40);
        assert!(r.boolean().unwrap());
        assert_eq!(r.buffer().unwrap(), b"abc");
        assert_eq!(r.ustring().unwrap(), "/x");
        assert_eq!(r.strings().unwrap(), vec!["a".to_string(), "bc".to_string()]);
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn null_buffer_reads_empty_and_bad_lengths_fail() {
        let mut w = Writer::new();
        w.int(-1).int(-5);
        let mut r = Reader::new(&w.buf);
        assert_eq!(r.buffer().unwrap(), Vec::<u8>::new());
        assert!(matches!(r.buffer(), Err(JuteError::BadLength { len: -5, .. })));
    }

    #[test]
    fn huge_vector_count_is_refused_without_allocating() {
        let mut w = Writer::new();
        w.int(i32::MAX);
        assert!(matches!(Reader::new(&w.buf).strings(), Err(JuteError::Truncated { .. })));
    }

    proptest::proptest! {
        #[test]
        fn reader_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let mut r = Reader::new(&bytes);
            let _ = r.strings();
            let _ = r.long();
            let _ = r.buffer();
        }
    }
}

/// Znode data: bytes, or null (a client may create a node with null data, and ZooKeeper keeps the
/// difference: getData answers length -1). Reads as an empty slice where only bytes matter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Payload(Option<Vec<u8>>);

impl Payload {
    pub fn null() -> Payload {
        Payload(None)
    }
    pub fn is_null(&self) -> bool {
        self.0.is_none()
    }
    pub fn as_option(&self) -> Option<&[u8]> {
        self.0.as_deref()
    }
}

impl std::ops::Deref for Payload {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.0.as_deref().unwrap_or(&[])
    }
}

impl From<Vec<u8>> for Payload {
    fn from(v: Vec<u8>) -> Payload {
        Payload(Some(v))
    }
}
