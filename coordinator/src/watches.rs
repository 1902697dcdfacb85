//! Watch manager: which connection watches what, and which events a change fires.
//! One-shot data/exist watches, one-shot child watches, persistent and persistent-recursive
//! watches (`addWatch`), with ZooKeeper's rule that a connection gets at most one event per
//! change even when several of its watches match.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::proto::codes::event;
use crate::tree::Change;

pub type ConnId = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// getData / exists: fires on created, deleted, data changed.
    Data,
    /// getChildren: fires on deleted, children changed.
    Child,
    /// addWatch PERSISTENT: like data + child, never removed by firing.
    Persistent,
    /// addWatch PERSISTENT_RECURSIVE: created, deleted, data changed on the path and below.
    Recursive,
}

#[derive(Default, Debug)]
pub struct WatchManager {
    by_path: HashMap<Kind, HashMap<String, HashSet<ConnId>>>,
    by_conn: HashMap<ConnId, HashSet<(Kind, String)>>,
    recursive_count: usize,
}

/// `WatcherType` of removeWatches/checkWatches.
pub const WATCHER_CHILDREN: i32 = 1;
pub const WATCHER_DATA: i32 = 2;
pub const WATCHER_ANY: i32 = 3;

impl WatchManager {
    pub fn add(&mut self, conn: ConnId, kind: Kind, path: &str) {
        let fresh = self.by_path.entry(kind).or_default().entry(path.to_string()).or_default().insert(conn);
        if fresh {
            if kind == Kind::Recursive {
                self.recursive_count += 1;
            }
            self.by_conn.entry(conn).or_default().insert((kind, path.to_string()));
        }
    }

    fn remove_one(&mut self, conn: ConnId, kind: Kind, path: &str) -> bool {
        let Some(paths) = self.by_path.get_mut(&kind) else { return false };
        let Some(set) = paths.get_mut(path) else { return false };
        if !set.remove(&conn) {
            return false;
        }
        if set.is_empty() {
            paths.remove(path);
        }
        if kind == Kind::Recursive {
            self.recursive_count -= 1;
        }
        if let Some(c) = self.by_conn.get_mut(&conn) {
            c.remove(&(kind, path.to_string()));
            if c.is_empty() {
                self.by_conn.remove(&conn);
            }
        }
        true
    }

    fn kinds_for(watcher_type: i32) -> &'static [Kind] {
        match watcher_type {
            WATCHER_CHILDREN => &[Kind::Child],
            WATCHER_DATA => &[Kind::Data],
            _ => &[Kind::Data, Kind::Child, Kind::Persistent, Kind::Recursive],
        }
    }

    pub fn has(&self, conn: ConnId, path: &str, watcher_type: i32) -> bool {
        Self::kinds_for(watcher_type).iter().any(|k| {
            self.by_path.get(k).and_then(|m| m.get(path)).is_some_and(|s| s.contains(&conn))
        })
    }

    /// removeWatches: false when the connection had no such watch (NOWATCHER).
    pub fn remove(&mut self, conn: ConnId, path: &str, watcher_type: i32) -> bool {
        let mut any = false;
        for k in Self::kinds_for(watcher_type) {
            any |= self.remove_one(conn, *k, path);
        }
        any
    }

    pub fn drop_conn(&mut self, conn: ConnId) {
        if let Some(set) = self.by_conn.remove(&conn) {
            for (kind, path) in set {
                if let Some(paths) = self.by_path.get_mut(&kind) {
                    if let Some(s) = paths.get_mut(&path) {
                        s.remove(&conn);
                        if s.is_empty() {
                            paths.remove(&path);
                        }
                    }
                }
                if kind == Kind::Recursive {
                    self.recursive_count -= 1;
                }
            }
        }
    }

    /// Fires the watches of `kind` on `path`, adding each connection at most once to `fired`.
    fn fire(&mut self, kind: Kind, path: &str, event_type: i32, fired: &mut Vec<(ConnId, i32, String)>, seen: &mut HashSet<ConnId>) {
        let one_shot = matches!(kind, Kind::Data | Kind::Child);
        let conns: Vec<ConnId> = match self.by_path.get_mut(&kind) {
            None => return,
            Some(paths) => {
                if one_shot {
                    match paths.remove(path) {
                        Some(s) => s.into_iter().collect(),
                        None => return,
                    }
                } else {
                    match paths.get(path) {
                        Some(s) => s.iter().copied().collect(),
                        None => return,
                    }
                }
            }
        };
        for c in conns {
            if one_shot {
                if let Some(cs) = self.by_conn.get_mut(&c) {
                    cs.remove(&(kind, path.to_string()));
                    if cs.is_empty() {
                        self.by_conn.remove(&c);
                    }
                }
            }
            if seen.insert(c) {
                fired.push((c, event_type, path.to_string()));
            }
        }
    }

    fn fire_recursive(&mut self, path: &str, event_type: i32, fired: &mut Vec<(ConnId, i32, String)>, seen: &mut HashSet<ConnId>) {
        if self.recursive_count == 0 {
            return;
        }
        let mut p = path.to_string();
        loop {
            let conns: Vec<ConnId> = self
                .by_path
                .get(&Kind::Recursive)
                .and_then(|m| m.get(&p))
                .map(|s| s.iter().copied().collect())
                .unwrap_or_default();
            for c in conns {
                if seen.insert(c) {
                    fired.push((c, event_type, path.to_string()));
                }
            }
            if p == "/" {
                break;
            }
            p = crate::tree::parent_of(&p).to_string();
        }
    }

    /// Events a change fires: (connection, event type, path), ordered by connection id within
    /// one change so output is deterministic.
    pub fn trigger(&mut self, change: &Change) -> Vec<(ConnId, i32, String)> {
        let mut fired = Vec::new();
        let mut seen = HashSet::new();
        match change {
            Change::Created(p) => {
                self.fire(Kind::Data, p, event::NODE_CREATED, &mut fired, &mut seen);
                self.fire(Kind::Persistent, p, event::NODE_CREATED, &mut fired, &mut seen);
                self.fire_recursive(p, event::NODE_CREATED, &mut fired, &mut seen);
            }
            Change::Deleted(p) => {
                self.fire(Kind::Data, p, event::NODE_DELETED, &mut fired, &mut seen);
                self.fire(Kind::Child, p, event::NODE_DELETED, &mut fired, &mut seen);
                self.fire(Kind::Persistent, p, event::NODE_DELETED, &mut fired, &mut seen);
                self.fire_recursive(p, event::NODE_DELETED, &mut fired, &mut seen);
            }
            Change::DataChanged(p) => {
                self.fire(Kind::Data, p, event::NODE_DATA_CHANGED, &mut fired, &mut seen);
                self.fire(Kind::Persistent, p, event::NODE_DATA_CHANGED, &mut fired, &mut seen);
                self.fire_recursive(p, event::NODE_DATA_CHANGED, &mut fired, &mut seen);
            }
            Change::ChildrenChanged(p) => {
                self.fire(Kind::Child, p, event::NODE_CHILDREN_CHANGED, &mut fired, &mut seen);
                self.fire(Kind::Persistent, p, event::NODE_CHILDREN_CHANGED, &mut fired, &mut seen);
            }
        }
        fired.sort_by_key(|f| f.0);
        fired
    }

    /// (connections watching, watched paths, total watches) for `wchs` and `mntr`.
    pub fn summary(&self) -> (usize, usize, usize) {
        let mut paths = BTreeSet::new();
        let mut total = 0;
        for m in self.by_path.values() {
            for (p, s) in m {
                paths.insert(p.as_str());
                total += s.len();
            }
        }
        (self.by_conn.len(), paths.len(), total)
    }

    /// Watched paths per connection, for `wchc`-style dumps.
    pub fn by_conn(&self) -> &HashMap<ConnId, HashSet<(Kind, String)>> {
        &self.by_conn
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_shot_fires_once_and_dedups_per_connection() {
        let mut w = WatchManager::default();
        w.add(1, Kind::Data, "/a");
        w.add(1, Kind::Child, "/a");
        w.add(2, Kind::Data, "/a");
        let ev = w.trigger(&Change::Deleted("/a".into()));
        assert_eq!(ev, vec![(1, event::NODE_DELETED, "/a".into()), (2, event::NODE_DELETED, "/a".into())]);
        assert!(w.trigger(&Change::Deleted("/a".into())).is_empty());
        assert_eq!(w.summary(), (0, 0, 0));
    }

    #[test]
    fn persistent_and_recursive() {
        let mut w = WatchManager::default();
        w.add(1, Kind::Persistent, "/a");
        w.add(2, Kind::Recursive, "/a");
        assert_eq!(w.trigger(&Change::DataChanged("/a".into())).len(), 2);
        assert_eq!(w.trigger(&Change::DataChanged("/a".into())).len(), 2);
        // recursive watches get no NodeChildrenChanged; persistent ones do
        assert_eq!(w.trigger(&Change::ChildrenChanged("/a".into())), vec![(1, event::NODE_CHILDREN_CHANGED, "/a".into())]);
        assert_eq!(w.trigger(&Change::Created("/a/b/c".into())), vec![(2, event::NODE_CREATED, "/a/b/c".into())]);
        assert!(w.remove(2, "/a", WATCHER_ANY));
        assert!(!w.remove(2, "/a", WATCHER_ANY));
        assert!(w.trigger(&Change::Created("/a/b".into())).is_empty());
        w.drop_conn(1);
        assert_eq!(w.summary(), (0, 0, 0));
    }
}
