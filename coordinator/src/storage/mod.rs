//! Durable storage: an append-only transaction log, fsynced before any reply leaves, and
//! snapshots of the tree, written in the background from a copy so writes never stop.
//!
//! Layout (as ZooKeeper's): `<dataLogDir>/version-2/log.<first zxid hex>` and
//! `<dataDir>/version-2/snapshot.<zxid hex>`. Log file: magic `STRL`, format version (u32),
//! then records `len: u32 | crc32(body): u32 | body` where body = TxnHeader + Txn. Snapshot
//! file: magic `STRS`, version, then the nodes and sessions, then crc32 of all before it.
//! Restart = newest valid snapshot + replay of later log records; a torn or corrupt tail of
//! the newest log file is cut off with a warning.

pub mod raftlog;
pub mod snapshot;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::tree::DataTree;
use crate::txn::{self, Txn, TxnHeader};

const LOG_MAGIC: &[u8; 4] = b"STRL";
const FORMAT_VERSION: u32 = 1;
const HEADER_LEN: u64 = 8;
/// A log record larger than this is corruption, not data (jute.maxbuffer is far smaller).
const MAX_RECORD: usize = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("failed to {what} {path}: {source}")]
    Io { what: &'static str, path: PathBuf, source: io::Error },
    #[error("corrupt transaction log {path} at offset {offset}: {reason}, and later log files exist ({later}); refusing to start")]
    CorruptMiddle { path: PathBuf, offset: u64, reason: String, later: String },
    #[error("transaction log {path} is not a Strom log (bad magic or version)")]
    Foreign { path: PathBuf },
    #[error("gap in the transaction log: expected zxid {expected:#x}, found {found:#x} in {path}")]
    Gap { path: PathBuf, expected: i64, found: i64 },
}

pub(crate) fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StorageError + 'a {
    move |source| StorageError::Io { what, path: path.to_path_buf(), source }
}

pub struct Storage {
    snap_dir: PathBuf,
    log_dir: PathBuf,
    log: File,
    log_path: PathBuf,
    pub txns_since_snapshot: u64,
    pub snap_count: u64,
    pub snap_retain: usize,
    pub purge_enabled: bool,
    snapshot_job: Option<std::thread::JoinHandle<()>>,
}

/// Files named `<prefix>.<hex zxid>` in `dir`, sorted by zxid.
pub(crate) fn list(dir: &Path, prefix: &str) -> Vec<(i64, PathBuf)> {
    let mut v = Vec::new();
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if let Some(hex) = name.strip_prefix(prefix).and_then(|s| s.strip_prefix('.')) {
                if let Ok(z) = i64::from_str_radix(hex, 16) {
                    v.push((z, e.path()));
                }
            }
        }
    }
    v.sort();
    v
}

pub fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Outcome of reading one log file.
struct Scan {
    records: Vec<(TxnHeader, Txn)>,
    /// Where the valid part ends, and why it ended early (if it did).
    valid_len: u64,
    bad: Option<String>,
}

fn scan_log(path: &Path) -> Result<Scan, StorageError> {
    let mut f = File::open(path).map_err(io_err("open", path))?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes).map_err(io_err("read", path))?;
    if bytes.len() < HEADER_LEN as usize {
        return Ok(Scan { records: vec![], valid_len: 0, bad: Some("file shorter than its header".into()) });
    }
    if &bytes[..4] != LOG_MAGIC || u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) != FORMAT_VERSION {
        return Err(StorageError::Foreign { path: path.to_path_buf() });
    }
    let mut pos = HEADER_LEN as usize;
    let mut records = Vec::new();
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        if rest.len() < 8 {
            return Ok(Scan { records, valid_len: pos as u64, bad: Some("torn record header".into()) });
        }
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let crc = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]);
        if len == 0 && crc == 0 {
            // Zero-filled space after the last record: the end.
            return Ok(Scan { records, valid_len: pos as u64, bad: None });
        }
        if len > MAX_RECORD || rest.len() < 8 + len {
            return Ok(Scan { records, valid_len: pos as u64, bad: Some(format!("torn record of {len} bytes")) });
        }
        let body = &rest[8..8 + len];
        if crc32fast::hash(body) != crc {
            return Ok(Scan { records, valid_len: pos as u64, bad: Some("checksum mismatch".into()) });
        }
        match txn::decode_record(body) {
            Ok(r) => records.push(r),
            Err(e) => return Ok(Scan { records, valid_len: pos as u64, bad: Some(format!("undecodable record: {e}")) }),
        }
        pos += 8 + len;
    }
    Ok(Scan { records, valid_len: pos as u64, bad: None })
}

/// A new log file `<dir>/<name>` holding only its header (magic, format version), created whole:
/// written to a temporary file renamed into place, so a crash never leaves a headerless log.
pub(crate) fn create_log_file(dir: &Path, name: &str, magic: &[u8; 4], version: u32) -> Result<(File, PathBuf), StorageError> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = OpenOptions::new().create(true).truncate(true).write(true).open(&tmp).map_err(io_err("create", &tmp))?;
    f.write_all(magic).map_err(io_err("write", &tmp))?;
    f.write_all(&version.to_be_bytes()).map_err(io_err("write", &tmp))?;
    f.sync_all().map_err(io_err("sync", &tmp))?;
    fs::rename(&tmp, &path).map_err(io_err("rename", &path))?;
    sync_dir(dir);
    Ok((f, path))
}

fn new_log_file(dir: &Path, first_zxid: i64) -> Result<(File, PathBuf), StorageError> {
    create_log_file(dir, &format!("log.{first_zxid:x}"), LOG_MAGIC, FORMAT_VERSION)
}

impl Storage {
    /// Opens (creating) the directories, recovers the tree and readies the log for appends.
    pub fn open(data_dir: &Path, data_log_dir: &Path, snap_count: u64) -> Result<(Storage, DataTree), StorageError> {
        let snap_dir = data_dir.join("version-2");
        let log_dir = data_log_dir.join("version-2");
        fs::create_dir_all(&snap_dir).map_err(io_err("create directory", &snap_dir))?;
        fs::create_dir_all(&log_dir).map_err(io_err("create directory", &log_dir))?;

        let mut tree = DataTree::new();
        for (zxid, path) in list(&snap_dir, "snapshot").into_iter().rev() {
            match snapshot::read(&path) {
                Ok(t) => {
                    tracing::info!(snapshot = %path.display(), zxid = format_args!("{zxid:#x}"), nodes = t.node_count(), "loaded snapshot");
                    tree = t;
                    break;
                }
                Err(e) => tracing::warn!(snapshot = %path.display(), error = %e, "skipping invalid snapshot"),
            }
        }

        let logs = list(&log_dir, "log");
        let mut replayed = 0u64;
        let mut current: Option<(File, PathBuf)> = None;
        for (i, (_, path)) in logs.iter().enumerate() {
            let scan = scan_log(path)?;
            for (h, t) in &scan.records {
                if h.zxid <= tree.last_zxid {
                    continue;
                }
                if tree.last_zxid != 0 && h.zxid != tree.last_zxid + 1 {
                    return Err(StorageError::Gap { path: path.clone(), expected: tree.last_zxid + 1, found: h.zxid });
                }
                let mut changes = Vec::new();
                tree.apply(h, t, &mut changes);
                replayed += 1;
            }
            let last = i + 1 == logs.len();
            if let Some(reason) = scan.bad {
                if !last {
                    let later = logs[i + 1..].iter().map(|(_, p)| p.display().to_string()).collect::<Vec<_>>().join(", ");
                    return Err(StorageError::CorruptMiddle { path: path.clone(), offset: scan.valid_len, reason, later });
                }
                tracing::warn!(log = %path.display(), offset = scan.valid_len, reason, "truncating the transaction log's damaged tail");
                if scan.valid_len < HEADER_LEN {
                    let mut f = OpenOptions::new().write(true).truncate(true).open(path).map_err(io_err("open", path))?;
                    f.write_all(LOG_MAGIC).map_err(io_err("write", path))?;
                    f.write_all(&FORMAT_VERSION.to_be_bytes()).map_err(io_err("write", path))?;
                    f.sync_all().map_err(io_err("sync", path))?;
                    current = Some((f, path.clone()));
                    continue;
                }
                let f = OpenOptions::new().write(true).open(path).map_err(io_err("open", path))?;
                f.set_len(scan.valid_len).map_err(io_err("truncate", path))?;
                f.sync_all().map_err(io_err("sync", path))?;
            }
            if last {
                let mut f = OpenOptions::new().write(true).open(path).map_err(io_err("open", path))?;
                f.seek(SeekFrom::End(0)).map_err(io_err("seek", path))?;
                current = Some((f, path.clone()));
            }
        }
        if replayed > 0 {
            tracing::info!(replayed, last_zxid = format_args!("{:#x}", tree.last_zxid), "replayed transaction log");
        }
        let (log, log_path) = match current {
            Some(c) => c,
            None => new_log_file(&log_dir, tree.last_zxid + 1)?,
        };
        let storage = Storage {
            snap_dir,
            log_dir,
            log,
            log_path,
            txns_since_snapshot: replayed,
            snap_count: snap_count.max(1),
            snap_retain: 3,
            purge_enabled: false,
            snapshot_job: None,
        };
        Ok((storage, tree))
    }

    /// Appends a batch and fsyncs it: once this returns Ok the batch survives a crash.
    pub fn append(&mut self, txns: &[(TxnHeader, Txn)]) -> Result<(), StorageError> {
        if txns.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(txns.len() * 128);
        for (h, t) in txns {
            let body = txn::encode_record(h, t);
            buf.extend_from_slice(&(body.len() as u32).to_be_bytes());
            buf.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
            buf.extend_from_slice(&body);
        }
        self.log.write_all(&buf).map_err(io_err("append to", &self.log_path))?;
        self.log.sync_data().map_err(io_err("sync", &self.log_path))?;
        self.txns_since_snapshot += txns.len() as u64;
        Ok(())
    }

    /// Takes a snapshot when snapCount transactions have gone by since the last: rolls the log
    /// and writes the copy of the tree on a background thread.
    pub fn maybe_snapshot(&mut self, tree: &DataTree) -> Result<(), StorageError> {
        if self.txns_since_snapshot < self.snap_count {
            return Ok(());
        }
        if let Some(job) = &self.snapshot_job {
            if !job.is_finished() {
                return Ok(()); // the previous one is still being written
            }
        }
        if let Some(job) = self.snapshot_job.take() {
            let _ = job.join();
        }
        self.txns_since_snapshot = 0;
        let (f, p) = new_log_file(&self.log_dir, tree.last_zxid + 1)?;
        self.log = f;
        self.log_path = p;
        let copy = tree.clone();
        let dir = self.snap_dir.clone();
        let log_dir = self.log_dir.clone();
        let (purge, retain) = (self.purge_enabled, self.snap_retain);
        self.snapshot_job = Some(std::thread::spawn(move || {
            match snapshot::write(&dir, &copy) {
                Ok(path) => tracing::info!(snapshot = %path.display(), "snapshot written"),
                Err(e) => tracing::error!(error = %e, "failed to write snapshot"),
            }
            if purge {
                purge_old(&dir, &log_dir, retain);
            }
        }));
        Ok(())
    }

    /// Waits for a background snapshot (used at shutdown).
    pub fn finish(&mut self) {
        if let Some(job) = self.snapshot_job.take() {
            let _ = job.join();
        }
    }

    pub fn purge_now(&self) {
        purge_old(&self.snap_dir, &self.log_dir, self.snap_retain);
    }
}

/// Keeps the newest `retain` snapshots and the log files needed to replay after the oldest
/// of them; deletes the rest (`autopurge`).
pub fn purge_old(snap_dir: &Path, log_dir: &Path, retain: usize) {
    let snaps = list(snap_dir, "snapshot");
    if snaps.len() <= retain {
        return;
    }
    let keep_from = snaps[snaps.len() - retain].0;
    for (_, p) in &snaps[..snaps.len() - retain] {
        if fs::remove_file(p).is_ok() {
            tracing::info!(file = %p.display(), "purged old snapshot");
        }
    }
    let logs = list(log_dir, "log");
    for w in logs.windows(2) {
        // Every record of w[0] is older than the next file's first zxid.
        if w[1].0 <= keep_from + 1 && fs::remove_file(&w[0].1).is_ok() {
            tracing::info!(file = %w[0].1.display(), "purged old transaction log");
        }
    }
}

#[cfg(test)]
mod tests;
