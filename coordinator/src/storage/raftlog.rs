//! Durable state of an ensemble member: the consensus log and the hard state (term, vote,
//! commit). Snapshots of the tree use the standalone format (`snapshot.<index hex>`, where the
//! tree's zxid is the log index it was taken at).
//!
//! Log files `<dataLogDir>/version-2/raft.<first index hex>`: magic `STRR`, format version, then
//! records `len: u32 | crc32(body): u32 | body` with body = term u64 | index u64 | data. Appends
//! are fsynced before the caller acknowledges them. A torn tail of the newest file is cut off on
//! open; damage in an older file refuses to start. Truncating a divergent suffix cuts the file
//! holding the first removed entry and deletes the later ones.
//!
//! `<dataDir>/version-2/raft.state`: term, voted-for (0 = none), commit, crc32; replaced
//! atomically (write, fsync, rename, fsync the directory).

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::{create_log_file, io_err, list, sync_dir, StorageError};
use crate::consensus::{Entry, HardState};

const MAGIC: &[u8; 4] = b"STRR";
const FORMAT_VERSION: u32 = 1;
const HEADER_LEN: u64 = 8;
const MAX_RECORD: usize = 256 << 20;
/// A new log file is started past this size.
const ROLL_BYTES: u64 = 64 << 20;

pub struct RaftLog {
    log_dir: PathBuf,
    state_path: PathBuf,
    /// Log files in index order: (first index, path).
    files: Vec<(u64, PathBuf)>,
    cur: File,
    cur_len: u64,
    /// For every entry held, from `first`: (first index of its file, byte offset of its record).
    pos: std::collections::VecDeque<(u64, u64)>,
    first: u64,
}

struct Scanned {
    entries: Vec<(Entry, u64)>,
    valid_len: u64,
    bad: Option<String>,
}

fn scan(path: &Path) -> Result<Scanned, StorageError> {
    let mut bytes = Vec::new();
    File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(io_err("read", path))?;
    if bytes.len() < HEADER_LEN as usize {
        return Ok(Scanned { entries: vec![], valid_len: 0, bad: Some("file shorter than its header".into()) });
    }
    if &bytes[..4] != MAGIC || u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) != FORMAT_VERSION {
        return Err(StorageError::Foreign { path: path.to_path_buf() });
    }
    let mut pos = HEADER_LEN as usize;
    let mut entries = Vec::new();
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        let bad = |why: String, entries| Ok(Scanned { entries, valid_len: pos as u64, bad: Some(why) });
        if rest.len() < 8 {
            return bad("torn record header".into(), entries);
        }
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let crc = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]);
        if len == 0 && crc == 0 {
            return Ok(Scanned { entries, valid_len: pos as u64, bad: None });
        }
        if !(16..=MAX_RECORD).contains(&len) || rest.len() < 8 + len {
            return bad(format!("torn record of {len} bytes"), entries);
        }
        let body = &rest[8..8 + len];
        if crc32fast::hash(body) != crc {
            return bad("checksum mismatch".into(), entries);
        }
        let term = u64::from_be_bytes(body[..8].try_into().unwrap_or_default());
        let index = u64::from_be_bytes(body[8..16].try_into().unwrap_or_default());
        entries.push((Entry { term, index, data: body[16..].to_vec() }, pos as u64));
        pos += 8 + len;
    }
    Ok(Scanned { entries, valid_len: pos as u64, bad: None })
}

fn new_file(dir: &Path, first: u64) -> Result<(File, PathBuf), StorageError> {
    create_log_file(dir, &format!("raft.{first:x}"), MAGIC, FORMAT_VERSION)
}

fn read_state(path: &Path) -> Result<HardState, StorageError> {
    let b = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HardState::default()),
        Err(e) => return Err(StorageError::Io { what: "read", path: path.to_path_buf(), source: e }),
    };
    let bad = || StorageError::Io { what: "parse", path: path.to_path_buf(), source: std::io::Error::other("damaged raft.state (length or checksum)") };
    if b.len() != 28 || crc32fast::hash(&b[..24]).to_be_bytes() != b[24..28] {
        return Err(bad());
    }
    let u = |i: usize| u64::from_be_bytes(b[i..i + 8].try_into().unwrap_or_default());
    let voted = u(8);
    Ok(HardState { term: u(0), voted_for: (voted != 0).then_some(voted), commit: u(16) })
}

impl RaftLog {
    /// Opens (creating) the log: the stored hard state and every entry, from index 1.
    pub fn open(data_dir: &Path, data_log_dir: &Path) -> Result<(RaftLog, HardState, Vec<Entry>), StorageError> {
        let snap_dir = data_dir.join("version-2");
        let log_dir = data_log_dir.join("version-2");
        fs::create_dir_all(&snap_dir).map_err(io_err("create directory", &snap_dir))?;
        fs::create_dir_all(&log_dir).map_err(io_err("create directory", &log_dir))?;
        let state_path = snap_dir.join("raft.state");
        let hs = read_state(&state_path)?;

        let found: Vec<(u64, PathBuf)> = list(&log_dir, "raft").into_iter().map(|(i, p)| (i as u64, p)).collect();
        let mut entries: Vec<Entry> = Vec::new();
        let mut pos = std::collections::VecDeque::new();
        let mut files = Vec::new();
        let mut cur = None;
        for (i, (first, path)) in found.iter().enumerate() {
            let s = scan(path)?;
            let last_file = i + 1 == found.len();
            if let Some(reason) = &s.bad {
                if !last_file {
                    let later = found[i + 1..].iter().map(|(_, p)| p.display().to_string()).collect::<Vec<_>>().join(", ");
                    return Err(StorageError::CorruptMiddle { path: path.clone(), offset: s.valid_len, reason: reason.clone(), later });
                }
                tracing::warn!(log = %path.display(), offset = s.valid_len, reason, "cutting the consensus log's damaged tail");
            }
            for (e, off) in s.entries {
                if let Some(last) = entries.last() {
                    if e.index != last.index + 1 {
                        return Err(StorageError::Gap { path: path.clone(), expected: last.index as i64 + 1, found: e.index as i64 });
                    }
                }
                entries.push(e);
                pos.push_back((*first, off));
            }
            files.push((*first, path.clone()));
            if last_file {
                let valid = s.valid_len.max(HEADER_LEN);
                if s.valid_len < HEADER_LEN {
                    let (f, _) = new_file(&log_dir, *first)?;
                    cur = Some((f, HEADER_LEN));
                } else {
                    let mut f = OpenOptions::new().write(true).open(path).map_err(io_err("open", path))?;
                    if s.bad.is_some() {
                        f.set_len(valid).map_err(io_err("truncate", path))?;
                        f.sync_all().map_err(io_err("sync", path))?;
                    }
                    f.seek(SeekFrom::Start(valid)).map_err(io_err("seek", path))?;
                    cur = Some((f, valid));
                }
            }
        }
        let (cur, cur_len) = match cur {
            Some(c) => c,
            None => {
                let (f, p) = new_file(&log_dir, 1)?;
                files.push((1, p));
                (f, HEADER_LEN)
            }
        };
        let first = entries.first().map_or_else(|| files.last().map_or(1, |f| f.0), |e| e.index);
        let log = RaftLog { log_dir, state_path, files, cur, cur_len, pos, first };
        Ok((log, hs, entries))
    }

    pub fn save_state(&mut self, hs: &HardState) -> Result<(), StorageError> {
        let mut b = Vec::with_capacity(28);
        b.extend_from_slice(&hs.term.to_be_bytes());
        b.extend_from_slice(&hs.voted_for.unwrap_or(0).to_be_bytes());
        b.extend_from_slice(&hs.commit.to_be_bytes());
        let crc = crc32fast::hash(&b);
        b.extend_from_slice(&crc.to_be_bytes());
        let tmp = self.state_path.with_extension("tmp");
        let mut f = File::create(&tmp).map_err(io_err("create", &tmp))?;
        f.write_all(&b).map_err(io_err("write", &tmp))?;
        f.sync_all().map_err(io_err("sync", &tmp))?;
        fs::rename(&tmp, &self.state_path).map_err(io_err("rename", &self.state_path))?;
        if let Some(d) = self.state_path.parent() {
            sync_dir(d);
        }
        Ok(())
    }

    fn last_index(&self) -> u64 {
        self.first + self.pos.len() as u64 - 1
    }

    /// Removes every entry from `from` on (a divergent suffix).
    pub fn truncate(&mut self, from: u64) -> Result<(), StorageError> {
        if from > self.last_index() {
            return Ok(());
        }
        if from < self.first {
            return self.reset(from);
        }
        let k = (from - self.first) as usize;
        let (file_first, off) = self.pos[k];
        self.pos.truncate(k);
        let slot = self.files.iter().position(|f| f.0 == file_first).unwrap_or(self.files.len() - 1);
        for (_, p) in self.files.drain(slot + 1..) {
            fs::remove_file(&p).map_err(io_err("remove", &p))?;
        }
        let path = self.files[slot].1.clone();
        let mut f = OpenOptions::new().write(true).open(&path).map_err(io_err("open", &path))?;
        f.set_len(off).map_err(io_err("truncate", &path))?;
        f.sync_all().map_err(io_err("sync", &path))?;
        f.seek(SeekFrom::Start(off)).map_err(io_err("seek", &path))?;
        sync_dir(&self.log_dir);
        self.cur = f;
        self.cur_len = off;
        Ok(())
    }

    /// Forgets entries up to `upto` (a snapshot holds them): deletes the files holding nothing
    /// after it.
    pub fn compact(&mut self, upto: u64) -> Result<(), StorageError> {
        if upto < self.first {
            return Ok(());
        }
        if upto > self.last_index() {
            return self.reset(upto + 1);
        }
        let drop = (upto + 1 - self.first) as usize;
        self.pos.drain(..drop);
        self.first = upto + 1;
        while self.files.len() > 1 && self.files[1].0 <= upto + 1 {
            let (_, p) = self.files.remove(0);
            fs::remove_file(&p).map_err(io_err("remove", &p))?;
            tracing::info!(file = %p.display(), "removed a consensus log file that a snapshot covers");
        }
        Ok(())
    }

    /// Drops every entry; the next one appended has index `next` (after installing a snapshot
    /// at `next - 1` that replaced the whole log).
    pub fn reset(&mut self, next: u64) -> Result<(), StorageError> {
        let (f, p) = new_file(&self.log_dir, next)?;
        for (_, old) in std::mem::take(&mut self.files) {
            if old != p {
                fs::remove_file(&old).map_err(io_err("remove", &old))?;
            }
        }
        sync_dir(&self.log_dir);
        self.files.push((next, p));
        self.cur = f;
        self.cur_len = HEADER_LEN;
        self.pos.clear();
        self.first = next;
        Ok(())
    }

    /// Appends entries (which must follow the last one) and fsyncs them.
    pub fn append(&mut self, entries: &[Entry]) -> Result<(), StorageError> {
        if entries.is_empty() {
            return Ok(());
        }
        if entries[0].index != self.last_index() + 1 {
            let path = self.files.last().map(|f| f.1.clone()).unwrap_or_default();
            return Err(StorageError::Gap { path, expected: self.last_index() as i64 + 1, found: entries[0].index as i64 });
        }
        if self.cur_len > ROLL_BYTES {
            let (f, p) = new_file(&self.log_dir, entries[0].index)?;
            self.files.push((entries[0].index, p));
            self.cur = f;
            self.cur_len = HEADER_LEN;
        }
        let slot = self.files.len() - 1;
        let file_first = self.files[slot].0;
        let mut buf = Vec::with_capacity(entries.iter().map(|e| e.data.len() + 24).sum());
        for e in entries {
            let start = self.cur_len + buf.len() as u64;
            let mut body = Vec::with_capacity(16 + e.data.len());
            body.extend_from_slice(&e.term.to_be_bytes());
            body.extend_from_slice(&e.index.to_be_bytes());
            body.extend_from_slice(&e.data);
            buf.extend_from_slice(&(body.len() as u32).to_be_bytes());
            buf.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
            buf.extend_from_slice(&body);
            self.pos.push_back((file_first, start));
        }
        let path = &self.files[slot].1;
        self.cur.write_all(&buf).map_err(io_err("append to", path))?;
        self.cur.sync_data().map_err(io_err("sync", path))?;
        self.cur_len += buf.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(term: u64, index: u64, d: &str) -> Entry {
        Entry { term, index, data: d.as_bytes().to_vec() }
    }

    #[test]
    fn survives_reopen_truncation_and_a_torn_tail() {
        let dir = std::env::temp_dir().join(format!("strom-raftlog-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        {
            let (mut log, hs, entries) = RaftLog::open(&dir, &dir).unwrap();
            assert_eq!(hs, HardState::default());
            assert!(entries.is_empty());
            log.append(&[e(1, 1, ""), e(1, 2, "a"), e(1, 3, "b")]).unwrap();
            log.save_state(&HardState { term: 2, voted_for: Some(3), commit: 2 }).unwrap();
            assert!(log.append(&[e(1, 5, "gap")]).is_err());
            log.truncate(3).unwrap();
            log.append(&[e(2, 3, "c"), e(2, 4, "d")]).unwrap();
        }
        let (mut log, hs, entries) = RaftLog::open(&dir, &dir).unwrap();
        assert_eq!(hs, HardState { term: 2, voted_for: Some(3), commit: 2 });
        assert_eq!(entries, vec![e(1, 1, ""), e(1, 2, "a"), e(2, 3, "c"), e(2, 4, "d")]);
        log.append(&[e(2, 5, "e")]).unwrap();
        drop(log);
        // Tear the last record: it is cut off and the rest stays.
        let p = dir.join("version-2/raft.1");
        let len = fs::metadata(&p).unwrap().len();
        OpenOptions::new().write(true).open(&p).unwrap().set_len(len - 2).unwrap();
        let (mut log, _, entries) = RaftLog::open(&dir, &dir).unwrap();
        assert_eq!(entries.len(), 4);
        log.append(&[e(3, 5, "f")]).unwrap();
        drop(log);
        let (mut log, _, entries) = RaftLog::open(&dir, &dir).unwrap();
        assert_eq!(entries.last(), Some(&e(3, 5, "f")));
        // Compaction keeps what follows; a reset starts over at a later index.
        log.compact(2).unwrap();
        log.append(&[e(3, 6, "g")]).unwrap();
        drop(log);
        let (mut log, _, entries) = RaftLog::open(&dir, &dir).unwrap();
        assert_eq!(entries.last().map(|x| x.index), Some(6));
        log.reset(101).unwrap();
        assert!(log.append(&[e(4, 7, "h")]).is_err());
        log.append(&[e(4, 101, "i")]).unwrap();
        drop(log);
        let (_, _, entries) = RaftLog::open(&dir, &dir).unwrap();
        assert_eq!(entries, vec![e(4, 101, "i")]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
