//! One client connection: frames in, requests handled in order, responses out through a bounded
//! queue to a writer task (so a client that stops reading only stalls itself).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use futures::FutureExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::broker::Broker;
use crate::handlers::{self, Conn, Reply};
use crate::wire::{self, Parsed};

const OUTBOUND_QUEUE: usize = 32;

pub async fn serve(broker: Arc<Broker>, stream: TcpStream, peer: SocketAddr, listener: String) {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<bytes::Bytes>(OUTBOUND_QUEUE);
    let writer = tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            if wr.write_all(&frame).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    });
    let sasl = broker.config.protocol_of(&listener) == "SASL_PLAINTEXT";
    let mut conn = Conn { listener, client_host: format!("/{}", peer.ip()), authenticated: !sasl, sasl_mechanism: None, sasl_user: None };
    let max = broker.config.socket_request_max_bytes;
    let mut buf = BytesMut::with_capacity(64 * 1024);
    'conn: loop {
        loop {
            let frame = match wire::split_frame(&mut buf, max) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "closing connection");
                    break 'conn;
                }
            };
            let reply = match wire::parse(frame) {
                Parsed::Garbage(why) => {
                    tracing::warn!(%peer, why, "closing connection");
                    break 'conn;
                }
                Parsed::Unsupported { api_key, version, correlation_id } => {
                    tracing::info!(%peer, api_key, version, "unsupported API key or version");
                    Reply::Frame(wire::unsupported_response(correlation_id))
                }
                Parsed::Request { header, key, body } => {
                    let fut = handlers::dispatch(&broker, &mut conn, &header, key, body);
                    match std::panic::AssertUnwindSafe(fut).catch_unwind().await {
                        Ok(r) => r,
                        Err(_) => Reply::Close(format!("handler for {key:?} panicked")),
                    }
                }
            };
            match reply {
                Reply::Frame(b) => {
                    if tx.send(b).await.is_err() {
                        break 'conn;
                    }
                }
                Reply::Nothing => {}
                Reply::Close(why) => {
                    tracing::warn!(%peer, why, "closing connection");
                    break 'conn;
                }
            }
        }
        match rd.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    drop(tx);
    let _ = writer.await;
}
