//! One client connection: reads frames and hands them to the processor, writes what the
//! processor sends back. The processor closes a connection by dropping its sender.

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use super::Input;
use crate::proto::frame::{self, Frame};
use crate::watches::ConnId;

/// Outbound frames a connection may have queued before it counts as not reading.
pub const OUTBOUND_QUEUE: usize = 4096;
/// How long a new connection may take to send its first bytes.
const FIRST_BYTES_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// A frame up to this many times jute.maxbuffer is read and refused with an error reply;
/// a larger one closes the connection.
const DRAIN_FACTOR: usize = 16;

/// `write_stall`: how long one write may wait for a client that does not read before the
/// connection is dropped (so a stuck client cannot hold its connection task forever).
pub async fn serve(conn: ConnId, mut sock: TcpStream, inputs: mpsc::Sender<Input>, max_frame: usize, write_stall: std::time::Duration) {
    let peer = sock.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    let addr = sock.peer_addr().map(|a| a.ip()).unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
    let _ = sock.set_nodelay(true);
    let mut buf = BytesMut::with_capacity(8 * 1024);

    // The first four bytes tell a four-letter word from a session.
    let first = tokio::time::timeout(FIRST_BYTES_TIMEOUT, async {
        while buf.len() < 4 {
            if sock.read_buf(&mut buf).await.ok()? == 0 {
                return None;
            }
        }
        Some(())
    })
    .await;
    if !matches!(first, Ok(Some(()))) {
        return;
    }
    if let Some(word) = frame::four_letter_word(&buf[..4]) {
        let (tx, rx) = oneshot::channel();
        if inputs.send(Input::FourLetter { word, peer: peer.clone(), reply: tx }).await.is_ok() {
            if let Ok(text) = rx.await {
                let _ = sock.write_all(text.as_bytes()).await;
            }
        }
        let _ = sock.shutdown().await;
        return;
    }

    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(OUTBOUND_QUEUE);
    if inputs.send(Input::Opened { conn, addr, peer: peer.clone(), out: out_tx }).await.is_err() {
        return;
    }
    let (mut rd, mut wr) = sock.into_split();
    let mut connected = false;
    // Bytes still to skip of an oversized frame.
    let mut discard: usize = 0;
    let mut pending_write: Vec<u8> = Vec::new();
    'conn: loop {
        // Hand every complete frame in the buffer to the processor.
        loop {
            if discard > 0 {
                let n = discard.min(buf.len());
                buf.advance(n);
                discard -= n;
                if discard > 0 {
                    break;
                }
                continue;
            }
            match frame::check(&buf, max_frame) {
                Frame::Incomplete => break,
                Frame::Complete { body_len } => {
                    buf.advance(4);
                    let body = buf.split_to(body_len).to_vec();
                    let msg = if connected { Input::Frame { conn, body } } else { Input::Connect { conn, body } };
                    connected = true;
                    if inputs.send(msg).await.is_err() {
                        break 'conn;
                    }
                }
                Frame::TooLarge { len } => {
                    tracing::warn!(
                        conn, peer, len, max = max_frame,
                        "request exceeds jute.maxbuffer; refusing it"
                    );
                    if !connected || len > max_frame * DRAIN_FACTOR || buf.len() < 8 {
                        break 'conn;
                    }
                    let xid = i32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
                    discard = 4 + len;
                    if inputs.send(Input::Oversized { conn, xid }).await.is_err() {
                        break 'conn;
                    }
                }
                Frame::Invalid { len } => {
                    tracing::warn!(conn, peer, len, "negative frame length; closing");
                    break 'conn;
                }
            }
        }
        tokio::select! {
            r = rd.read_buf(&mut buf) => {
                match r {
                    Ok(0) | Err(_) => break 'conn,
                    Ok(_) => {}
                }
            }
            msg = out_rx.recv() => {
                match msg {
                    None => break 'conn, // the processor closed us
                    Some(frame) => {
                        pending_write.clear();
                        pending_write.extend_from_slice(&frame);
                        while let Ok(more) = out_rx.try_recv() {
                            pending_write.extend_from_slice(&more);
                            if pending_write.len() > 1 << 20 { break; }
                        }
                        match tokio::time::timeout(write_stall, wr.write_all(&pending_write)).await {
                            Ok(Ok(())) => {}
                            Ok(Err(_)) => break 'conn,
                            Err(_) => {
                                tracing::warn!(conn, peer, "client has not read its replies for {write_stall:?}; closing");
                                break 'conn;
                            }
                        }
                    }
                }
            }
        }
    }
    // Flush whatever the processor queued before closing (e.g. the closeSession reply).
    out_rx.close();
    while let Some(frame) = out_rx.recv().await {
        if !matches!(tokio::time::timeout(write_stall, wr.write_all(&frame)).await, Ok(Ok(()))) {
            break;
        }
    }
    let _ = wr.shutdown().await;
    let _ = inputs.send(Input::Closed { conn }).await;
}
