//! Which file is which, and what to do with a file after looking at it. Pure: decisions from
//! (identity, size, offset) observations; the reader and the scanner do the `stat`s.
//!
//! A file is its device and inode, as long as it lives: a rename keeps them, a new file created under
//! the old name gets new ones. Once a file is deleted its inode may be given to a new file, which would
//! then look like the old one resumed at a stale offset; the optional fingerprint (a hash of the first
//! `FINGERPRINT_BYTES` bytes, kept in the registry) tells them apart.

use std::fmt;

/// Bytes hashed for a fingerprint (Filebeat's filestream default length).
pub const FINGERPRINT_BYTES: usize = 1024;

/// Device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId {
    pub dev: u64,
    pub inode: u64,
}

impl fmt::Display for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.dev, self.inode)
    }
}

/// The fingerprint of a file whose first bytes are `head`: `None` while the file is shorter than
/// `FINGERPRINT_BYTES` (its first bytes are not settled yet). FNV-1a, 64 bits.
pub fn fingerprint(head: &[u8]) -> Option<u64> {
    if head.len() < FINGERPRINT_BYTES {
        return None;
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in &head[..FINGERPRINT_BYTES] {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    Some(hash)
}

/// Where to start reading a file the scanner found, given what the registry remembers of its
/// device+inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Never seen: from the beginning.
    New,
    /// Seen: continue after the last acknowledged line.
    Resume(u64),
    /// Same inode, different first bytes: another file got the inode. From the beginning.
    Reused,
    /// Smaller than the remembered offset: truncated while we were away. From the beginning.
    Truncated,
}

impl Start {
    pub fn offset(self) -> u64 {
        match self {
            Start::Resume(offset) => offset,
            _ => 0,
        }
    }
}

/// What the registry remembers of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Remembered {
    pub offset: u64,
    pub fingerprint: Option<u64>,
}

/// Decides where to start: `fingerprint` is the file's now (`None` when fingerprints are off or the
/// file is short), `size` its length.
pub fn start(remembered: Option<Remembered>, fingerprint: Option<u64>, size: u64) -> Start {
    let Some(seen) = remembered else {
        return Start::New;
    };
    match (seen.fingerprint, fingerprint) {
        (Some(before), Some(now)) if before != now => return Start::Reused,
        // It had a full fingerprint and now is too short for one: rewritten.
        (Some(_), None) if size < FINGERPRINT_BYTES as u64 => return Start::Truncated,
        _ => {}
    }
    if size < seen.offset {
        Start::Truncated
    } else {
        Start::Resume(seen.offset)
    }
}

/// What the reader of an open file does once it has read to the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtEnd {
    /// Nothing changed: wait for more lines (or close when inactive long enough).
    Wait,
    /// The open file is now shorter than what was read (copytruncate, `> file`): read again from 0.
    Truncated,
    /// The open file has another name now (rename-and-create rotation): it is read to its end and
    /// kept until inactive; whatever comes to the path is the scanner's.
    Renamed,
    /// The open file was deleted and was read to its end: close it.
    Removed,
}

/// `open` is the identity of the open file, `read_to` how far it was read, `open_size` its size now
/// and `linked` whether it still has a name (fstat: size, link count > 0), `at_path` the identity of
/// whatever the path names now (`None` when nothing). A file with no name at its path but still
/// linked was renamed (the moment between rename and create of a rotation): it is kept, since its
/// writer may still append to it.
pub fn at_end(open: FileId, read_to: u64, open_size: u64, linked: bool, at_path: Option<FileId>) -> AtEnd {
    if open_size < read_to {
        return AtEnd::Truncated;
    }
    match at_path {
        Some(id) if id == open => AtEnd::Wait,
        _ if !linked => AtEnd::Removed,
        _ => AtEnd::Renamed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: FileId = FileId { dev: 1, inode: 10 };
    const B: FileId = FileId { dev: 1, inode: 11 };

    #[test]
    fn fingerprint_needs_the_full_head_and_depends_on_it() {
        assert_eq!(fingerprint(&[b'x'; FINGERPRINT_BYTES - 1]), None);
        let a = fingerprint(&[b'x'; FINGERPRINT_BYTES]);
        assert!(a.is_some());
        assert_eq!(fingerprint(&[b'x'; FINGERPRINT_BYTES + 50]), a, "bytes past the head do not count");
        let mut other = [b'x'; FINGERPRINT_BYTES];
        other[FINGERPRINT_BYTES - 1] = b'y';
        assert_ne!(fingerprint(&other), a);
    }

    #[test]
    fn start_resumes_known_files_and_restarts_changed_ones() {
        assert_eq!(start(None, None, 500), Start::New);
        let seen = Remembered { offset: 300, fingerprint: None };
        assert_eq!(start(Some(seen), None, 500), Start::Resume(300));
        assert_eq!(start(Some(seen), None, 300), Start::Resume(300));
        assert_eq!(start(Some(seen), None, 299), Start::Truncated);
        assert_eq!(start(Some(seen), Some(5), 2000), Start::Resume(300), "fingerprint learned late");
    }

    /// A deleted file's inode given to a new, larger file: without fingerprints it looks resumable
    /// (the known failure), with them it starts over.
    #[test]
    fn fingerprint_detects_a_reused_inode() {
        let old = Remembered { offset: 1500, fingerprint: Some(111) };
        assert_eq!(start(Some(old), Some(222), 4000), Start::Reused);
        assert_eq!(start(Some(old), Some(111), 4000), Start::Resume(1500));
        assert_eq!(start(Some(old), None, 100), Start::Truncated);
        let no_fp = Remembered { offset: 1500, fingerprint: None };
        assert_eq!(start(Some(no_fp), None, 4000), Start::Resume(1500));
        assert_eq!(Start::Reused.offset(), 0);
    }

    #[test]
    fn at_end_tells_truncation_rename_and_removal() {
        assert_eq!(at_end(A, 100, 100, true, Some(A)), AtEnd::Wait);
        assert_eq!(at_end(A, 100, 150, true, Some(A)), AtEnd::Wait);
        assert_eq!(at_end(A, 100, 20, true, Some(A)), AtEnd::Truncated);
        assert_eq!(at_end(A, 100, 100, true, Some(B)), AtEnd::Renamed);
        assert_eq!(at_end(A, 100, 100, true, None), AtEnd::Renamed, "renamed, new file not created yet");
        assert_eq!(at_end(A, 100, 100, false, None), AtEnd::Removed);
        assert_eq!(at_end(A, 100, 100, false, Some(B)), AtEnd::Removed, "deleted and replaced");
        assert_eq!(at_end(A, 100, 0, false, None), AtEnd::Truncated, "truncation first: the bytes are gone");
    }
}
