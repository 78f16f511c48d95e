//! SML over TCP: ser2net, ESP bridges and other raw byte forwarders.

use tokio::net::TcpStream;

use super::{Backoff, Ended, MeterDecoder, Sink, pump};

pub async fn run(id: &str, address: &str, mut decoder: MeterDecoder, sink: Sink) {
    let mut backoff = Backoff::new();
    let mut failed_before = false;
    loop {
        match TcpStream::connect(address).await {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                tracing::info!(meter = %id, %address, "Connected to the SML bridge.");
                failed_before = false;
                backoff.reset();
                let ended = pump(stream, &mut decoder, &sink).await;
                decoder.reset();
                match ended {
                    Ended::CoreGone => return,
                    Ended::Closed => {
                        tracing::warn!(meter = %id, %address, "The SML bridge closed the connection; reconnecting.")
                    }
                    Ended::Silent => {
                        tracing::warn!(meter = %id, %address, "No data from the SML bridge for {} s; reconnecting.", super::SILENCE.as_secs())
                    }
                    Ended::Failed(e) => {
                        tracing::warn!(meter = %id, %address, "Reading from the SML bridge failed: {e}; reconnecting.")
                    }
                }
            }
            Err(e) => {
                if !failed_before {
                    tracing::warn!(meter = %id, %address, "Cannot connect to the SML bridge: {e}. Retrying with backoff.");
                }
                failed_before = true;
            }
        }
        backoff.wait().await;
    }
}
