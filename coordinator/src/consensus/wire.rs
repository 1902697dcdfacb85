//! What ensemble members send each other on the quorum port, and its byte encoding (sans-io).
//!
//! A connection starts with a hello (`magic`, protocol version, the sender's server id) and then
//! carries frames `len: u32 | body`. Bodies are jute-style big-endian records. Decoding is
//! total: bad bytes give an error, never a panic, and lengths are checked against the input
//! before anything is allocated.

use super::{Entry, Message, NodeId};
use crate::proto::jute::{JuteError, Reader, Writer};
use crate::proto::records::Id;

pub const MAGIC: u32 = 0x5354_5251; // "STRQ"
pub const VERSION: u32 = 1;
/// The largest frame a member accepts: an append carries at most a few MiB of entries, a
/// snapshot the whole tree.
pub const MAX_FRAME: usize = 1 << 30;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerMsg {
    Raft(Message),
    /// A write request from a follower's client, to be decided by the leader.
    Forward { session_id: i64, addr: String, auth: Vec<Id>, body: Vec<u8> },
    /// A new session accepted by a follower.
    CreateSession { session_id: i64, timeout: i32, passwd: Vec<u8> },
    /// Sessions that were alive on a follower since its last report.
    Touch { sessions: Vec<i64> },
    /// A client's `sync` on a follower: the leader answers with its commit index.
    SyncRequest { session_id: i64, xid: i32 },
    SyncReply { session_id: i64, xid: i32, index: u64 },
}

const T_VOTE: i32 = 1;
const T_VOTE_REPLY: i32 = 2;
const T_APPEND: i32 = 3;
const T_APPEND_REPLY: i32 = 4;
const T_SNAPSHOT: i32 = 5;
const T_FORWARD: i32 = 10;
const T_CREATE_SESSION: i32 = 11;
const T_TOUCH: i32 = 12;
const T_SYNC_REQUEST: i32 = 13;
const T_SYNC_REPLY: i32 = 14;

fn ulong(w: &mut Writer, v: u64) {
    w.long(v as i64);
}

fn read_u64(r: &mut Reader) -> Result<u64, JuteError> {
    Ok(r.long()? as u64)
}

pub fn hello(id: NodeId) -> Vec<u8> {
    let mut v = Vec::with_capacity(16);
    v.extend_from_slice(&MAGIC.to_be_bytes());
    v.extend_from_slice(&VERSION.to_be_bytes());
    v.extend_from_slice(&id.to_be_bytes());
    v
}

/// Reads a hello: the sender's id, or why it is not one.
pub fn parse_hello(b: &[u8; 16]) -> Result<NodeId, String> {
    let magic = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let version = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
    if magic != MAGIC {
        return Err(format!("not a strom-coordinator quorum connection (magic {magic:#x})"));
    }
    if version != VERSION {
        return Err(format!("quorum protocol version {version}, this server speaks {VERSION}"));
    }
    Ok(u64::from_be_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]))
}

/// A whole frame: length prefix and body.
pub fn encode(m: &PeerMsg) -> Vec<u8> {
    let mut w = Writer::framed();
    match m {
        PeerMsg::Raft(Message::Vote { term, last_index, last_term, pre }) => {
            w.int(T_VOTE);
            ulong(&mut w, *term);
            ulong(&mut w, *last_index);
            ulong(&mut w, *last_term);
            w.boolean(*pre);
        }
        PeerMsg::Raft(Message::VoteReply { term, granted, pre }) => {
            w.int(T_VOTE_REPLY);
            ulong(&mut w, *term);
            w.boolean(*granted).boolean(*pre);
        }
        PeerMsg::Raft(Message::Append { term, prev_index, prev_term, entries, commit }) => {
            w.int(T_APPEND);
            ulong(&mut w, *term);
            ulong(&mut w, *prev_index);
            ulong(&mut w, *prev_term);
            ulong(&mut w, *commit);
            w.int(entries.len() as i32);
            for e in entries {
                ulong(&mut w, e.term);
                ulong(&mut w, e.index);
                w.buffer(&e.data);
            }
        }
        PeerMsg::Raft(Message::AppendReply { term, success, matched }) => {
            w.int(T_APPEND_REPLY);
            ulong(&mut w, *term);
            w.boolean(*success);
            ulong(&mut w, *matched);
        }
        PeerMsg::Raft(Message::Snapshot { term, index, snap_term, voters, data }) => {
            w.int(T_SNAPSHOT);
            ulong(&mut w, *term);
            ulong(&mut w, *index);
            ulong(&mut w, *snap_term);
            w.int(voters.len() as i32);
            for v in voters {
                ulong(&mut w, *v);
            }
            w.buffer(data);
        }
        PeerMsg::Forward { session_id, addr, auth, body } => {
            w.int(T_FORWARD).long(*session_id).ustring(addr).int(auth.len() as i32);
            for id in auth {
                w.ustring(&id.scheme).ustring(&id.id);
            }
            w.buffer(body);
        }
        PeerMsg::CreateSession { session_id, timeout, passwd } => {
            w.int(T_CREATE_SESSION).long(*session_id).int(*timeout).buffer(passwd);
        }
        PeerMsg::Touch { sessions } => {
            w.int(T_TOUCH).int(sessions.len() as i32);
            for s in sessions {
                w.long(*s);
            }
        }
        PeerMsg::SyncRequest { session_id, xid } => {
            w.int(T_SYNC_REQUEST).long(*session_id).int(*xid);
        }
        PeerMsg::SyncReply { session_id, xid, index } => {
            w.int(T_SYNC_REPLY).long(*session_id).int(*xid);
            ulong(&mut w, *index);
        }
    }
    w.finish_frame()
}

/// Decodes one frame body (without its length prefix).
pub fn decode(body: &[u8]) -> Result<PeerMsg, JuteError> {
    let mut r = Reader::new(body);
    let m = match r.int()? {
        T_VOTE => PeerMsg::Raft(Message::Vote { term: read_u64(&mut r)?, last_index: read_u64(&mut r)?, last_term: read_u64(&mut r)?, pre: r.boolean()? }),
        T_VOTE_REPLY => PeerMsg::Raft(Message::VoteReply { term: read_u64(&mut r)?, granted: r.boolean()?, pre: r.boolean()? }),
        T_APPEND => {
            let term = read_u64(&mut r)?;
            let prev_index = read_u64(&mut r)?;
            let prev_term = read_u64(&mut r)?;
            let commit = read_u64(&mut r)?;
            // Each entry takes at least 20 bytes: the count cannot promise more than the input has.
            let n = r.count()?;
            if n > r.remaining() / 20 {
                return Err(JuteError::Invalid(format!("append claims {n} entries in {} bytes", r.remaining())));
            }
            let mut entries = Vec::with_capacity(n);
            for _ in 0..n {
                entries.push(Entry { term: read_u64(&mut r)?, index: read_u64(&mut r)?, data: r.buffer()? });
            }
            // Indexes must follow prev_index one by one.
            if entries.iter().enumerate().any(|(i, e)| e.index != prev_index + 1 + i as u64) {
                return Err(JuteError::Invalid("append entries are not consecutive".into()));
            }
            PeerMsg::Raft(Message::Append { term, prev_index, prev_term, entries, commit })
        }
        T_APPEND_REPLY => PeerMsg::Raft(Message::AppendReply { term: read_u64(&mut r)?, success: r.boolean()?, matched: read_u64(&mut r)? }),
        T_SNAPSHOT => {
            let (term, index, snap_term) = (read_u64(&mut r)?, read_u64(&mut r)?, read_u64(&mut r)?);
            let n = r.count()?;
            if n > r.remaining() / 8 {
                return Err(JuteError::Invalid(format!("snapshot claims {n} voters in {} bytes", r.remaining())));
            }
            let mut voters = Vec::with_capacity(n);
            for _ in 0..n {
                voters.push(read_u64(&mut r)?);
            }
            PeerMsg::Raft(Message::Snapshot { term, index, snap_term, voters, data: r.buffer()? })
        }
        T_FORWARD => {
            let session_id = r.long()?;
            let addr = r.ustring()?;
            let n = r.count()?;
            if n > r.remaining() / 8 {
                return Err(JuteError::Invalid(format!("forward claims {n} identities in {} bytes", r.remaining())));
            }
            let mut auth = Vec::with_capacity(n);
            for _ in 0..n {
                auth.push(Id { scheme: r.ustring()?, id: r.ustring()? });
            }
            PeerMsg::Forward { session_id, addr, auth, body: r.buffer()? }
        }
        T_CREATE_SESSION => PeerMsg::CreateSession { session_id: r.long()?, timeout: r.int()?, passwd: r.buffer()? },
        T_TOUCH => {
            let n = r.count()?;
            if n > r.remaining() / 8 {
                return Err(JuteError::Invalid(format!("touch claims {n} sessions in {} bytes", r.remaining())));
            }
            let mut sessions = Vec::with_capacity(n);
            for _ in 0..n {
                sessions.push(r.long()?);
            }
            PeerMsg::Touch { sessions }
        }
        T_SYNC_REQUEST => PeerMsg::SyncRequest { session_id: r.long()?, xid: r.int()? },
        T_SYNC_REPLY => PeerMsg::SyncReply { session_id: r.long()?, xid: r.int()?, index: read_u64(&mut r)? },
        t => return Err(JuteError::Invalid(format!("unknown quorum message type {t}"))),
    };
    if r.remaining() != 0 {
        return Err(JuteError::Invalid(format!("{} trailing bytes after a quorum message", r.remaining())));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn roundtrip(m: PeerMsg) {
        let f = encode(&m);
        let len = u32::from_be_bytes([f[0], f[1], f[2], f[3]]) as usize;
        assert_eq!(len, f.len() - 4);
        assert_eq!(decode(&f[4..]).unwrap(), m);
    }

    #[test]
    fn every_message_roundtrips() {
        roundtrip(PeerMsg::Raft(Message::Vote { term: 7, last_index: 9, last_term: 6, pre: true }));
        roundtrip(PeerMsg::Raft(Message::VoteReply { term: 7, granted: false, pre: false }));
        roundtrip(PeerMsg::Raft(Message::Append {
            term: 3,
            prev_index: 10,
            prev_term: 2,
            entries: vec![Entry { term: 3, index: 11, data: vec![] }, Entry { term: 3, index: 12, data: b"x".to_vec() }],
            commit: 10,
        }));
        roundtrip(PeerMsg::Raft(Message::AppendReply { term: 3, success: true, matched: 12 }));
        roundtrip(PeerMsg::Raft(Message::Snapshot { term: 4, index: 100, snap_term: 3, voters: vec![1, 2, 3], data: b"tree".to_vec() }));
        roundtrip(PeerMsg::Forward { session_id: -5, addr: "127.0.0.1".into(), auth: vec![Id { scheme: "digest".into(), id: "u:h".into() }], body: vec![1, 2, 3] });
        roundtrip(PeerMsg::CreateSession { session_id: 1 << 56, timeout: 4000, passwd: vec![9; 16] });
        roundtrip(PeerMsg::Touch { sessions: vec![1, 2, 3] });
        roundtrip(PeerMsg::SyncRequest { session_id: 4, xid: 8 });
        roundtrip(PeerMsg::SyncReply { session_id: 4, xid: 8, index: 99 });
        assert_eq!(parse_hello(&hello(3).try_into().unwrap()), Ok(3));
        assert!(parse_hello(&[0u8; 16]).is_err());
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(decode(&[]).is_err());
        assert!(decode(&[0, 0, 0, 99]).is_err());
        // An append promising 2^31 entries in a few bytes.
        let mut b = vec![0, 0, 0, 3];
        b.extend_from_slice(&[0u8; 32]);
        b.extend_from_slice(&i32::MAX.to_be_bytes());
        assert!(decode(&b).is_err());
        // Entries that skip an index.
        let m = PeerMsg::Raft(Message::Append { term: 1, prev_index: 0, prev_term: 0, entries: vec![Entry { term: 1, index: 2, data: vec![] }], commit: 0 });
        assert!(decode(&encode(&m)[4..]).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&b);
        }
    }
}
