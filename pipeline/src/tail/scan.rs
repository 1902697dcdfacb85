//! Finding files (Filebeat's prospector): every `scan_frequency`, or at once when a reader saw its
//! file rotated, expand the input's globs, and open a reader for each file that has none and has
//! something to read. The registry decides where reading starts (`identity::start`). Files gone from
//! disk, with nothing in flight, leave the registry (Filebeat's `clean_removed`).

use std::collections::HashSet;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::glob;
use super::identity::{self, FileId, Start};
use super::reader::{self, read_head, OpenFile};
use crate::registry::{self, FileEntry};
use crate::ship::input::Input;
use crate::ship::Shared;

/// Runs one input's scans until shutdown, then waits for its readers.
pub async fn run(shared: Arc<Shared>, input: Arc<Input>) {
    let rescan = Arc::new(Notify::new());
    let mut readers = JoinSet::new();
    let mut shutdown = shared.shutdown.clone();
    loop {
        if *shutdown.borrow() {
            break;
        }
        scan(&shared, &input, &rescan, &mut readers).await;
        while readers.try_join_next().is_some() {}
        tokio::select! {
            _ = tokio::time::sleep(input.config.scan_frequency.0) => {}
            _ = rescan.notified() => {}
            _ = shutdown.wait_for(|stop| *stop) => break,
        }
    }
    while readers.join_next().await.is_some() {}
}

/// A file a glob names now.
struct Candidate {
    path: PathBuf,
    id: FileId,
    size: u64,
}

fn candidates(patterns: &[String]) -> Vec<Candidate> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for pattern in patterns {
        for path in glob::expand(pattern) {
            let Ok(m) = std::fs::metadata(&path) else { continue };
            let id = FileId { dev: m.dev(), inode: m.ino() };
            if seen.insert(id) {
                out.push(Candidate { path, id, size: m.len() });
            }
        }
    }
    out
}

/// Blocking: opens `path`, checks it is still `id`, and reads its fingerprint when asked.
fn open(path: &std::path::Path, id: FileId, with_fingerprint: bool) -> io::Result<Option<(std::fs::File, u64, Option<u64>)>> {
    let file = std::fs::File::open(path)?;
    let m = file.metadata()?;
    if (FileId { dev: m.dev(), inode: m.ino() }) != id {
        return Ok(None); // replaced between the stat and the open: the next scan sees the new one
    }
    let fp = if with_fingerprint { read_head(&file) } else { None };
    Ok(Some((file, m.len(), fp)))
}

async fn scan(shared: &Arc<Shared>, input: &Arc<Input>, rescan: &Arc<Notify>, readers: &mut JoinSet<()>) {
    let patterns = input.config.paths.clone();
    let Ok(found) = tokio::task::spawn_blocking(move || candidates(&patterns)).await else {
        return;
    };
    let input_id = input.config.id.clone();
    let mut seen = HashSet::new();
    for c in found {
        let key = registry::key(&input_id, c.id);
        seen.insert(key.clone());
        if shared.is_active(&key) || shared.path_held(&c.path) {
            continue;
        }
        let (remembered, busy) = {
            let r = shared.registry();
            (r.get(&key).map(FileEntry::remembered), r.in_flight(&key) > 0)
        };
        // A closed file with events still in flight waits for them; an unchanged one needs no reader.
        if busy || remembered.is_some_and(|r| r.offset == c.size) {
            continue;
        }
        let (path, id, with_fp) = (c.path.clone(), c.id, input.config.fingerprint);
        let opened = tokio::task::spawn_blocking(move || open(&path, id, with_fp)).await;
        let (file, size, fp) = match opened {
            Ok(Ok(Some(opened))) => opened,
            Ok(Ok(None)) => continue,
            Ok(Err(e)) => {
                tracing::warn!(path = %c.path.display(), error = %e, "failed to open file; retrying at the next scan");
                continue;
            }
            Err(_) => continue,
        };
        let start = identity::start(remembered, fp, size);
        match start {
            Start::Reused => tracing::info!(path = %c.path.display(), "inode reused by a new file (fingerprint differs); reading from the start"),
            Start::Truncated => tracing::info!(path = %c.path.display(), size, "file shorter than its registry offset; reading from the start"),
            Start::New | Start::Resume(_) => {}
        }
        let fingerprint = fp.or(match start {
            Start::Resume(_) => remembered.and_then(|r| r.fingerprint),
            _ => None,
        });
        let entry = FileEntry {
            input: input_id.clone(),
            path: c.path.display().to_string(),
            dev: c.id.dev,
            inode: c.id.inode,
            fingerprint,
            offset: start.offset(),
        };
        shared.registry().open(&key, entry);
        shared.active_insert(&key, c.path.clone());
        let open = OpenFile {
            key,
            path: c.path,
            id: c.id,
            file,
            offset: start.offset(),
            learn_fingerprint: input.config.fingerprint && fingerprint.is_none(),
        };
        readers.spawn(reader::read(shared.clone(), input.clone(), rescan.clone(), open));
    }
    let active = shared.active_keys();
    let gone = shared.registry().forget(&input_id, |k| seen.contains(k) || active.contains(k));
    if gone > 0 {
        tracing::debug!(input = %input_id, gone, "forgot files no longer on disk");
    }
}
