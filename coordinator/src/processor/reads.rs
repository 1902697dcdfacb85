//! Read requests, answered from the local tree: getData, exists, getChildren(2), getACL and
//! multiRead. A watch is registered only when the read succeeds (exists registers one on a
//! missing node too: that is an exist watch).

use super::Processor;
use crate::proto::codes::{op, perm, ErrorCode};
use crate::proto::jute::Writer;
use crate::proto::records::{self, write_acls, ReadOp};
use super::Conn;
use crate::tree::{acl, DataTree, Node};
use crate::watches::{ConnId, Kind};

/// The node at `path` if the connection holds `wanted` permission on it.
/// (`skipACL=yes` lets every read through, as in ZooKeeper.)
fn permitted<'t>(tree: &'t DataTree, c: &Conn, path: &str, wanted: i32, skip_acl: bool) -> Result<&'t Node, ErrorCode> {
    crate::tree::path::validate(path, false).map_err(|_| ErrorCode::BadArguments)?;
    let n = tree.get(path).ok_or(ErrorCode::NoNode)?;
    if skip_acl || acl::allowed(&n.acl, wanted, &c.auth, Some(c.addr)) {
        Ok(n)
    } else {
        Err(ErrorCode::NoAuth)
    }
}

impl Processor {
    pub(super) fn read_check(&self, conn: ConnId, path: &str, wanted: i32) -> Result<(), ErrorCode> {
        permitted(&self.tree, &self.conns[&conn], path, wanted, self.limits.skip_acl).map(|_| ())
    }

    /// Writes the body of a successful read into `w`, or returns the error.
    fn read_body(&mut self, conn: ConnId, r: &ReadOp, w: &mut Writer) -> Result<(), ErrorCode> {
        match r {
            ReadOp::GetData { path, watch } => {
                let n = permitted(&self.tree, &self.conns[&conn], path, perm::READ, self.limits.skip_acl)?;
                if *watch {
                    self.watches.add(conn, Kind::Data, path);
                }
                w.payload(&n.data);
                n.stat().write(w);
            }
            ReadOp::Exists { path, watch } => {
                crate::tree::path::validate(path, false).map_err(|_| ErrorCode::BadArguments)?;
                if *watch {
                    self.watches.add(conn, Kind::Data, path);
                }
                let n = self.tree.get(path).ok_or(ErrorCode::NoNode)?;
                n.stat().write(w);
            }
            ReadOp::GetChildren { path, watch } | ReadOp::GetChildren2 { path, watch } => {
                let n = permitted(&self.tree, &self.conns[&conn], path, perm::READ, self.limits.skip_acl)?;
                if *watch {
                    self.watches.add(conn, Kind::Child, path);
                }
                w.int(n.children.len() as i32);
                for c in &n.children {
                    w.ustring(c);
                }
                if matches!(r, ReadOp::GetChildren2 { .. }) {
                    n.stat().write(w);
                }
            }
            ReadOp::GetAcl { path } => {
                let n = permitted(&self.tree, &self.conns[&conn], path, perm::READ | perm::ADMIN, self.limits.skip_acl)?;
                write_acls(w, &n.acl);
                n.stat().write(w);
            }
        }
        Ok(())
    }

    pub(super) fn read(&mut self, conn: ConnId, xid: i32, r: &ReadOp) -> Vec<u8> {
        let zxid = self.tree.last_zxid;
        let mut w = records::reply_header(xid, zxid, ErrorCode::Ok);
        match self.read_body(conn, r, &mut w) {
            Ok(()) => w.finish_frame(),
            Err(e) => records::reply(xid, zxid, e),
        }
    }

    pub(super) fn multi_read(&mut self, conn: ConnId, xid: i32, ops: &[ReadOp]) -> Vec<u8> {
        let zxid = self.tree.last_zxid;
        let mut w = records::reply_header(xid, zxid, ErrorCode::Ok);
        for r in ops {
            let ty = match r {
                ReadOp::GetData { .. } => op::GET_DATA,
                ReadOp::GetChildren { .. } => op::GET_CHILDREN,
                ReadOp::GetChildren2 { .. } => op::GET_CHILDREN2,
                ReadOp::Exists { .. } => op::EXISTS,
                ReadOp::GetAcl { .. } => op::GET_ACL,
            };
            let mut body = Writer::new();
            match self.read_body(conn, r, &mut body) {
                Ok(()) => {
                    w.int(ty).boolean(false).int(0);
                    w.buf.extend_from_slice(&body.buf);
                }
                Err(e) => {
                    w.int(op::ERROR).boolean(false).int(e.code()).int(e.code());
                }
            }
        }
        w.int(-1).boolean(true).int(-1);
        w.finish_frame()
    }
}
