//! A simulated hybrid inverter for the demo: a SunSpec register map (common model, a
//! three-phase inverter, storage controls) behind a minimal Modbus TCP responder, with power
//! following a slow curve and a battery whose charge follows the mode Stromwart writes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const MODEL_103: u16 = 40070;
const MODEL_124: u16 = MODEL_103 + 52;
/// Battery capacity in Wh, to move the state of charge at a believable pace (sped up).
const CAPACITY_WH: f64 = 10_000.0;

type Registers = Arc<Mutex<HashMap<u16, u16>>>;

/// Serves the inverter on `listener` and moves its values every second.
pub async fn serve(listener: TcpListener) {
    let regs: Registers = Arc::default();
    fill(&regs, 0);
    let ticker = regs.clone();
    tokio::spawn(async move {
        let mut t = 0u64;
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            t += 1;
            fill(&ticker, t);
        }
    });
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(answer(stream, regs.clone()));
    }
}

fn text(regs: &mut HashMap<u16, u16>, at: u16, s: &str, words: u16) {
    let mut b = s.as_bytes().to_vec();
    b.resize(usize::from(words) * 2, 0);
    for (i, c) in b.chunks(2).enumerate() {
        regs.insert(at + i as u16, u16::from_be_bytes([c[0], c[1]]));
    }
}

/// The register image at `t` seconds: a sunny day compressed into a few minutes.
fn fill(regs: &Registers, t: u64) {
    let mut r = regs.lock().unwrap_or_else(|p| p.into_inner());
    r.insert(40000, 0x5375);
    r.insert(40001, 0x6e53);
    r.insert(40002, 1);
    r.insert(40003, 66);
    for a in 40004..40070 {
        r.entry(a).or_insert(0);
    }
    text(&mut r, 40004, "Stromwart", 16);
    text(&mut r, 40020, "Demo inverter", 16);
    text(&mut r, 40044, "1.0", 8);
    text(&mut r, 40052, "DEMO0001", 16);
    r.insert(MODEL_103, 103);
    r.insert(MODEL_103 + 1, 50);
    for a in MODEL_103 + 2..MODEL_103 + 52 {
        r.entry(a).or_insert(0);
    }
    let watts = 2200.0 + 1400.0 * (t as f64 / 40.0).sin();
    let energy_wh = 8_123_400 + t * 600;
    let sf = |v: i16| v as u16;
    for (offset, value) in [
        (2, (watts / 230.0 * 100.0) as u16), // A
        (6, sf(-2)),                         // A_SF
        (10, 2301),
        (11, 2298),
        (12, 2305),         // PhVphA..C
        (13, sf(-1)),       // V_SF
        (14, watts as u16), // W
        (15, 0),            // W_SF
        (16, 5001),
        (17, sf(-2)), // Hz, Hz_SF
        (24, (energy_wh >> 16) as u16),
        (25, energy_wh as u16),      // WH (acc32)
        (26, 0),                     // WH_SF
        (31, (watts * 1.03) as u16), // DCW
        (32, 0),                     // DCW_SF
        (33, 412),
        (37, sf(-1)), // TmpCab, Tmp_SF
    ] {
        r.insert(MODEL_103 + offset, value);
    }
    storage(&mut r);
    r.insert(MODEL_124 + 26, 0xffff);
    r.insert(MODEL_124 + 27, 0);
}

/// Model 124: WChaMax 5000 W, rates in hundredths of a percent, and a state of charge that
/// follows what the controls say, a minute of charging per second.
fn storage(r: &mut HashMap<u16, u16>) {
    r.insert(MODEL_124, 124);
    r.insert(MODEL_124 + 1, 24);
    for a in MODEL_124 + 2..MODEL_124 + 26 {
        r.entry(a).or_insert(0);
    }
    let sf = |v: i16| v as u16;
    for (offset, value) in [
        (2, 5000),
        (10, 4012),
        (18, 0),
        (22, sf(-1)),
        (24, sf(-1)),
        (25, sf(-2)),
    ] {
        r.insert(MODEL_124 + offset, value);
    }
    if r[&(MODEL_124 + 8)] == 0 {
        r.insert(MODEL_124 + 8, 500); // 50.0 % at start
    }
    let rate = |offset| f64::from(r[&(MODEL_124 + offset)] as i16) / 10_000.0;
    let limits_on = r[&(MODEL_124 + 5)] & 3 == 3;
    // Forced: a negative discharge rate charges, a negative charge rate discharges.
    let watts = match (limits_on, rate(12), rate(13)) {
        (true, out, _) if out < 0.0 => -out * 5000.0,
        (true, _, inn) if inn < 0.0 => inn * 5000.0,
        _ => 0.0,
    };
    let soc = f64::from(r[&(MODEL_124 + 8)]) + watts * 60.0 / 3600.0 / CAPACITY_WH * 1000.0;
    r.insert(MODEL_124 + 8, soc.clamp(50.0, 1000.0) as u16);
}

/// Modbus TCP: a 7-byte header (transaction, protocol, length, unit) and the request PDU.
async fn answer(mut s: TcpStream, regs: Registers) {
    let mut head = [0u8; 7];
    while s.read_exact(&mut head).await.is_ok() {
        let len = usize::from(u16::from_be_bytes([head[4], head[5]]));
        let mut pdu = vec![0u8; len.saturating_sub(1)];
        if len == 0 || s.read_exact(&mut pdu).await.is_err() {
            return;
        }
        let reply = match pdu.as_slice() {
            [fc @ (3 | 4), a0, a1, n0, n1] => {
                let (start, count) = (
                    u16::from_be_bytes([*a0, *a1]),
                    u16::from_be_bytes([*n0, *n1]),
                );
                let r = regs.lock().unwrap_or_else(|p| p.into_inner());
                let words: Option<Vec<u16>> = (0..count)
                    .map(|i| r.get(&start.wrapping_add(i)).copied())
                    .collect();
                match words {
                    Some(w) if count <= 125 => {
                        let mut out = vec![*fc, (w.len() * 2) as u8];
                        out.extend(w.iter().flat_map(|x| x.to_be_bytes()));
                        out
                    }
                    _ => vec![fc | 0x80, 0x02], // IllegalDataAddress
                }
            }
            [16, a0, a1, _, _, _, data @ ..] => {
                let start = u16::from_be_bytes([*a0, *a1]);
                write(&regs, 16, start, data, &pdu[1..5])
            }
            [6, a0, a1, v0, v1] => {
                let start = u16::from_be_bytes([*a0, *a1]);
                write(&regs, 6, start, &[*v0, *v1], &pdu[1..5])
            }
            [fc, ..] => vec![fc | 0x80, 0x01], // IllegalFunction
            [] => return,
        };
        let mut frame = head[..4].to_vec();
        frame.extend(((reply.len() + 1) as u16).to_be_bytes());
        frame.push(head[6]);
        frame.extend(reply);
        if s.write_all(&frame).await.is_err() {
            return;
        }
    }
}

/// Writes into the storage model only: the rest of an inverter is read-only. Answers like a
/// device: the echo of address and count, or IllegalDataAddress.
fn write(regs: &Registers, fc: u8, start: u16, data: &[u8], echo: &[u8]) -> Vec<u8> {
    let words: Vec<u16> = data
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    let end = start.saturating_add(words.len() as u16);
    if words.is_empty() || start < MODEL_124 + 2 || end > MODEL_124 + 26 {
        return vec![fc | 0x80, 0x02];
    }
    let mut r = regs.lock().unwrap_or_else(|p| p.into_inner());
    for (i, w) in words.iter().enumerate() {
        r.insert(start + i as u16, *w);
    }
    let mut reply = vec![fc];
    reply.extend_from_slice(echo);
    reply
}
