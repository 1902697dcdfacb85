//! Validation of write requests into transactions, in ZooKeeper's order of checks
//! (`PrepRequestProcessor`). A write that fails still becomes a transaction (`Txn::Error`),
//! because ZooKeeper gives failed writes a zxid too.

use crate::proto::codes::{op, perm, ttl_owner, CreateMode, ErrorCode, CONTAINER_EPHEMERAL_OWNER, MAX_TTL};
use crate::proto::records::{Acl, Id, WriteOp};
use crate::tree::{acl, parent_of, path, DataTree};
use crate::txn::Txn;

/// Who is asking: the session and the identities its connection holds.
pub struct Caller<'a> {
    pub session_id: i64,
    pub auth: &'a [Id],
    pub addr: Option<std::net::IpAddr>,
    /// zoo.cfg `skipACL=yes`: every permission check passes, as in ZooKeeper.
    pub skip_acl: bool,
}

impl Caller<'_> {
    fn may(&self, acl: &[Acl], wanted: i32) -> bool {
        self.skip_acl || acl::allowed(acl, wanted, self.auth, self.addr)
    }
}

fn check_version(current: i32, expected: i32) -> Result<(), ErrorCode> {
    if expected == -1 || expected == current {
        Ok(())
    } else {
        Err(ErrorCode::BadVersion)
    }
}

pub(crate) fn require(tree: &DataTree, p: &str, wanted: i32, who: &Caller) -> Result<(), ErrorCode> {
    let n = tree.get(p).ok_or(ErrorCode::NoNode)?;
    if who.may(&n.acl, wanted) {
        Ok(())
    } else {
        Err(ErrorCode::NoAuth)
    }
}

/// Validates one write against the current tree and returns its transaction.
pub fn prep_write(tree: &DataTree, w: &WriteOp, who: &Caller, max_data: usize) -> Result<Txn, ErrorCode> {
    match w {
        WriteOp::Create { opcode, req } => {
            let mode = CreateMode::from_flag(req.flags).ok_or(ErrorCode::BadArguments)?;
            let owner = match *opcode {
                op::CREATE_CONTAINER if mode != CreateMode::Container => return Err(ErrorCode::BadArguments),
                op::CREATE_TTL => {
                    if !mode.is_ttl() || req.ttl <= 0 || req.ttl > MAX_TTL {
                        return Err(ErrorCode::BadArguments);
                    }
                    ttl_owner(req.ttl)
                }
                _ if mode.is_ttl() => return Err(ErrorCode::BadArguments),
                _ if mode == CreateMode::Container => CONTAINER_EPHEMERAL_OWNER,
                _ if mode.is_ephemeral() => who.session_id,
                _ => 0,
            };
            path::validate(&req.path, mode.is_sequential()).map_err(|_| ErrorCode::BadArguments)?;
            if req.data.len() > max_data {
                return Err(ErrorCode::BadArguments);
            }
            let acl = acl::fixup(&req.acl, who.auth).ok_or(ErrorCode::InvalidAcl)?;
            let parent_path = parent_of(&req.path);
            let parent = tree.get(parent_path).ok_or(ErrorCode::NoNode)?;
            if !who.may(&parent.acl, perm::CREATE) {
                return Err(ErrorCode::NoAuth);
            }
            let full = if mode.is_sequential() {
                format!("{}{:010}", req.path, parent.stat.cversion)
            } else {
                req.path.clone()
            };
            path::validate(&full, false).map_err(|_| ErrorCode::BadArguments)?;
            if tree.get(&full).is_some() {
                return Err(ErrorCode::NodeExists);
            }
            if matches!(crate::proto::codes::owner_kind(parent.stat.ephemeral_owner), crate::proto::codes::OwnerKind::Session(_)) {
                return Err(ErrorCode::NoChildrenForEphemerals);
            }
            Ok(Txn::Create {
                path: full,
                data: req.data.clone(),
                acl,
                ephemeral_owner: owner,
                parent_cversion: parent.stat.cversion + 1,
            })
        }
        WriteOp::Delete { path: p, version } => {
            path::validate(p, false).map_err(|_| ErrorCode::BadArguments)?;
            if p == "/" {
                return Err(ErrorCode::BadArguments);
            }
            let parent = tree.get(parent_of(p)).ok_or(ErrorCode::NoNode)?;
            let node = tree.get(p).ok_or(ErrorCode::NoNode)?;
            if !who.may(&parent.acl, perm::DELETE) {
                return Err(ErrorCode::NoAuth);
            }
            check_version(node.stat.version, *version)?;
            if !node.children.is_empty() {
                return Err(ErrorCode::NotEmpty);
            }
            Ok(Txn::Delete { path: p.clone() })
        }
        WriteOp::SetData { path: p, data, version } => {
            path::validate(p, false).map_err(|_| ErrorCode::BadArguments)?;
            if data.len() > max_data {
                return Err(ErrorCode::BadArguments);
            }
            require(tree, p, perm::WRITE, who)?;
            let node = tree.get(p).ok_or(ErrorCode::NoNode)?;
            check_version(node.stat.version, *version)?;
            Ok(Txn::SetData { path: p.clone(), data: data.clone(), version: node.stat.version.wrapping_add(1) })
        }
        WriteOp::Check { path: p, version } => {
            path::validate(p, false).map_err(|_| ErrorCode::BadArguments)?;
            require(tree, p, perm::READ, who)?;
            let node = tree.get(p).ok_or(ErrorCode::NoNode)?;
            check_version(node.stat.version, *version)?;
            Ok(Txn::Check { path: p.clone() })
        }
    }
}

pub fn prep_set_acl(tree: &DataTree, p: &str, acls: &[Acl], version: i32, who: &Caller) -> Result<Txn, ErrorCode> {
    path::validate(p, false).map_err(|_| ErrorCode::BadArguments)?;
    let fixed = acl::fixup(acls, who.auth).ok_or(ErrorCode::InvalidAcl)?;
    // ZooKeeper 3.8 checks the version before the ADMIN permission.
    let node = tree.get(p).ok_or(ErrorCode::NoNode)?;
    check_version(node.stat.aversion, version)?;
    require(tree, p, perm::ADMIN, who)?;
    Ok(Txn::SetAcl { path: p.to_string(), acl: fixed, aversion: node.stat.aversion.wrapping_add(1) })
}
