//! The registry of file offsets: how far each file has been shipped *and acknowledged*. Pure
//! bookkeeping here; `store` writes it to disk.
//!
//! Every event read is tracked with the byte range end it covers, in reading order. An acknowledgement
//! marks its event done; the file's offset moves to the end of the longest run of done events from the
//! oldest, so an ack that overtakes an earlier unacknowledged event moves nothing. After a crash the
//! shipper resumes at that offset: nothing acknowledged is lost, and only events read after the first
//! unacknowledged one are sent again.
//!
//! Truncation restarts a file under a new generation: acks for events of the old content are ignored.

pub mod store;

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::tail::identity::{FileId, Remembered};

/// One file as persisted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// The input id that read it.
    pub input: String,
    /// The path it was opened under.
    pub path: String,
    pub dev: u64,
    pub inode: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<u64>,
    /// Every byte before this was shipped and acknowledged (or deliberately skipped).
    pub offset: u64,
}

impl FileEntry {
    pub fn id(&self) -> FileId {
        FileId { dev: self.dev, inode: self.inode }
    }

    pub fn remembered(&self) -> Remembered {
        Remembered { offset: self.offset, fingerprint: self.fingerprint }
    }
}

/// The registry file's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RegistryFile {
    pub version: u32,
    pub files: BTreeMap<String, FileEntry>,
}

/// The key of a file: `<input id>::<dev>-<inode>`.
pub fn key(input: &str, id: FileId) -> String {
    format!("{input}::{id}")
}

/// Proof that an event was tracked; handed back with its ack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub key: String,
    generation: u64,
    seq: u64,
}

#[derive(Debug)]
struct Tracked {
    entry: FileEntry,
    generation: u64,
    next_seq: u64,
    /// Oldest first: (seq, end offset, acknowledged).
    in_flight: VecDeque<(u64, u64, bool)>,
}

#[derive(Debug, Default)]
pub struct Registry {
    files: BTreeMap<String, Tracked>,
    /// Bumped on every change that alters the persisted form.
    changes: u64,
}

impl Registry {
    pub fn from_file(file: RegistryFile) -> Self {
        let files = file
            .files
            .into_iter()
            .map(|(key, entry)| (key, Tracked { entry, generation: 0, next_seq: 0, in_flight: VecDeque::new() }))
            .collect();
        Registry { files, changes: 0 }
    }

    pub fn to_file(&self) -> RegistryFile {
        RegistryFile { version: 1, files: self.files.iter().map(|(k, t)| (k.clone(), t.entry.clone())).collect() }
    }

    /// A counter that moves whenever `to_file` would change.
    pub fn changes(&self) -> u64 {
        self.changes
    }

    pub fn get(&self, key: &str) -> Option<&FileEntry> {
        self.files.get(key).map(|t| &t.entry)
    }

    /// Starts (or restarts) reading a file at `entry.offset`: earlier in-flight events of it no longer
    /// count.
    pub fn open(&mut self, key: &str, entry: FileEntry) {
        let generation = self.files.get(key).map_or(0, |t| t.generation + 1);
        self.files.insert(key.to_string(), Tracked { entry, generation, next_seq: 0, in_flight: VecDeque::new() });
        self.changes += 1;
    }

    /// The file was truncated: restart at `offset` in a new generation. Its fingerprint was of the
    /// old content and is forgotten (the reader learns the new one): kept, it would make the next
    /// start take the file for another one and read it all again.
    pub fn reset(&mut self, key: &str, offset: u64) {
        if let Some(t) = self.files.get_mut(key) {
            t.generation += 1;
            t.in_flight.clear();
            t.entry.offset = offset;
            t.entry.fingerprint = None;
            self.changes += 1;
        }
    }

    pub fn set_fingerprint(&mut self, key: &str, fingerprint: u64) {
        if let Some(t) = self.files.get_mut(key) {
            if t.entry.fingerprint != Some(fingerprint) {
                t.entry.fingerprint = Some(fingerprint);
                self.changes += 1;
            }
        }
    }

    /// Records an event covering bytes up to `end`, read after every event tracked before it.
    pub fn track(&mut self, key: &str, end: u64) -> Option<Ticket> {
        let t = self.files.get_mut(key)?;
        let seq = t.next_seq;
        t.next_seq += 1;
        t.in_flight.push_back((seq, end, false));
        Some(Ticket { key: key.to_string(), generation: t.generation, seq })
    }

    /// The event is done (acknowledged, or handled without sending). Returns whether the offset moved.
    pub fn ack(&mut self, ticket: &Ticket) -> bool {
        let Some(t) = self.files.get_mut(&ticket.key) else {
            return false;
        };
        if t.generation != ticket.generation {
            return false;
        }
        // Seqs are increasing, so the entry is found by binary search.
        let Ok(at) = t.in_flight.binary_search_by_key(&ticket.seq, |e| e.0) else {
            return false;
        };
        t.in_flight[at].2 = true;
        let mut moved = false;
        while let Some(&(_, end, true)) = t.in_flight.front() {
            t.in_flight.pop_front();
            t.entry.offset = end;
            moved = true;
        }
        if moved {
            self.changes += 1;
        }
        moved
    }

    /// Events tracked and not yet folded into the offset.
    pub fn in_flight(&self, key: &str) -> usize {
        self.files.get(key).map_or(0, |t| t.in_flight.len())
    }

    /// The acknowledged offset.
    pub fn offset(&self, key: &str) -> Option<u64> {
        self.get(key).map(|e| e.offset)
    }

    /// Forgets files of `input` that `keep` rejects and that have nothing in flight (files gone from
    /// disk); returns how many.
    pub fn forget(&mut self, input: &str, keep: impl Fn(&str) -> bool) -> usize {
        let before = self.files.len();
        self.files.retain(|k, t| t.entry.input != input || !t.in_flight.is_empty() || keep(k));
        let gone = before - self.files.len();
        if gone > 0 {
            self.changes += 1;
        }
        gone
    }
}

#[cfg(test)]
mod tests;
