//! SML sources: one task per meter reads its transport and feeds the decoder.
//!
//! Transports fail in their own ways (a serial adapter unplugged, ser2net restarting, an HTTP
//! bridge rebooting); each retries with backoff forever and says once what went wrong, so one
//! dead meter never stops the bridge or the other meters.

mod alarm;
mod decoder;
mod file;
mod http;
mod serial;
mod tcp;

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

pub use decoder::MeterDecoder;

use crate::config::{MeterConfig, Source};
use crate::sink::Sink;

/// A meter sends every 1 to 4 seconds; this long without a byte means the line is dead.
pub const SILENCE: Duration = Duration::from_secs(60);
const BACKOFF_START: Duration = Duration::from_secs(1);
/// Meters sit on the home network or a local port, where trying again costs nothing; a longer
/// wait only means a bridge back after a restart goes unread for that long (with a minute, the
/// readings returned 45 s after the bridge did).
const BACKOFF_MAX: Duration = Duration::from_secs(5);

pub async fn run(meter: usize, cfg: MeterConfig, sink: Sink) {
    let decoder = MeterDecoder::new(meter, &cfg.id, cfg.quirks.clone());
    match cfg.source {
        Source::Tcp { address } => tcp::run(&cfg.id, &address, decoder, sink).await,
        Source::Serial { port, baud, format } => {
            serial::run(&cfg.id, &port, baud, format, decoder, sink).await
        }
        Source::Http {
            url,
            user,
            password,
            interval_s,
        } => {
            let auth = user.map(|u| (u, password));
            http::run(&cfg.id, &url, auth, interval_s, decoder, sink).await
        }
        Source::File {
            path,
            hex,
            interval_s,
            repeat,
        } => file::run(&cfg.id, &path, hex, interval_s, repeat, decoder, sink).await,
    }
}

/// Why a stream stopped delivering.
enum Ended {
    Closed,
    Silent,
    Failed(std::io::Error),
    CoreGone,
}

/// A byte stream from a meter. A serial line can let bytes gather in the kernel and wake its
/// reader once the rest of a frame is in, where a socket or pipe wakes it for every piece.
trait Line: AsyncRead + Unpin {
    /// Lets up to `want` bytes gather before the next read, and returns how long the read may
    /// then wait before the reader takes whatever came (the frame was shorter than the last).
    async fn gather(&mut self, _want: usize) -> std::io::Result<Duration> {
        Ok(SILENCE)
    }
}

impl Line for tokio::net::TcpStream {}
impl Line for tokio::io::Stdin {}

/// Reads a byte stream into the decoder until it closes, fails or falls silent.
async fn pump(mut reader: impl Line, decoder: &mut MeterDecoder, sink: &Sink) -> Ended {
    let mut buf = vec![0u8; 4096];
    let mut out = Vec::new();
    // The bytes asked for did not come in time: take whatever arrives, piece by piece.
    let mut short = false;
    loop {
        let want = if short { 1 } else { decoder.wait_for() };
        let limit = match reader.gather(want).await {
            Ok(limit) => limit,
            Err(e) => return Ended::Failed(e),
        };
        let n = match tokio::time::timeout(limit, reader.read(&mut buf)).await {
            Err(_) if limit < SILENCE => {
                short = true;
                continue;
            }
            Err(_) => return Ended::Silent,
            Ok(Err(e)) => return Ended::Failed(e),
            Ok(Ok(0)) => return Ended::Closed,
            Ok(Ok(n)) => n,
        };
        short = false;
        decoder.push(&buf[..n], sink.clock.now(), &mut out);
        if !sink.send_all(&mut out).await {
            return Ended::CoreGone;
        }
    }
}

/// What to tell people about one kind of stream, for [`keep_reading`].
struct Wording {
    /// "the SML bridge", "the serial port".
    what: &'static str,
    /// Said once when opening fails, after the error.
    open_hint: &'static str,
    /// Said when the stream falls silent.
    silent_hint: &'static str,
}

/// Opens a stream, reads it into the decoder until it ends, and opens it again after a backoff,
/// for as long as the core runs. Problems are logged once until the stream works again.
async fn keep_reading<S, F, Fut>(
    id: &str,
    target: &str,
    words: Wording,
    mut open: F,
    decoder: &mut MeterDecoder,
    sink: &Sink,
) where
    S: Line,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::io::Result<S>>,
{
    let mut backoff = Backoff::new();
    let mut failed_before = false;
    loop {
        match open().await {
            Ok(stream) => {
                tracing::info!(meter = %id, %target, "Reading the meter from {}.", words.what);
                failed_before = false;
                backoff.reset();
                let ended = pump(stream, decoder, sink).await;
                decoder.reset();
                let w = words.what;
                match ended {
                    Ended::CoreGone => return,
                    Ended::Closed => {
                        tracing::warn!(meter = %id, %target, "The connection to {w} closed; opening it again.")
                    }
                    Ended::Silent => {
                        tracing::warn!(meter = %id, %target, "No data from {w} for {} s. {}", SILENCE.as_secs(), words.silent_hint)
                    }
                    Ended::Failed(e) => {
                        tracing::warn!(meter = %id, %target, "Reading from {w} failed: {e}; opening it again.")
                    }
                }
            }
            Err(e) => {
                if !failed_before {
                    tracing::warn!(meter = %id, %target, "Cannot open {}: {e}. {} Retrying with backoff.", words.what, words.open_hint);
                }
                failed_before = true;
            }
        }
        backoff.wait().await;
    }
}

/// Exponential backoff that resets once a connection delivered data.
struct Backoff(Duration);

impl Backoff {
    fn new() -> Self {
        Self(BACKOFF_START)
    }

    async fn wait(&mut self) {
        tokio::time::sleep(self.0).await;
        self.0 = (self.0 * 2).min(BACKOFF_MAX);
    }

    fn reset(&mut self) {
        self.0 = BACKOFF_START;
    }
}
