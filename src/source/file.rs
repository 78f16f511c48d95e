//! SML replayed from a file or standard input: captures for testing, pipes from other tools.

use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::{Ended, MeterDecoder, pump};
use crate::sink::Sink;
use crate::sml::decode::parse_hex;

const START: [u8; 8] = [0x1b, 0x1b, 0x1b, 0x1b, 0x01, 0x01, 0x01, 0x01];

pub async fn run(
    id: &str,
    path: &str,
    hex: bool,
    interval_s: f64,
    repeat: bool,
    mut decoder: MeterDecoder,
    sink: Sink,
) {
    if path == "-" && !hex && interval_s == 0.0 {
        // A live pipe: decode as bytes arrive.
        if let Ended::Failed(e) = pump(tokio::io::stdin(), &mut decoder, &sink).await {
            tracing::warn!(meter = %id, "Reading standard input failed: {e}.");
        }
        return;
    }
    let bytes = match load(path, hex).await {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(meter = %id, %path, "Cannot replay the capture: {e}.");
            return;
        }
    };
    let interval = Duration::from_secs_f64(interval_s);
    let mut out = Vec::new();
    loop {
        for chunk in frames(&bytes) {
            decoder.push(chunk, sink.clock.now(), &mut out);
            if !sink.send_all(&mut out).await {
                return;
            }
            if !interval.is_zero() {
                tokio::time::sleep(interval).await;
            }
        }
        if !repeat {
            decoder.finish(sink.clock.now(), &mut out);
            sink.send_all(&mut out).await;
            tracing::info!(meter = %id, %path, "Replay finished.");
            return;
        }
    }
}

async fn load(path: &str, hex: bool) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    if path == "-" {
        tokio::io::stdin()
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| e.to_string())?;
    } else {
        bytes = tokio::fs::read(path).await.map_err(|e| e.to_string())?;
    }
    if hex {
        let text = String::from_utf8(bytes).map_err(|_| "hex capture is not text".to_string())?;
        bytes = parse_hex(&text)?;
    }
    Ok(bytes)
}

/// Splits a capture before each start sequence, so a replay paces frame by frame.
pub fn frames(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut cuts: Vec<usize> = bytes
        .windows(START.len())
        .enumerate()
        .filter(|(_, w)| *w == START)
        .map(|(i, _)| i)
        .filter(|&i| i > 0)
        .collect();
    cuts.push(bytes.len());
    let mut from = 0;
    cuts.into_iter().map(move |to| {
        let chunk = &bytes[from..to];
        from = to;
        chunk
    })
}
