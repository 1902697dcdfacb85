//! Transactions: every state change, with its zxid, as the log stores it and the state machine
//! applies it. A transaction is the output of validating a request (`prep`), so applying one is
//! deterministic and cannot fail: replaying the log, or a future consensus layer, feeds the same
//! transactions to every copy of the state and gets the same tree.

use crate::proto::jute::Payload;
use crate::proto::jute::{JuteError, Reader, Result, Writer};
use crate::proto::records::{read_acls, write_acls, Acl};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnHeader {
    /// The session that asked for it (0 for server-initiated changes).
    pub session_id: i64,
    /// The client's xid, so a follower can answer the right request.
    pub cxid: i32,
    pub zxid: i64,
    /// Wall-clock milliseconds when the change was decided (ctime/mtime come from here).
    pub time: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Txn {
    CreateSession { timeout: i32, passwd: Vec<u8> },
    CloseSession,
    Create { path: String, data: Payload, acl: Vec<Acl>, ephemeral_owner: i64, parent_cversion: i32 },
    Delete { path: String },
    SetData { path: String, data: Payload, version: i32 },
    SetAcl { path: String, acl: Vec<Acl>, aversion: i32 },
    /// A version check that passed (inside a multi, or on its own).
    Check { path: String },
    Multi(Vec<Txn>),
    /// A write that failed validation: it still takes a zxid, as in ZooKeeper.
    Error { err: i32 },
}

const T_CREATE_SESSION: i32 = -10;
const T_CLOSE_SESSION: i32 = -11;
const T_CREATE: i32 = 1;
const T_DELETE: i32 = 2;
const T_SET_DATA: i32 = 5;
const T_SET_ACL: i32 = 7;
const T_CHECK: i32 = 13;
const T_MULTI: i32 = 14;
const T_ERROR: i32 = -1;

impl Txn {
    pub fn encode(&self, w: &mut Writer) {
        match self {
            Txn::CreateSession { timeout, passwd } => {
                w.int(T_CREATE_SESSION).int(*timeout).buffer(passwd);
            }
            Txn::CloseSession => {
                w.int(T_CLOSE_SESSION);
            }
            Txn::Create { path, data, acl, ephemeral_owner, parent_cversion } => {
                w.int(T_CREATE).ustring(path).payload(data);
                write_acls(w, acl);
                w.long(*ephemeral_owner).int(*parent_cversion);
            }
            Txn::Delete { path } => {
                w.int(T_DELETE).ustring(path);
            }
            Txn::SetData { path, data, version } => {
                w.int(T_SET_DATA).ustring(path).payload(data).int(*version);
            }
            Txn::SetAcl { path, acl, aversion } => {
                w.int(T_SET_ACL).ustring(path);
                write_acls(w, acl);
                w.int(*aversion);
            }
            Txn::Check { path } => {
                w.int(T_CHECK).ustring(path);
            }
            Txn::Multi(txns) => {
                w.int(T_MULTI).int(txns.len() as i32);
                for t in txns {
                    t.encode(w);
                }
            }
            Txn::Error { err } => {
                w.int(T_ERROR).int(*err);
            }
        }
    }

    pub fn decode(r: &mut Reader) -> Result<Txn> {
        let t = r.int()?;
        Ok(match t {
            T_CREATE_SESSION => Txn::CreateSession { timeout: r.int()?, passwd: r.buffer()? },
            T_CLOSE_SESSION => Txn::CloseSession,
            T_CREATE => Txn::Create {
                path: r.ustring()?,
                data: r.payload()?,
                acl: read_acls(r)?,
                ephemeral_owner: r.long()?,
                parent_cversion: r.int()?,
            },
            T_DELETE => Txn::Delete { path: r.ustring()? },
            T_SET_DATA => Txn::SetData { path: r.ustring()?, data: r.payload()?, version: r.int()? },
            T_SET_ACL => Txn::SetAcl { path: r.ustring()?, acl: read_acls(r)?, aversion: r.int()? },
            T_CHECK => Txn::Check { path: r.ustring()? },
            T_MULTI => {
                let n = r.count()?;
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(Txn::decode(r)?);
                }
                Txn::Multi(v)
            }
            T_ERROR => Txn::Error { err: r.int()? },
            other => return Err(JuteError::Unknown { what: "transaction type", value: other as i64 }),
        })
    }
}

impl TxnHeader {
    pub fn encode(&self, w: &mut Writer) {
        w.long(self.session_id).int(self.cxid).long(self.zxid).long(self.time);
    }

    pub fn decode(r: &mut Reader) -> Result<TxnHeader> {
        Ok(TxnHeader { session_id: r.long()?, cxid: r.int()?, zxid: r.long()?, time: r.long()? })
    }
}

/// Encodes a header and transaction as one log record body.
pub fn encode_record(h: &TxnHeader, t: &Txn) -> Vec<u8> {
    let mut w = Writer::new();
    h.encode(&mut w);
    t.encode(&mut w);
    w.buf
}

pub fn decode_record(body: &[u8]) -> Result<(TxnHeader, Txn)> {
    let mut r = Reader::new(body);
    let h = TxnHeader::decode(&mut r)?;
    let t = Txn::decode(&mut r)?;
    Ok((h, t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_roundtrip() {
        let h = TxnHeader { session_id: 9, cxid: 3, zxid: 0x1_0000_0005, time: 1234 };
        let t = Txn::Multi(vec![
            Txn::Create { path: "/a".into(), data: b"d".to_vec().into(), acl: Acl::world_all(), ephemeral_owner: 9, parent_cversion: 4 },
            Txn::SetData { path: "/a".into(), data: Payload::null(), version: 1 },
            Txn::SetAcl { path: "/a".into(), acl: Acl::world_all(), aversion: 2 },
            Txn::Check { path: "/a".into() },
            Txn::Delete { path: "/a".into() },
            Txn::Error { err: -2 },
            Txn::CreateSession { timeout: 4000, passwd: vec![1; 16] },
            Txn::CloseSession,
        ]);
        assert_eq!(decode_record(&encode_record(&h, &t)).unwrap(), (h, t));
    }
}
