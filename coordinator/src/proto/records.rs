//! Jute records of the client protocol (`zookeeper.jute`): requests decoded from frames,
//! responses encoded into frames. Pure: no I/O.

use crate::proto::jute::Payload;
use super::codes::{op, ErrorCode};
use super::jute::{JuteError, Reader, Result, Writer};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stat {
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    pub ephemeral_owner: i64,
    pub data_length: i32,
    pub num_children: i32,
    pub pzxid: i64,
}

impl Stat {
    pub fn write(&self, w: &mut Writer) {
        w.long(self.czxid)
            .long(self.mzxid)
            .long(self.ctime)
            .long(self.mtime)
            .int(self.version)
            .int(self.cversion)
            .int(self.aversion)
            .long(self.ephemeral_owner)
            .int(self.data_length)
            .int(self.num_children)
            .long(self.pzxid);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Id {
    pub scheme: String,
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Acl {
    pub perms: i32,
    pub id: Id,
}

impl Acl {
    pub fn world_all() -> Vec<Acl> {
        vec![Acl { perms: super::codes::perm::ALL, id: Id { scheme: "world".into(), id: "anyone".into() } }]
    }
}

pub fn read_acls(r: &mut Reader) -> Result<Vec<Acl>> {
    let n = r.count()?;
    let mut v = Vec::with_capacity(n.min(64));
    for _ in 0..n {
        let perms = r.int()?;
        let scheme = r.ustring()?;
        let id = r.ustring()?;
        v.push(Acl { perms, id: Id { scheme, id } });
    }
    Ok(v)
}

pub fn write_acls(w: &mut Writer, acls: &[Acl]) {
    w.int(acls.len() as i32);
    for a in acls {
        w.int(a.perms).ustring(&a.id.scheme).ustring(&a.id.id);
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectRequest {
    pub protocol_version: i32,
    pub last_zxid_seen: i64,
    pub timeout: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    /// `None` when the client sent no trailing readOnly byte (old clients).
    pub read_only: Option<bool>,
}

impl ConnectRequest {
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body);
        let protocol_version = r.int()?;
        let last_zxid_seen = r.long()?;
        let timeout = r.int()?;
        let session_id = r.long()?;
        let passwd = r.buffer()?;
        let read_only = if r.remaining() >= 1 { Some(r.boolean()?) } else { None };
        Ok(ConnectRequest { protocol_version, last_zxid_seen, timeout, session_id, passwd, read_only })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectResponse {
    pub protocol_version: i32,
    pub timeout: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    pub read_only: Option<bool>,
}

impl ConnectResponse {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::framed();
        w.int(self.protocol_version).int(self.timeout).long(self.session_id).buffer(&self.passwd);
        if let Some(ro) = self.read_only {
            w.boolean(ro);
        }
        w.finish_frame()
    }
}

/// A create of any kind (create, create2, createContainer, createTTL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRequest {
    pub path: String,
    pub data: Payload,
    pub acl: Vec<Acl>,
    pub flags: i32,
    pub ttl: i64,
}

/// The write operations that may appear on their own or inside a multi.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp {
    /// `opcode` is one of create, create2, createContainer, createTTL: it selects the reply shape.
    Create { opcode: i32, req: CreateRequest },
    Delete { path: String, version: i32 },
    SetData { path: String, data: Payload, version: i32 },
    Check { path: String, version: i32 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadOp {
    GetData { path: String, watch: bool },
    GetChildren { path: String, watch: bool },
    Exists { path: String, watch: bool },
    GetChildren2 { path: String, watch: bool },
    GetAcl { path: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Write(WriteOp),
    Read(ReadOp),
    SetAcl { path: String, acl: Vec<Acl>, version: i32 },
    Multi(Vec<WriteOp>),
    MultiRead(Vec<ReadOp>),
    Sync { path: String },
    Ping,
    Auth { auth_type: i32, scheme: String, auth: Vec<u8> },
    SetWatches { relative_zxid: i64, data: Vec<String>, exist: Vec<String>, child: Vec<String>, persistent: Vec<String>, recursive: Vec<String> },
    AddWatch { path: String, mode: i32 },
    RemoveWatches { path: String, watcher_type: i32, remove: bool },
    GetAllChildrenNumber { path: String },
    GetEphemerals { prefix: String },
    WhoAmI,
    CloseSession,
    /// ZooKeeper 3.5's dynamic reconfiguration.
    Reconfig { joining: String, leaving: String, new_members: String, cur_config_id: i64 },
    /// An opcode we know but do not serve (reconfig, sasl, ...) or do not know.
    Unimplemented { opcode: i32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestHeader {
    pub xid: i32,
    pub opcode: i32,
}

fn read_create(r: &mut Reader, opcode: i32) -> Result<CreateRequest> {
    let path = r.ustring()?;
    let data = r.payload()?;
    let acl = read_acls(r)?;
    let flags = r.int()?;
    let ttl = if opcode == op::CREATE_TTL { r.long()? } else { -1 };
    Ok(CreateRequest { path, data, acl, flags, ttl })
}

fn read_write_op(r: &mut Reader, opcode: i32) -> Result<Option<WriteOp>> {
    Ok(Some(match opcode {
        op::CREATE | op::CREATE2 | op::CREATE_CONTAINER | op::CREATE_TTL => {
            WriteOp::Create { opcode, req: read_create(r, opcode)? }
        }
        op::DELETE => WriteOp::Delete { path: r.ustring()?, version: r.int()? },
        op::SET_DATA => WriteOp::SetData { path: r.ustring()?, data: r.payload()?, version: r.int()? },
        op::CHECK => WriteOp::Check { path: r.ustring()?, version: r.int()? },
        _ => return Ok(None),
    }))
}

fn read_read_op(r: &mut Reader, opcode: i32) -> Result<Option<ReadOp>> {
    Ok(Some(match opcode {
        op::GET_DATA => ReadOp::GetData { path: r.ustring()?, watch: r.boolean()? },
        op::GET_CHILDREN => ReadOp::GetChildren { path: r.ustring()?, watch: r.boolean()? },
        op::EXISTS => ReadOp::Exists { path: r.ustring()?, watch: r.boolean()? },
        op::GET_CHILDREN2 => ReadOp::GetChildren2 { path: r.ustring()?, watch: r.boolean()? },
        op::GET_ACL => ReadOp::GetAcl { path: r.ustring()? },
        _ => return Ok(None),
    }))
}

/// Multi ops are `MultiHeader{type, done, err}` + body, ended by a header with done = true.
fn read_multi<T>(r: &mut Reader, mut one: impl FnMut(&mut Reader, i32) -> Result<Option<T>>) -> Result<Vec<T>> {
    let mut ops = Vec::new();
    loop {
        let opcode = r.int()?;
        let done = r.boolean()?;
        let _err = r.int()?;
        if done {
            return Ok(ops);
        }
        match one(r, opcode)? {
            Some(o) => ops.push(o),
            None => return Err(JuteError::Unknown { what: "multi op type", value: opcode as i64 }),
        }
    }
}

/// Decodes a request frame body (header included).
pub fn decode_request(body: &[u8]) -> Result<(RequestHeader, Request)> {
    let mut r = Reader::new(body);
    let xid = r.int()?;
    let opcode = r.int()?;
    let header = RequestHeader { xid, opcode };
    if let Some(w) = read_write_op(&mut r, opcode)? {
        return Ok((header, Request::Write(w)));
    }
    if let Some(rd) = read_read_op(&mut r, opcode)? {
        return Ok((header, Request::Read(rd)));
    }
    let req = match opcode {
        op::SET_ACL => Request::SetAcl { path: r.ustring()?, acl: read_acls(&mut r)?, version: r.int()? },
        op::MULTI => Request::Multi(read_multi(&mut r, read_write_op)?),
        op::MULTI_READ => Request::MultiRead(read_multi(&mut r, read_read_op)?),
        op::SYNC => Request::Sync { path: r.ustring()? },
        op::PING => Request::Ping,
        op::AUTH => Request::Auth { auth_type: r.int()?, scheme: r.ustring()?, auth: r.buffer()? },
        op::SET_WATCHES | op::SET_WATCHES2 => {
            let relative_zxid = r.long()?;
            let data = r.strings()?;
            let exist = r.strings()?;
            let child = r.strings()?;
            let (persistent, recursive) =
                if opcode == op::SET_WATCHES2 { (r.strings()?, r.strings()?) } else { (vec![], vec![]) };
            Request::SetWatches { relative_zxid, data, exist, child, persistent, recursive }
        }
        op::ADD_WATCH => Request::AddWatch { path: r.ustring()?, mode: r.int()? },
        op::REMOVE_WATCHES | op::CHECK_WATCHES => Request::RemoveWatches {
            path: r.ustring()?,
            watcher_type: r.int()?,
            remove: opcode == op::REMOVE_WATCHES,
        },
        op::GET_ALL_CHILDREN_NUMBER => Request::GetAllChildrenNumber { path: r.ustring()? },
        op::GET_EPHEMERALS => Request::GetEphemerals { prefix: r.ustring()? },
        op::WHO_AM_I => Request::WhoAmI,
        op::CLOSE_SESSION => Request::CloseSession,
        op::RECONFIG => Request::Reconfig { joining: r.ustring()?, leaving: r.ustring()?, new_members: r.ustring()?, cur_config_id: r.long()? },
        other => Request::Unimplemented { opcode: other },
    };
    Ok((header, req))
}

/// Starts a reply frame: length placeholder + `ReplyHeader{xid, zxid, err}`.
pub fn reply_header(xid: i32, zxid: i64, err: ErrorCode) -> Writer {
    let mut w = Writer::framed();
    w.int(xid).long(zxid).int(err.code());
    w
}

/// A complete reply frame carrying only a header.
pub fn reply(xid: i32, zxid: i64, err: ErrorCode) -> Vec<u8> {
    reply_header(xid, zxid, err).finish_frame()
}

/// A watch notification frame: xid -1, then `WatcherEvent{type, state, path}`.
pub fn watch_event(zxid: i64, event_type: i32, path: &str) -> Vec<u8> {
    let mut w = reply_header(super::codes::xid::WATCH_EVENT, zxid, ErrorCode::Ok);
    w.int(event_type).int(super::codes::STATE_SYNC_CONNECTED).ustring(path);
    w.finish_frame()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(xid: i32, opcode: i32) -> Writer {
        let mut w = Writer::new();
        w.int(xid).int(opcode);
        w
    }

    #[test]
    fn connect_request_with_and_without_read_only() {
        let mut w = Writer::new();
        w.int(0).long(5).int(30000).long(0).buffer(&[0u8; 16]);
        let without = ConnectRequest::decode(&w.buf).unwrap();
        assert_eq!(without.read_only, None);
        assert_eq!(without.timeout, 30000);
        w.boolean(true);
        assert_eq!(ConnectRequest::decode(&w.buf).unwrap().read_only, Some(true));
    }

    #[test]
    fn decodes_create_and_multi() {
        let mut w = header(7, op::CREATE2);
        w.ustring("/a").buffer(b"x");
        write_acls(&mut w, &Acl::world_all());
        w.int(1);
        let (h, req) = decode_request(&w.buf).unwrap();
        assert_eq!(h, RequestHeader { xid: 7, opcode: op::CREATE2 });
        match req {
            Request::Write(WriteOp::Create { opcode, req }) => {
                assert_eq!(opcode, op::CREATE2);
                assert_eq!(req.path, "/a");
                assert_eq!(req.flags, 1);
            }
            other => panic!("unexpected {other:?}"),
        }

        let mut w = header(8, op::MULTI);
        w.int(op::CHECK).boolean(false).int(-1).ustring("/a").int(3);
        w.int(op::DELETE).boolean(false).int(-1).ustring("/a").int(-1);
        w.int(-1).boolean(true).int(-1);
        let (_, req) = decode_request(&w.buf).unwrap();
        assert_eq!(
            req,
            Request::Multi(vec![
                WriteOp::Check { path: "/a".into(), version: 3 },
                WriteOp::Delete { path: "/a".into(), version: -1 }
            ])
        );
    }

    #[test]
    fn unknown_opcode_is_a_value_not_an_error() {
        let w = header(1, 999);
        assert_eq!(decode_request(&w.buf).unwrap().1, Request::Unimplemented { opcode: 999 });
    }

    #[test]
    fn multi_with_a_read_op_is_an_error() {
        let mut w = header(1, op::MULTI);
        w.int(op::GET_DATA).boolean(false).int(-1).ustring("/a").boolean(false);
        assert!(decode_request(&w.buf).is_err());
    }

    proptest::proptest! {
        #[test]
        fn decoder_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let _ = decode_request(&bytes);
            let _ = ConnectRequest::decode(&bytes);
        }

        #[test]
        fn decoder_never_panics_on_known_opcodes(op in -12i32..110, tail in proptest::collection::vec(proptest::num::u8::ANY, 0..128)) {
            let mut w = header(1, op);
            w.buf.extend_from_slice(&tail);
            let _ = decode_request(&w.buf);
        }
    }
}
