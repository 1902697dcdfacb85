//! A minimal Kafka client for broker-to-broker requests (a follower's Fetch and
//! OffsetForLeaderEpoch): one connection, one request at a time, codecs from `kafka-protocol`.

use std::time::Duration;

use bytes::{Buf, BufMut, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("connect to {addr}: {source}")]
    Connect { addr: String, source: std::io::Error },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("bad response: {0}")]
    Protocol(String),
}

pub struct KafkaConn {
    stream: TcpStream,
    pub addr: String,
    correlation: i32,
    client_id: String,
    max_frame: usize,
}

impl KafkaConn {
    pub async fn connect(addr: &str, client_id: &str, timeout: Duration) -> Result<KafkaConn, ClientError> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| ClientError::Connect { addr: addr.to_string(), source: std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out") })?
            .map_err(|source| ClientError::Connect { addr: addr.to_string(), source })?;
        let _ = stream.set_nodelay(true);
        Ok(KafkaConn { stream, addr: addr.to_string(), correlation: 0, client_id: client_id.to_string(), max_frame: 256 << 20 })
    }

    /// Sends `req` at `version` and waits up to `timeout` for its response.
    pub async fn send<R: Request>(&mut self, req: &R, version: i16, timeout: Duration) -> Result<R::Response, ClientError> {
        self.correlation = self.correlation.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(StrBytes::from_string(self.client_id.clone())));
        let mut body = BytesMut::new();
        body.put_i32(0);
        header.encode(&mut body, R::header_version(version)).map_err(|e| ClientError::Protocol(format!("encode header: {e}")))?;
        req.encode(&mut body, version).map_err(|e| ClientError::Protocol(format!("encode request: {e}")))?;
        let len = (body.len() - 4) as i32;
        body[..4].copy_from_slice(&len.to_be_bytes());
        let exchange = async {
            self.stream.write_all(&body).await?;
            let n = self.stream.read_i32().await?;
            if n < 0 || n as usize > self.max_frame {
                return Err(ClientError::Protocol(format!("response frame of {n} bytes")));
            }
            let mut buf = vec![0u8; n as usize];
            self.stream.read_exact(&mut buf).await?;
            Ok(bytes::Bytes::from(buf))
        };
        let mut frame = tokio::time::timeout(timeout, exchange).await.map_err(|_| ClientError::Timeout(timeout))??;
        let rh = ResponseHeader::decode(&mut frame, R::Response::header_version(version)).map_err(|e| ClientError::Protocol(format!("response header: {e}")))?;
        if rh.correlation_id != self.correlation {
            return Err(ClientError::Protocol(format!("correlation id {} answered {}", self.correlation, rh.correlation_id)));
        }
        let resp = R::Response::decode(&mut frame, version).map_err(|e| ClientError::Protocol(format!("response body: {e}")))?;
        if frame.has_remaining() {
            tracing::debug!(remaining = frame.remaining(), "response had trailing bytes");
        }
        Ok(resp)
    }
}
