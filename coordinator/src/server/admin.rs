//! A small HTTP/1.1 endpoint in the shape of ZooKeeper's AdminServer: `GET /commands/<name>`
//! answers JSON; `GET /commands` lists the names. Fit for Kubernetes probes.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

use super::Input;

const NAMES: &[&str] = &["ruok", "server_stats", "stats", "monitor", "configuration", "connections", "environment", "is_read_only", "watch_summary", "dump"];

pub async fn serve(listener: TcpListener, inputs: mpsc::Sender<Input>) {
    loop {
        let Ok((mut sock, _)) = listener.accept().await else { continue };
        let inputs = inputs.clone();
        tokio::spawn(async move {
            let mut buf = Vec::with_capacity(1024);
            let mut chunk = [0u8; 1024];
            let read = tokio::time::timeout(std::time::Duration::from_secs(5), async {
                loop {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return false,
                        Ok(n) => {
                            buf.extend_from_slice(&chunk[..n]);
                            if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n") {
                                return true;
                            }
                            if buf.len() > 16 * 1024 {
                                return false;
                            }
                        }
                    }
                }
            })
            .await;
            if !matches!(read, Ok(true)) {
                return;
            }
            let head = String::from_utf8_lossy(&buf);
            let mut parts = head.split_whitespace();
            let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let path = target.split('?').next().unwrap_or("");
            let (status, body) = if method != "GET" && method != "HEAD" {
                ("405 Method Not Allowed", serde_json::json!({"error": "only GET is supported"}))
            } else if path == "/commands" || path == "/commands/" {
                ("200 OK", serde_json::json!({"commands": NAMES}))
            } else if let Some(name) = path.strip_prefix("/commands/") {
                let (tx, rx) = oneshot::channel();
                if inputs.send(Input::Admin { name: name.trim_end_matches('/').to_string(), reply: tx }).await.is_err() {
                    return;
                }
                match rx.await {
                    Ok(Some(v)) => ("200 OK", v),
                    _ => ("404 Not Found", serde_json::json!({"command": name, "error": format!("Command not found: {name}")})),
                }
            } else {
                ("404 Not Found", serde_json::json!({"error": "try /commands"}))
            };
            let text = serde_json::to_string_pretty(&body).unwrap_or_default();
            let resp = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                text.len(),
                if method == "HEAD" { "" } else { text.as_str() }
            );
            let _ = sock.write_all(resp.as_bytes()).await;
            let _ = sock.shutdown().await;
        });
    }
}
