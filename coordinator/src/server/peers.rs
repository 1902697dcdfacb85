//! The quorum transport: one outgoing TCP connection per peer (reconnected with backoff) and
//! the listener for the peers' connections to us. Messages are fire-and-forget: consensus
//! tolerates loss, and what waits on a lost forward is given up by the processor's timeout.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use crate::consensus::wire::{self, PeerMsg};
use crate::consensus::NodeId;

/// Frames queued for one peer before new ones are dropped.
const QUEUE: usize = 16 * 1024;

pub struct Peers {
    me: NodeId,
    senders: HashMap<NodeId, (String, mpsc::Sender<Vec<u8>>)>,
    stop: watch::Receiver<bool>,
}

impl Peers {
    /// Starts sending to a peer (a new member), or redirects to its new address.
    pub fn ensure(&mut self, id: NodeId, addr: String) {
        if id == self.me || self.senders.get(&id).is_some_and(|(a, _)| *a == addr) {
            return;
        }
        tracing::info!(peer = id, %addr, "quorum peer added");
        let (tx, rx) = mpsc::channel(QUEUE);
        self.senders.insert(id, (addr.clone(), tx));
        tokio::spawn(sender(self.me, id, addr, rx, self.stop.clone()));
    }

    pub fn send(&self, to: NodeId, m: &PeerMsg) {
        if let Some((_, tx)) = self.senders.get(&to) {
            if tx.try_send(wire::encode(m)).is_err() {
                tracing::debug!(to, "quorum queue full or closed; message dropped");
            }
        }
    }
}

/// Starts the listener and one sender task per peer (`host:port` of its quorum port).
/// `gone` hears of every peer whose connection to us closed (a killed leader is noticed at
/// once, not after an election timeout).
pub fn start(
    me: NodeId,
    listener: TcpListener,
    peers: Vec<(NodeId, String)>,
    inbox: mpsc::Sender<(NodeId, PeerMsg)>,
    gone: mpsc::Sender<NodeId>,
    stop: watch::Receiver<bool>,
) -> Peers {
    tokio::spawn(accept(listener, inbox, gone, stop.clone()));
    let mut p = Peers { me, senders: HashMap::new(), stop };
    for (id, addr) in peers {
        p.ensure(id, addr);
    }
    p
}

async fn sender(me: NodeId, to: NodeId, addr: String, mut rx: mpsc::Receiver<Vec<u8>>, mut stop: watch::Receiver<bool>) {
    let mut backoff = Duration::from_millis(50);
    let mut warned = false;
    // Frames written to a connection that turned out to be dead, sent again on the next one.
    let mut unsent: Vec<Vec<u8>> = Vec::new();
    loop {
        if *stop.borrow() {
            return;
        }
        let sock = tokio::select! {
            r = tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(&addr)) => r,
            _ = stop.changed() => return,
        };
        let sock = match sock {
            Ok(Ok(s)) => s,
            other => {
                if !warned {
                    let why = match other {
                        Ok(Err(e)) => e.to_string(),
                        _ => "timed out".into(),
                    };
                    tracing::info!(peer = to, %addr, error = %why, "cannot reach peer yet; retrying");
                    warned = true;
                }
                // What was queued while the peer was away is stale: drop it.
                unsent.clear();
                while rx.try_recv().is_ok() {}
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => return,
                }
                backoff = (backoff * 2).min(Duration::from_millis(500));
                continue;
            }
        };
        backoff = Duration::from_millis(50);
        if warned {
            tracing::info!(peer = to, %addr, "connected to peer");
            warned = false;
        }
        let _ = sock.set_nodelay(true);
        let (mut rd, wr) = sock.into_split();
        let mut w = BufWriter::with_capacity(256 * 1024, wr);
        if w.write_all(&wire::hello(me)).await.is_err() || w.flush().await.is_err() {
            continue;
        }
        // The peer never writes on this connection: a read that ends means it is gone (a
        // restarted peer's old connection), so nothing more is written into it.
        let mut probe = [0u8; 1];
        let mut batch: Vec<Vec<u8>> = std::mem::take(&mut unsent);
        loop {
            if batch.is_empty() {
                tokio::select! {
                    biased;
                    _ = rd.read(&mut probe) => break,
                    _ = stop.changed() => return,
                    f = rx.recv() => match f { Some(f) => batch.push(f), None => return },
                }
            }
            while batch.len() < 1024 {
                match rx.try_recv() {
                    Ok(f) => batch.push(f),
                    Err(_) => break,
                }
            }
            let mut failed = false;
            for f in &batch {
                if w.write_all(f).await.is_err() {
                    failed = true;
                    break;
                }
            }
            if failed || w.flush().await.is_err() {
                unsent = batch;
                break;
            }
            // Written to the kernel; if the peer died just before, the read below tells.
            batch.clear();
        }
        tracing::info!(peer = to, %addr, "lost the connection to peer; reconnecting");
        warned = true;
    }
}

async fn accept(listener: TcpListener, inbox: mpsc::Sender<(NodeId, PeerMsg)>, gone: mpsc::Sender<NodeId>, mut stop: watch::Receiver<bool>) {
    loop {
        let (sock, from) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "quorum accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let inbox = inbox.clone();
        let stop = stop.clone();
        let gone = gone.clone();
        tokio::spawn(async move {
            let mut peer = None;
            if let Err(e) = receive(sock, inbox, stop, &mut peer).await {
                tracing::info!(%from, peer = ?peer, error = %e, "quorum connection closed");
            }
            if let Some(id) = peer {
                let _ = gone.try_send(id);
            }
        });
    }
}

async fn receive(mut sock: TcpStream, inbox: mpsc::Sender<(NodeId, PeerMsg)>, mut stop: watch::Receiver<bool>, peer: &mut Option<NodeId>) -> Result<(), String> {
    let _ = sock.set_nodelay(true);
    let mut hello = [0u8; 16];
    tokio::time::timeout(Duration::from_secs(5), sock.read_exact(&mut hello)).await.map_err(|_| "no hello within 5 s".to_string())?.map_err(|e| e.to_string())?;
    let from = wire::parse_hello(&hello)?;
    *peer = Some(from);
    let mut r = tokio::io::BufReader::with_capacity(256 * 1024, sock);
    loop {
        let mut len = [0u8; 4];
        tokio::select! {
            x = r.read_exact(&mut len) => { x.map_err(|e| e.to_string())?; }
            _ = stop.changed() => return Ok(()),
        }
        let n = u32::from_be_bytes(len) as usize;
        if n > wire::MAX_FRAME {
            return Err(format!("peer {from} sent a frame of {n} bytes (limit {})", wire::MAX_FRAME));
        }
        // Read as the bytes arrive: a length alone never makes us reserve memory.
        let mut body = Vec::with_capacity(n.min(1 << 20));
        (&mut r).take(n as u64).read_to_end(&mut body).await.map_err(|e| e.to_string())?;
        if body.len() != n {
            return Err(format!("peer {from} closed the connection inside a frame"));
        }
        let m = wire::decode(&body).map_err(|e| format!("peer {from} sent a bad frame: {e}"))?;
        if inbox.send((from, m)).await.is_err() {
            return Ok(());
        }
    }
}

/// Resolves `host:port` once (for the listener).
pub async fn resolve(addr: &str) -> Option<SocketAddr> {
    tokio::net::lookup_host(addr).await.ok()?.next()
}
