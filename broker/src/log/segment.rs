//! One log segment: `<base>.log` holding record batches back to back (Kafka's on-disk format),
//! a sparse offset index `<base>.index` (u32 relative offset, u32 position) and a sparse time index
//! `<base>.timeindex` (i64 timestamp, u32 relative offset), one entry per `index.interval.bytes`.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::batch::{self, BatchHeader, HEADER_LEN, LOG_OVERHEAD};

pub fn file_name(base: i64, ext: &str) -> String {
    format!("{base:020}.{ext}")
}

pub struct Segment {
    pub base_offset: i64,
    pub dir: PathBuf,
    log: File,
    index_file: File,
    time_file: File,
    pub size: u64,
    index: Vec<(u32, u32)>,
    time_index: Vec<(i64, u32)>,
    bytes_since_index: u64,
    /// Largest timestamp of any batch, -1 when empty.
    pub max_timestamp: i64,
    /// Offset after the last batch (the base offset when empty).
    pub next_offset: i64,
    /// Wall-clock ms when the segment got its first batch (for `segment.ms`).
    pub first_append_ms: Option<i64>,
}

/// What a recovery scan found.
#[derive(Debug, Default)]
pub struct ScanReport {
    pub batches: Vec<BatchHeader>,
    pub truncated_bytes: u64,
}

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl Segment {
    pub fn create(dir: &Path, base_offset: i64) -> io::Result<Segment> {
        let open = |ext: &str| {
            OpenOptions::new().read(true).append(true).create(true).truncate(false).open(dir.join(file_name(base_offset, ext)))
        };
        Ok(Segment {
            base_offset,
            dir: dir.to_path_buf(),
            log: open("log")?,
            index_file: open("index")?,
            time_file: open("timeindex")?,
            size: 0,
            index: Vec::new(),
            time_index: Vec::new(),
            bytes_since_index: 0,
            max_timestamp: -1,
            next_offset: base_offset,
            first_append_ms: None,
        })
    }

    /// Opens an existing segment. With `verify`, every batch's CRC is checked, the file is cut at
    /// the first invalid or partial batch, and the indexes are rebuilt; without it the indexes are
    /// rebuilt from batch headers only when missing or damaged. Returns the batch headers seen.
    pub fn open(dir: &Path, base_offset: i64, verify: bool, index_interval: u64) -> io::Result<(Segment, ScanReport)> {
        let mut seg = Segment::create(dir, base_offset)?;
        let file_len = seg.log.metadata()?.len();
        let loaded = !verify && seg.load_indexes(file_len);
        let mut report = ScanReport::default();
        let mut reader = io::BufReader::with_capacity(1 << 20, File::open(dir.join(file_name(base_offset, "log")))?);
        let mut pos: u64 = 0;
        let mut head = [0u8; HEADER_LEN];
        let mut body = Vec::new();
        if !loaded {
            seg.index.clear();
            seg.time_index.clear();
        }
        loop {
            if pos + HEADER_LEN as u64 > file_len {
                break;
            }
            if reader.read_exact(&mut head).is_err() {
                break;
            }
            let Ok(h) = batch::parse_header(&head) else { break };
            if pos + h.size() as u64 > file_len || h.base_offset < seg.next_offset {
                break;
            }
            if verify {
                body.resize(h.size(), 0);
                body[..HEADER_LEN].copy_from_slice(&head);
                if reader.read_exact(&mut body[HEADER_LEN..]).is_err() || batch::validate(&body).is_err() {
                    break;
                }
            } else {
                reader.seek_relative((h.size() - HEADER_LEN) as i64)?;
            }
            if !loaded {
                seg.note_batch(&h, pos, index_interval);
            } else {
                seg.max_timestamp = seg.max_timestamp.max(h.max_timestamp);
            }
            seg.next_offset = h.last_offset() + 1;
            pos += h.size() as u64;
            report.batches.push(h);
        }
        if pos < file_len {
            report.truncated_bytes = file_len - pos;
            seg.log.set_len(pos)?;
        }
        seg.size = pos;
        if !loaded {
            seg.rewrite_indexes()?;
        }
        if seg.size > 0 {
            seg.first_append_ms = Some(seg.log.metadata()?.modified().ok().and_then(|m| m.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_millis() as i64).unwrap_or_else(now_ms));
        }
        Ok((seg, report))
    }

    /// Reads the index files when they look intact (whole entries, pointing inside the log).
    fn load_indexes(&mut self, file_len: u64) -> bool {
        let mut idx = Vec::new();
        let mut tidx = Vec::new();
        if (&self.index_file).seek(SeekFrom::Start(0)).and_then(|_| (&self.index_file).read_to_end(&mut idx)).is_err()
            || (&self.time_file).seek(SeekFrom::Start(0)).and_then(|_| (&self.time_file).read_to_end(&mut tidx)).is_err()
            || idx.len() % 8 != 0
            || tidx.len() % 12 != 0
            || (file_len > 0 && idx.is_empty())
        {
            return false;
        }
        self.index = idx.chunks(8).map(|c| (u32::from_be_bytes(c[0..4].try_into().unwrap()), u32::from_be_bytes(c[4..8].try_into().unwrap()))).collect();
        self.time_index = tidx.chunks(12).map(|c| (i64::from_be_bytes(c[0..8].try_into().unwrap()), u32::from_be_bytes(c[8..12].try_into().unwrap()))).collect();
        let sorted = self.index.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1);
        sorted && self.index.last().is_none_or(|&(_, p)| (p as u64) < file_len)
    }

    fn rewrite_indexes(&mut self) -> io::Result<()> {
        self.index_file.set_len(0)?;
        self.time_file.set_len(0)?;
        let mut b = Vec::with_capacity(self.index.len() * 8);
        for (r, p) in &self.index {
            b.extend_from_slice(&r.to_be_bytes());
            b.extend_from_slice(&p.to_be_bytes());
        }
        self.index_file.write_all(&b)?;
        let mut b = Vec::with_capacity(self.time_index.len() * 12);
        for (t, r) in &self.time_index {
            b.extend_from_slice(&t.to_be_bytes());
            b.extend_from_slice(&r.to_be_bytes());
        }
        self.time_file.write_all(&b)
    }

    /// Records a batch at `pos` in the in-memory indexes; returns the index entries to persist.
    #[allow(clippy::type_complexity)]
    fn note_batch(&mut self, h: &BatchHeader, pos: u64, interval: u64) -> (Option<(u32, u32)>, Option<(i64, u32)>) {
        let rel = (h.base_offset - self.base_offset) as u32;
        let mut out = (None, None);
        if self.index.is_empty() || self.bytes_since_index >= interval {
            self.index.push((rel, pos as u32));
            out.0 = Some((rel, pos as u32));
            if h.max_timestamp > self.time_index.last().map_or(-1, |t| t.0) {
                let last_rel = (h.last_offset() - self.base_offset) as u32;
                self.time_index.push((h.max_timestamp, last_rel));
                out.1 = Some((h.max_timestamp, last_rel));
            }
            self.bytes_since_index = 0;
        }
        self.bytes_since_index += h.size() as u64;
        self.max_timestamp = self.max_timestamp.max(h.max_timestamp);
        out
    }

    /// Appends batches already carrying their offsets. When the log write fails (a full disk),
    /// the file is cut back to its previous length and the segment is as before.
    pub fn append(&mut self, bytes: &[u8], headers: &[BatchHeader], interval: u64) -> io::Result<()> {
        if let Err(e) = self.log.write_all(bytes) {
            self.log.set_len(self.size).map_err(|undo| io::Error::other(format!("{e}; cutting the partial write failed too: {undo}")))?;
            return Err(e);
        }
        let mut pos = self.size;
        let (mut ib, mut tb) = (Vec::new(), Vec::new());
        for h in headers {
            let (i, t) = self.note_batch(h, pos, interval);
            if let Some((r, p)) = i {
                ib.extend_from_slice(&r.to_be_bytes());
                ib.extend_from_slice(&p.to_be_bytes());
            }
            if let Some((ts, r)) = t {
                tb.extend_from_slice(&ts.to_be_bytes());
                tb.extend_from_slice(&r.to_be_bytes());
            }
            pos += h.size() as u64;
            self.next_offset = h.last_offset() + 1;
        }
        // Index files are only hints: if writing them fails, empty them so the next start rebuilds
        // them from the log, and go on with the (correct) in-memory indexes.
        if (!ib.is_empty() && self.index_file.write_all(&ib).is_err()) || (!tb.is_empty() && self.time_file.write_all(&tb).is_err()) {
            tracing::warn!(segment = self.base_offset, dir = %self.dir.display(), "index write failed; the indexes will be rebuilt at the next start");
            let _ = self.index_file.set_len(0);
            let _ = self.time_file.set_len(0);
        }
        self.size = pos;
        if self.first_append_ms.is_none() {
            self.first_append_ms = Some(now_ms());
        }
        Ok(())
    }

    pub fn read_at(&self, pos: u64, len: usize) -> io::Result<Vec<u8>> {
        let len = len.min(self.size.saturating_sub(pos) as usize);
        // Read straight into the buffer's spare capacity (no zero-fill of megabytes first).
        let mut buf = Vec::with_capacity(len);
        let mut reader = std::io::Read::take(PositionedReader { file: &self.log, pos }, len as u64);
        std::io::Read::read_to_end(&mut reader, &mut buf)?;
        if buf.len() < len {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "segment shorter than expected"));
        }
        Ok(buf)
    }

    fn header_at(&self, pos: u64) -> io::Result<BatchHeader> {
        let mut head = [0u8; HEADER_LEN];
        self.log.read_exact_at(&mut head, pos)?;
        batch::parse_header(&head).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// Position of the batch holding `offset` (or the first batch after it), if any.
    pub fn position_of(&self, offset: i64) -> io::Result<Option<(u64, BatchHeader)>> {
        let rel = (offset - self.base_offset).clamp(0, u32::MAX as i64) as u32;
        let i = self.index.partition_point(|&(r, _)| r <= rel);
        let mut pos = if i == 0 { 0 } else { self.index[i - 1].1 as u64 };
        while pos + (LOG_OVERHEAD as u64) < self.size {
            let h = self.header_at(pos)?;
            if h.last_offset() >= offset {
                return Ok(Some((pos, h)));
            }
            pos += h.size() as u64;
        }
        Ok(None)
    }

    /// The first batch whose max timestamp is at least `ts`.
    pub fn position_of_time(&self, ts: i64) -> io::Result<Option<(u64, BatchHeader)>> {
        if self.max_timestamp < ts {
            return Ok(None);
        }
        let i = self.time_index.partition_point(|&(t, _)| t < ts);
        let start_offset = if i == 0 { self.base_offset } else { self.base_offset + self.time_index[i - 1].1 as i64 };
        let Some((mut pos, _)) = self.position_of(start_offset)? else { return Ok(None) };
        while pos + (LOG_OVERHEAD as u64) < self.size {
            let h = self.header_at(pos)?;
            if h.max_timestamp >= ts {
                return Ok(Some((pos, h)));
            }
            pos += h.size() as u64;
        }
        Ok(None)
    }

    pub fn flush(&self) -> io::Result<()> {
        self.log.sync_data()?;
        self.index_file.sync_data()?;
        self.time_file.sync_data()
    }

    pub fn remove_files(self) -> io::Result<()> {
        for ext in ["log", "index", "timeindex", "snapshot"] {
            match std::fs::remove_file(self.dir.join(file_name(self.base_offset, ext))) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Scans whole batches from `pos`, calling `f` with each header and its bytes.
    pub fn for_each_batch(&self, mut f: impl FnMut(&BatchHeader, &[u8])) -> io::Result<()> {
        let mut reader = io::BufReader::with_capacity(1 << 20, File::open(self.dir.join(file_name(self.base_offset, "log")))?);
        let mut pos = 0u64;
        let mut buf = Vec::new();
        while pos + (HEADER_LEN as u64) <= self.size {
            buf.resize(HEADER_LEN, 0);
            reader.read_exact(&mut buf)?;
            let h = batch::parse_header(&buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            buf.resize(h.size(), 0);
            reader.read_exact(&mut buf[HEADER_LEN..])?;
            f(&h, &buf);
            pos += h.size() as u64;
        }
        Ok(())
    }
}

/// `Read` over a file from a position, with `pread` (no shared file offset).
struct PositionedReader<'a> {
    file: &'a File,
    pos: u64,
}

impl Read for PositionedReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}
