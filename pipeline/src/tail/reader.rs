//! One reader per open file (Filebeat's harvester): reads from the acknowledged offset, splits lines,
//! joins multiline groups, and hands each event to the shipper. At the end of the file it looks at the
//! file and its path (`identity::at_end`): truncated → read again from 0; renamed → keep reading it
//! until inactive (the scanner opens whatever comes to the path); deleted → close.
//! Reads are positioned (`pread`) on a shared descriptor, in the blocking pool.

use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde_json::Value;
use tokio::sync::Notify;

use super::identity::{at_end, fingerprint, AtEnd, FileId, FINGERPRINT_BYTES};
use super::lines::{Line, LineSplitter};
use crate::multiline::Multiline;
use crate::ship::input::Input;
use crate::ship::record::Outcome;
use crate::ship::Shared;

const READ_CHUNK: usize = 64 * 1024;
const POLL_MIN: Duration = Duration::from_millis(50);
const POLL_MAX: Duration = Duration::from_secs(1);

/// A file the scanner opened, and where to start.
#[derive(Debug)]
pub struct OpenFile {
    pub key: String,
    pub path: PathBuf,
    pub id: FileId,
    pub file: std::fs::File,
    pub offset: u64,
    /// Whether the registry still lacks this file's fingerprint (and fingerprints are on).
    pub learn_fingerprint: bool,
}

/// Reads the file until it is closed (inactive, removed, shutdown, I/O error); then frees its slot.
pub async fn read(shared: Arc<Shared>, input: Arc<Input>, rescan: Arc<Notify>, open: OpenFile) {
    shared.metrics.files_open.inc();
    let OpenFile { key, path, id, file, offset, learn_fingerprint } = open;
    let mut reader = Reader {
        splitter: LineSplitter::new(offset, shared.tuning.max_line_bytes),
        multiline: input.multiline(),
        path: path.display().to_string(),
        file: Arc::new(file),
        learn_fingerprint,
        key: key.clone(),
        path_buf: path,
        id,
        shared: shared.clone(),
        input,
        rescan,
        renamed: false,
    };
    tracing::info!(path = %reader.path, offset = reader.splitter.position(), "reading file");
    match reader.run().await {
        Ok(why) => tracing::info!(path = %reader.path, offset = reader.splitter.position(), "closed file: {why}"),
        Err(e) => tracing::warn!(path = %reader.path, error = %e, "failed to read file; closed (the next scan retries)"),
    }
    shared.active_remove(&key);
    shared.metrics.files_open.dec();
}

struct Reader {
    key: String,
    path_buf: PathBuf,
    id: FileId,
    file: Arc<std::fs::File>,
    path: String,
    splitter: LineSplitter,
    multiline: Option<Multiline>,
    learn_fingerprint: bool,
    shared: Arc<Shared>,
    input: Arc<Input>,
    rescan: Arc<Notify>,
    renamed: bool,
}

/// The reader stopped because the shipper is shutting down.
struct Stopped;

impl Reader {
    async fn run(&mut self) -> std::io::Result<&'static str> {
        let mut buf = vec![0u8; READ_CHUNK];
        let mut backoff = POLL_MIN;
        let mut last_data = Instant::now();
        let close_inactive = self.input.config.close_inactive.0;
        let mut shutdown = self.shared.shutdown.clone();
        loop {
            if *shutdown.borrow() {
                return Ok("shutting down");
            }
            let (back, n) = pread(&self.file, self.splitter.position(), buf).await?;
            buf = back;
            if n > 0 {
                self.shared.metrics.bytes_read.inc_by(n as u64);
                last_data = Instant::now();
                backoff = POLL_MIN;
                for line in self.splitter.feed(&buf[..n]) {
                    if self.line(line).await.is_err() {
                        return Ok("shutting down");
                    }
                }
                continue;
            }
            if let Some(timeout) = self.input.config.multiline.as_ref().map(|m| m.timeout.0) {
                if last_data.elapsed() >= timeout && self.flush().await.is_err() {
                    return Ok("shutting down");
                }
            }
            let meta = self.file.metadata()?;
            let size = meta.len();
            let at_path = tokio::fs::metadata(&self.path_buf).await.ok().map(|m| FileId { dev: m.dev(), inode: m.ino() });
            match at_end(self.id, self.splitter.position(), size, meta.nlink() > 0, at_path) {
                AtEnd::Truncated => {
                    tracing::info!(path = %self.path, size, read_to = self.splitter.position(), "file truncated; reading it again from the start");
                    self.shared.registry().reset(&self.key, 0);
                    self.splitter.reset(0);
                    self.multiline = self.input.multiline();
                    self.learn_fingerprint = self.input.config.fingerprint;
                    continue;
                }
                AtEnd::Removed => {
                    let _ = self.flush().await;
                    return Ok("removed");
                }
                AtEnd::Renamed if !self.renamed => {
                    tracing::info!(path = %self.path, "file renamed (rotated); reading it to the end, the new file is scanned");
                    self.renamed = true;
                    self.shared.active_renamed(&self.key);
                    self.rescan.notify_one();
                }
                AtEnd::Renamed | AtEnd::Wait => {}
            }
            if self.learn_fingerprint && size >= FINGERPRINT_BYTES as u64 {
                self.learn_fingerprint = false;
                if let Some(fp) = head_fingerprint(&self.file).await {
                    self.shared.registry().set_fingerprint(&self.key, fp);
                }
            }
            if last_data.elapsed() >= close_inactive {
                let _ = self.flush().await;
                return Ok("inactive");
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.changed() => {}
            }
            backoff = (backoff * 2).min(POLL_MAX);
        }
    }

    async fn line(&mut self, line: Line) -> Result<(), Stopped> {
        match self.multiline.as_mut() {
            Some(ml) => match ml.push(&line.text, line.offset, line.end) {
                Some(j) => self.emit(&j.message, j.offset, j.end, j.is_multiline(), j.truncated || line.truncated).await,
                None => Ok(()),
            },
            None => self.emit(&line.text, line.offset, line.end, false, line.truncated).await,
        }
    }

    /// Ends a pending multiline group (timeout, close).
    async fn flush(&mut self) -> Result<(), Stopped> {
        match self.multiline.as_mut().and_then(Multiline::flush) {
            Some(j) => self.emit(&j.message, j.offset, j.end, j.is_multiline(), j.truncated).await,
            None => Ok(()),
        }
    }

    /// One event covering bytes `offset..end`.
    async fn emit(&self, message: &str, offset: u64, end: u64, multiline: bool, truncated: bool) -> Result<(), Stopped> {
        let shared = &self.shared;
        shared.metrics.events_read.inc();
        let mut shutdown = shared.shutdown.clone();
        let permit = tokio::select! {
            p = shared.shipper.permit() => p.ok_or(Stopped)?,
            _ = shutdown.wait_for(|stop| *stop) => return Err(Stopped),
        };
        let Some(ticket) = shared.registry().track(&self.key, end) else {
            return Ok(());
        };
        if !self.input.keeps(message) {
            shared.metrics.events_filtered.inc();
            shared.shipper.done(permit, &ticket);
            return Ok(());
        }
        let mut event = self.input.event(message, &self.path, offset, multiline, Timestamp::now());
        if truncated {
            let mut flags = match event.get_dotted("log.flags") {
                Some(Value::Array(items)) => items.clone(),
                _ => Vec::new(),
            };
            flags.push(Value::from("truncated"));
            let _ = event.set_dotted("log.flags", Value::Array(flags));
        }
        match shared.output.record(&event) {
            Outcome::Send(record) => shared.shipper.send(permit, ticket, record, format!("{}:{offset}", self.path)).await,
            Outcome::TooLarge { bytes } => {
                tracing::warn!(
                    path = %self.path, offset, bytes, max_message_bytes = shared.output.config.max_message_bytes,
                    "event larger than max_message_bytes; not sent"
                );
                shared.metrics.events_too_large.inc();
                shared.shipper.done(permit, &ticket);
            }
            Outcome::NoTopic => {
                tracing::warn!(path = %self.path, offset, "the topic format rendered empty for this event; dropping it");
                shared.metrics.events_dropped.inc();
                shared.shipper.done(permit, &ticket);
            }
        }
        Ok(())
    }
}

/// Reads up to `buf.len()` bytes at `pos` in the blocking pool.
async fn pread(file: &Arc<std::fs::File>, pos: u64, mut buf: Vec<u8>) -> std::io::Result<(Vec<u8>, usize)> {
    let file = file.clone();
    tokio::task::spawn_blocking(move || {
        let n = file.read_at(&mut buf, pos)?;
        Ok((buf, n))
    })
    .await
    .map_err(std::io::Error::other)?
}

/// The fingerprint of the file's first bytes, when it has enough of them.
pub async fn head_fingerprint(file: &Arc<std::fs::File>) -> Option<u64> {
    let file = file.clone();
    tokio::task::spawn_blocking(move || read_head(&file)).await.ok().flatten()
}

/// Blocking: the fingerprint of the first `FINGERPRINT_BYTES` bytes.
pub fn read_head(file: &std::fs::File) -> Option<u64> {
    let mut head = vec![0u8; FINGERPRINT_BYTES];
    file.read_exact_at(&mut head, 0).ok()?;
    fingerprint(&head)
}
