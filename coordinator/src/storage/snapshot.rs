//! Snapshot files: the whole tree and the session table at one zxid, with a trailing crc32.
//! Version 2 adds the consensus term of the entry the snapshot was taken at (0 standalone).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::proto::jute::{Reader, Writer};
use crate::proto::records::{read_acls, write_acls, Stat};
use crate::tree::{child_name, parent_of, DataTree, Node, SessionRecord};

const MAGIC: &[u8; 4] = b"STRS";
const VERSION: i32 = 2;

pub fn write(dir: &Path, tree: &DataTree) -> io::Result<PathBuf> {
    write_at_term(dir, tree, 0)
}

/// The file's bytes (for sending to a lagging ensemble member).
pub fn encode(tree: &DataTree, term: u64) -> Vec<u8> {
    let mut w = Writer::new();
    w.buf.extend_from_slice(MAGIC);
    w.int(VERSION).long(tree.last_zxid).long(term as i64);
    w.int(tree.node_count() as i32);
    for (path, n) in tree.nodes() {
        w.ustring(path).payload(&n.data);
        write_acls(&mut w, &n.acl);
        let s = &n.stat;
        w.long(s.czxid).long(s.mzxid).long(s.ctime).long(s.mtime).int(s.version).int(s.cversion).int(s.aversion);
        w.long(s.ephemeral_owner).long(s.pzxid);
    }
    w.int(tree.sessions.len() as i32);
    for (id, s) in &tree.sessions {
        w.long(*id).int(s.timeout).buffer(&s.passwd);
    }
    let crc = crc32fast::hash(&w.buf);
    w.buf.extend_from_slice(&crc.to_be_bytes());
    w.buf
}

/// Writes a snapshot of `tree` taken at consensus `term`, atomically.
pub fn write_at_term(dir: &Path, tree: &DataTree, term: u64) -> io::Result<PathBuf> {
    write_bytes(dir, tree.last_zxid, &encode(tree, term))
}

/// Stores snapshot bytes (made by `encode`) for `zxid`, atomically.
pub fn write_bytes(dir: &Path, zxid: i64, bytes: &[u8]) -> io::Result<PathBuf> {
    let path = dir.join(format!("snapshot.{zxid:x}"));
    let tmp = dir.join(format!(".snapshot.{zxid:x}.tmp"));
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, &path)?;
    super::sync_dir(dir);
    Ok(path)
}

pub fn read(path: &Path) -> Result<DataTree, String> {
    read_with_term(path).map(|(t, _)| t)
}

/// The tree and the consensus term it was taken at.
pub fn read_with_term(path: &Path) -> Result<(DataTree, u64), String> {
    decode(&fs::read(path).map_err(|e| e.to_string())?)
}

pub fn decode(bytes: &[u8]) -> Result<(DataTree, u64), String> {
    if bytes.len() < 8 || &bytes[..4] != MAGIC {
        return Err("not a Strom snapshot".into());
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    if crc32fast::hash(body) != u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]) {
        return Err("checksum mismatch".into());
    }
    let mut r = Reader::new(&body[4..]);
    let e = |e: crate::proto::jute::JuteError| e.to_string();
    let version = r.int().map_err(e)?;
    if version != 1 && version != VERSION {
        return Err(format!("unsupported snapshot version {version}"));
    }
    let last_zxid = r.long().map_err(e)?;
    let term = if version >= 2 { r.long().map_err(e)? as u64 } else { 0 };
    let count = r.count().map_err(e)?;
    let mut nodes: HashMap<String, Node> = HashMap::with_capacity(count);
    for _ in 0..count {
        let path = r.ustring().map_err(e)?;
        let data = r.payload().map_err(e)?;
        let acl = read_acls(&mut r).map_err(e)?;
        let stat = Stat {
            czxid: r.long().map_err(e)?,
            mzxid: r.long().map_err(e)?,
            ctime: r.long().map_err(e)?,
            mtime: r.long().map_err(e)?,
            version: r.int().map_err(e)?,
            cversion: r.int().map_err(e)?,
            aversion: r.int().map_err(e)?,
            ephemeral_owner: r.long().map_err(e)?,
            data_length: 0,
            num_children: 0,
            pzxid: r.long().map_err(e)?,
        };
        nodes.insert(path, Node { data, acl: Arc::new(acl), stat, children: BTreeSet::new() });
    }
    let paths: Vec<String> = nodes.keys().filter(|p| p.as_str() != "/").cloned().collect();
    for p in paths {
        let parent = parent_of(&p).to_string();
        match nodes.get_mut(&parent) {
            Some(n) => {
                n.children.insert(child_name(&p).to_string());
            }
            None => return Err(format!("node {p} has no parent in the snapshot")),
        }
    }
    let n = r.count().map_err(e)?;
    let mut sessions = BTreeMap::new();
    for _ in 0..n {
        let id = r.long().map_err(e)?;
        let timeout = r.int().map_err(e)?;
        let passwd = r.buffer().map_err(e)?;
        sessions.insert(id, SessionRecord { timeout, passwd });
    }
    Ok((DataTree::from_parts(nodes, sessions, last_zxid), term))
}
