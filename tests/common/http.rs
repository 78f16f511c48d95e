//! A loopback HTTP/1.1 server answering recorded responses, for peers like the Supervisor or an
//! SML bridge.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub struct Response {
    pub status: &'static str,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// Further header lines, each ending in CRLF.
    pub headers: String,
}

impl Response {
    pub fn json(status: &'static str, body: &str) -> Self {
        Self {
            status,
            content_type: "application/json",
            body: body.as_bytes().to_vec(),
            headers: String::new(),
        }
    }

    pub fn bytes(body: Vec<u8>) -> Self {
        Self {
            status: "200 OK",
            content_type: "application/octet-stream",
            body,
            headers: String::new(),
        }
    }
}

/// Serves `answer(request head, lower-cased)` on a free port until the handle is dropped.
pub async fn serve(
    answer: impl Fn(&str) -> Response + Send + 'static,
) -> (u16, tokio::task::JoinHandle<()>) {
    serve_exact(move |head| answer(&head.to_lowercase())).await
}

/// Like [`serve`], with the request head as sent (for peers that check its exact bytes).
pub async fn serve_exact(
    answer: impl Fn(&str) -> Response + Send + 'static,
) -> (u16, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let mut req = vec![0u8; 8192];
            let n = s.read(&mut req).await.unwrap_or(0);
            let head = String::from_utf8_lossy(&req[..n]).to_string();
            let r = answer(&head);
            let head = format!(
                "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n{}\r\n",
                r.status,
                r.content_type,
                r.body.len(),
                r.headers
            );
            // One write: a head and a body in two small writes would wait for the peer's
            // delayed ACK (Nagle), 40 ms a request.
            let mut answer = head.into_bytes();
            answer.extend_from_slice(&r.body);
            let _ = s.write_all(&answer).await;
        }
    });
    (port, task)
}
