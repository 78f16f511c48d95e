//! A Modbus TCP proxy that misbehaves on purpose, in front of a real simulator: it forwards each
//! request and then garbles the answer, swallows it, or sends half of it and stalls.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Every other answer is bytes that are not Modbus (a wrong protocol id, a length that
    /// lies): the client must drop the connection and ask again.
    GarbageEveryOther,
    /// Accepts connections and requests, and never answers.
    Silent,
    /// Sends the first half of each answer and then nothing more, the connection left open.
    HalfAnswer,
}

pub struct Faulty {
    pub port: u16,
    answers: Arc<AtomicU64>,
}

impl Faulty {
    pub async fn start(upstream: std::net::SocketAddr, fault: Fault) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let answers = Arc::new(AtomicU64::new(0));
        let counter = answers.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    let _ = serve(client, upstream, fault, counter).await;
                });
            }
        });
        Self { port, answers }
    }

    pub fn url(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }

    /// Answers the upstream server gave, garbled or not.
    pub fn answers(&self) -> u64 {
        self.answers.load(Ordering::SeqCst)
    }
}

/// One MBAP frame: the 7-byte header and the PDU its length names.
async fn frame(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = [0u8; 7];
    s.read_exact(&mut head).await?;
    let len = usize::from(u16::from_be_bytes([head[4], head[5]])).saturating_sub(1);
    let mut f = head.to_vec();
    f.resize(7 + len, 0);
    s.read_exact(&mut f[7..]).await?;
    Ok(f)
}

async fn serve(
    mut client: TcpStream,
    upstream: std::net::SocketAddr,
    fault: Fault,
    answers: Arc<AtomicU64>,
) -> std::io::Result<()> {
    let mut server = TcpStream::connect(upstream).await?;
    loop {
        let request = frame(&mut client).await?;
        if fault == Fault::Silent {
            continue;
        }
        server.write_all(&request).await?;
        let answer = frame(&mut server).await?;
        let n = answers.fetch_add(1, Ordering::SeqCst);
        match fault {
            Fault::GarbageEveryOther if n % 2 == 0 => {
                // A well-framed answer whose PDU is noise: a byte count of 255 over five
                // bytes of text.
                let mut garbage = answer[..4].to_vec();
                garbage.extend_from_slice(&[0, 8, answer[6], answer[7], 0xff]);
                garbage.extend_from_slice(b"HELLO");
                client.write_all(&garbage).await?;
            }
            Fault::HalfAnswer => {
                client.write_all(&answer[..answer.len() / 2]).await?;
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            _ => client.write_all(&answer).await?,
        }
    }
}
