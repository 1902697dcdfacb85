//! The data tree: znodes with their data, ACLs and Stat, and the state machine that applies
//! transactions to it. Deterministic and free of I/O: the same transactions in the same order
//! give the same tree, which is what the log replay (and later consensus) relies on.

pub mod acl;
pub mod path;

use crate::proto::jute::Payload;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use crate::proto::codes::{owner_kind, OwnerKind};
use crate::proto::records::{Acl, Stat};
use crate::txn::{Txn, TxnHeader};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub data: Payload,
    pub acl: Arc<Vec<Acl>>,
    /// `data_length` and `num_children` are derived when the Stat is read.
    pub stat: Stat,
    pub children: BTreeSet<String>,
}

impl Node {
    /// The Stat as clients see it (`DataNode.copyStat`): the stored cversion counts child
    /// creations (it feeds sequence numbers); clients see creations plus deletions, which is
    /// `2 * creations - numChildren`. Container and TTL markers are not shown as owners.
    pub fn stat(&self) -> Stat {
        let mut s = self.stat;
        s.data_length = self.data.len() as i32;
        s.num_children = self.children.len() as i32;
        s.cversion = self.stat.cversion.wrapping_mul(2).wrapping_sub(s.num_children);
        if !matches!(owner_kind(s.ephemeral_owner), OwnerKind::Session(_)) {
            s.ephemeral_owner = 0;
        }
        s
    }
}

/// What a transaction changed, for the watch manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Created(String),
    Deleted(String),
    DataChanged(String),
    ChildrenChanged(String),
}

/// Per-operation outcome of applying a transaction, for building replies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpResult {
    Created { path: String, stat: Stat },
    Deleted,
    DataSet { stat: Stat },
    AclSet { stat: Stat },
    Checked,
    Error { err: i32 },
    Multi(Vec<OpResult>),
    Session,
}

/// The inverse of one applied change, used to roll a failed multi back.
#[derive(Debug)]
pub enum Undo {
    Created { path: String, parent_stat: Stat },
    Deleted { path: String, node: Node, parent_stat: Stat },
    Data { path: String, data: Payload, stat: Stat },
    Acl { path: String, acl: Arc<Vec<Acl>>, stat: Stat },
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionRecord {
    pub timeout: i32,
    pub passwd: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct DataTree {
    nodes: HashMap<String, Node>,
    /// Ephemeral paths by owning session.
    ephemerals: HashMap<i64, BTreeSet<String>>,
    containers: BTreeSet<String>,
    ttls: BTreeSet<String>,
    /// Live sessions (replicated state: created and closed by transactions).
    pub sessions: BTreeMap<i64, SessionRecord>,
    pub last_zxid: i64,
}

pub fn parent_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => "/",
    }
}

pub fn child_name(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

impl Default for DataTree {
    fn default() -> Self {
        Self::new()
    }
}

impl DataTree {
    pub fn new() -> DataTree {
        let mut t = DataTree {
            nodes: HashMap::new(),
            ephemerals: HashMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            sessions: BTreeMap::new(),
            last_zxid: 0,
        };
        let empty = |children: &[&str]| Node {
            data: Vec::new().into(),
            acl: Arc::new(Acl::world_all()),
            stat: Stat::default(),
            children: children.iter().map(|s| s.to_string()).collect(),
        };
        t.nodes.insert("/".into(), empty(&["zookeeper"]));
        t.nodes.insert("/zookeeper".into(), empty(&["quota", "config"]));
        t.nodes.insert("/zookeeper/quota".into(), empty(&[]));
        let mut config = empty(&[]);
        config.acl = Arc::new(vec![Acl {
            perms: crate::proto::codes::perm::READ,
            id: crate::proto::records::Id { scheme: "world".into(), id: "anyone".into() },
        }]);
        t.nodes.insert("/zookeeper/config".into(), config);
        t
    }

    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path)
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn nodes(&self) -> impl Iterator<Item = (&String, &Node)> {
        self.nodes.iter()
    }

    pub fn ephemerals_of(&self, session: i64) -> impl Iterator<Item = &String> {
        self.ephemerals.get(&session).into_iter().flatten()
    }

    pub fn ephemeral_count(&self) -> usize {
        self.ephemerals.values().map(|s| s.len()).sum()
    }

    pub fn containers(&self) -> &BTreeSet<String> {
        &self.containers
    }

    pub fn ttls(&self) -> &BTreeSet<String> {
        &self.ttls
    }

    /// Number of descendants of `path` (all levels), as `getAllChildrenNumber` answers.
    pub fn descendant_count(&self, path: &str) -> usize {
        let mut count = 0;
        let mut stack = vec![path.to_string()];
        while let Some(p) = stack.pop() {
            if let Some(n) = self.nodes.get(&p) {
                for c in &n.children {
                    count += 1;
                    stack.push(if p == "/" { format!("/{c}") } else { format!("{p}/{c}") });
                }
            }
        }
        count
    }

    /// Approximate bytes held by znode paths and data (`zk_approximate_data_size`).
    pub fn approximate_data_size(&self) -> usize {
        self.nodes.iter().map(|(p, n)| p.len() + n.data.len()).sum()
    }

    fn index_owner(&mut self, path: &str, owner: i64, add: bool) {
        let set = match owner_kind(owner) {
            OwnerKind::Persistent => return,
            OwnerKind::Container => &mut self.containers,
            OwnerKind::Ttl(_) => &mut self.ttls,
            OwnerKind::Session(s) => self.ephemerals.entry(s).or_default(),
        };
        if add {
            set.insert(path.to_string());
        } else {
            set.remove(path);
            if let OwnerKind::Session(s) = owner_kind(owner) {
                if self.ephemerals.get(&s).is_some_and(|e| e.is_empty()) {
                    self.ephemerals.remove(&s);
                }
            }
        }
    }

    fn create_node(
        &mut self,
        h: &TxnHeader,
        path: &str,
        data: &Payload,
        acl: &[Acl],
        owner: i64,
        parent_cversion: i32,
        changes: &mut Vec<Change>,
        undo: Option<&mut Vec<Undo>>,
    ) -> OpResult {
        let parent_path = parent_of(path).to_string();
        let Some(parent) = self.nodes.get_mut(&parent_path) else {
            return OpResult::Error { err: crate::proto::codes::ErrorCode::NoNode.code() };
        };
        if let Some(u) = undo {
            u.push(Undo::Created { path: path.to_string(), parent_stat: parent.stat });
        }
        parent.children.insert(child_name(path).to_string());
        if parent_cversion > parent.stat.cversion {
            parent.stat.cversion = parent_cversion;
            parent.stat.pzxid = h.zxid;
        }
        let stat = Stat {
            czxid: h.zxid,
            mzxid: h.zxid,
            ctime: h.time,
            mtime: h.time,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: owner,
            data_length: 0,
            num_children: 0,
            pzxid: h.zxid,
        };
        let node = Node { data: data.clone(), acl: Arc::new(acl.to_vec()), stat, children: BTreeSet::new() };
        let out = node.stat();
        self.nodes.insert(path.to_string(), node);
        self.index_owner(path, owner, true);
        changes.push(Change::Created(path.to_string()));
        changes.push(Change::ChildrenChanged(parent_path));
        OpResult::Created { path: path.to_string(), stat: out }
    }

    fn delete_node(&mut self, h: &TxnHeader, path: &str, changes: &mut Vec<Change>, undo: Option<&mut Vec<Undo>>) -> OpResult {
        let parent_path = parent_of(path).to_string();
        let Some(node) = self.nodes.remove(path) else {
            return OpResult::Error { err: crate::proto::codes::ErrorCode::NoNode.code() };
        };
        self.index_owner(path, node.stat.ephemeral_owner, false);
        if let Some(parent) = self.nodes.get_mut(&parent_path) {
            let parent_stat = parent.stat;
            parent.children.remove(child_name(path));
            if h.zxid > parent.stat.pzxid {
                parent.stat.pzxid = h.zxid;
            }
            if let Some(u) = undo {
                u.push(Undo::Deleted { path: path.to_string(), node, parent_stat });
            }
        }
        changes.push(Change::Deleted(path.to_string()));
        changes.push(Change::ChildrenChanged(parent_path));
        OpResult::Deleted
    }

    /// Applies one transaction. Validation happened when the transaction was made, so this
    /// only fails on a transaction that does not fit the tree (a corrupt log), reported as an
    /// error result rather than a panic.
    pub fn apply(&mut self, h: &TxnHeader, txn: &Txn, changes: &mut Vec<Change>) -> OpResult {
        let r = self.apply_inner(h, txn, changes, None);
        if h.zxid > self.last_zxid {
            self.last_zxid = h.zxid;
        }
        r
    }

    /// Applies one non-multi transaction and records how to undo it (used while validating a
    /// multi, whose later operations must see the effects of the earlier ones).
    pub fn apply_undoable(&mut self, h: &TxnHeader, txn: &Txn, changes: &mut Vec<Change>, undo: &mut Vec<Undo>) -> OpResult {
        self.apply_inner(h, txn, changes, Some(undo))
    }

    fn apply_inner(&mut self, h: &TxnHeader, txn: &Txn, changes: &mut Vec<Change>, mut undo: Option<&mut Vec<Undo>>) -> OpResult {
        match txn {
            Txn::CreateSession { timeout, passwd } => {
                self.sessions.insert(h.session_id, SessionRecord { timeout: *timeout, passwd: passwd.clone() });
                OpResult::Session
            }
            Txn::CloseSession => {
                let paths: Vec<String> = self.ephemerals_of(h.session_id).cloned().collect();
                // Deepest first cannot matter (ephemerals have no children), but keep it stable.
                for p in paths.iter().rev() {
                    self.delete_node(h, p, changes, None);
                }
                self.sessions.remove(&h.session_id);
                OpResult::Session
            }
            Txn::Create { path, data, acl, ephemeral_owner, parent_cversion } => {
                self.create_node(h, path, data, acl, *ephemeral_owner, *parent_cversion, changes, undo)
            }
            Txn::Delete { path } => self.delete_node(h, path, changes, undo),
            Txn::SetData { path, data, version } => {
                let Some(n) = self.nodes.get_mut(path) else {
                    return OpResult::Error { err: crate::proto::codes::ErrorCode::NoNode.code() };
                };
                if let Some(u) = undo.as_deref_mut() {
                    u.push(Undo::Data { path: path.clone(), data: std::mem::take(&mut n.data), stat: n.stat });
                }
                n.data = data.clone();
                n.stat.mtime = h.time;
                n.stat.mzxid = h.zxid;
                n.stat.version = *version;
                changes.push(Change::DataChanged(path.clone()));
                OpResult::DataSet { stat: n.stat() }
            }
            Txn::SetAcl { path, acl, aversion } => {
                let Some(n) = self.nodes.get_mut(path) else {
                    return OpResult::Error { err: crate::proto::codes::ErrorCode::NoNode.code() };
                };
                if let Some(u) = undo {
                    u.push(Undo::Acl { path: path.clone(), acl: n.acl.clone(), stat: n.stat });
                }
                n.acl = Arc::new(acl.clone());
                n.stat.aversion = *aversion;
                OpResult::AclSet { stat: n.stat() }
            }
            Txn::Check { .. } => OpResult::Checked,
            Txn::Multi(txns) => {
                OpResult::Multi(txns.iter().map(|t| self.apply_inner(h, t, changes, None)).collect())
            }
            Txn::Error { err } => OpResult::Error { err: *err },
        }
    }

    /// Rolls back changes recorded by [`DataTree::apply_undoable`], newest first.
    pub fn rollback(&mut self, undo: Vec<Undo>) {
        for u in undo.into_iter().rev() {
            match u {
                Undo::Created { path, parent_stat } => {
                    if let Some(n) = self.nodes.remove(&path) {
                        self.index_owner(&path, n.stat.ephemeral_owner, false);
                    }
                    if let Some(p) = self.nodes.get_mut(parent_of(&path)) {
                        p.children.remove(child_name(&path));
                        p.stat = parent_stat;
                    }
                }
                Undo::Deleted { path, node, parent_stat } => {
                    self.index_owner(&path, node.stat.ephemeral_owner, true);
                    if let Some(p) = self.nodes.get_mut(parent_of(&path)) {
                        p.children.insert(child_name(&path).to_string());
                        p.stat = parent_stat;
                    }
                    self.nodes.insert(path, node);
                }
                Undo::Data { path, data, stat } => {
                    if let Some(n) = self.nodes.get_mut(&path) {
                        n.data = data;
                        n.stat = stat;
                    }
                }
                Undo::Acl { path, acl, stat } => {
                    if let Some(n) = self.nodes.get_mut(&path) {
                        n.acl = acl;
                        n.stat = stat;
                    }
                }
            }
        }
    }

    /// Rebuilds a tree from snapshot parts; the owner indexes are derived from the nodes.
    pub fn from_parts(nodes: HashMap<String, Node>, sessions: BTreeMap<i64, SessionRecord>, last_zxid: i64) -> DataTree {
        let mut t = DataTree {
            nodes: HashMap::new(),
            ephemerals: HashMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            sessions,
            last_zxid,
        };
        let owners: Vec<(String, i64)> = nodes.iter().map(|(p, n)| (p.clone(), n.stat.ephemeral_owner)).collect();
        t.nodes = nodes;
        for (p, o) in owners {
            t.index_owner(&p, o, true);
        }
        t
    }
}

#[cfg(test)]
mod tests;
