//! A minimal Modbus TCP responder for the demo's simulated devices. Registers are kept by unit
//! and address; function codes 3 and 4 read the same map (the simulated devices keep their
//! input and holding registers apart by address). Writes go where the device takes them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub type Map = HashMap<(u8, u16), u16>;

/// Which registers a write may touch: unit, first and last address.
pub type Writable = fn(u8, u16, u16) -> bool;

/// The register image every connection and the simulation share.
#[derive(Clone, Default)]
pub struct Registers(Arc<Mutex<Map>>);

impl Registers {
    pub fn lock(&self) -> MutexGuard<'_, Map> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Serves the registers on `listener`, one task per connection.
pub async fn serve(listener: TcpListener, regs: Registers, writable: Writable) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(answer(stream, regs.clone(), writable));
    }
}

/// Modbus TCP: a 7-byte header (transaction, protocol, length, unit) and the request PDU.
async fn answer(mut s: TcpStream, regs: Registers, writable: Writable) {
    let mut head = [0u8; 7];
    while s.read_exact(&mut head).await.is_ok() {
        let len = usize::from(u16::from_be_bytes([head[4], head[5]]));
        let mut pdu = vec![0u8; len.saturating_sub(1)];
        if len == 0 || s.read_exact(&mut pdu).await.is_err() {
            return;
        }
        let unit = head[6];
        let word = |a: u8, b: u8| u16::from_be_bytes([a, b]);
        let reply = match pdu.as_slice() {
            [fc @ (3 | 4), a0, a1, n0, n1] => {
                read(&regs, unit, *fc, word(*a0, *a1), word(*n0, *n1))
            }
            [16, a0, a1, _, _, _, data @ ..] => {
                write(&regs, writable, unit, 16, word(*a0, *a1), data, &pdu[1..5])
            }
            [6, a0, a1, v0, v1] => write(
                &regs,
                writable,
                unit,
                6,
                word(*a0, *a1),
                &[*v0, *v1],
                &pdu[1..5],
            ),
            [fc, ..] => vec![fc | 0x80, 0x01], // IllegalFunction
            [] => return,
        };
        let mut frame = head[..4].to_vec();
        frame.extend(((reply.len() + 1) as u16).to_be_bytes());
        frame.push(unit);
        frame.extend(reply);
        if s.write_all(&frame).await.is_err() {
            return;
        }
    }
}

fn read(regs: &Registers, unit: u8, fc: u8, start: u16, count: u16) -> Vec<u8> {
    let r = regs.lock();
    let words: Option<Vec<u16>> = (0..count)
        .map(|i| r.get(&(unit, start.wrapping_add(i))).copied())
        .collect();
    match words {
        Some(w) if count <= 125 => {
            let mut out = vec![fc, (w.len() * 2) as u8];
            out.extend(w.iter().flat_map(|x| x.to_be_bytes()));
            out
        }
        _ => vec![fc | 0x80, 0x02], // IllegalDataAddress
    }
}

/// Answers like a device: the echo of address and count, or IllegalDataAddress.
fn write(
    regs: &Registers,
    writable: Writable,
    unit: u8,
    fc: u8,
    start: u16,
    data: &[u8],
    echo: &[u8],
) -> Vec<u8> {
    let words: Vec<u16> = data
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    let last = start.saturating_add(words.len() as u16).saturating_sub(1);
    if words.is_empty() || !writable(unit, start, last) {
        return vec![fc | 0x80, 0x02];
    }
    let mut r = regs.lock();
    for (i, w) in words.iter().enumerate() {
        r.insert((unit, start + i as u16), *w);
    }
    let mut reply = vec![fc];
    reply.extend_from_slice(echo);
    reply
}

/// Writes `words` from `at` on.
pub fn put(r: &mut Map, unit: u8, at: u16, words: &[u16]) {
    for (i, w) in words.iter().enumerate() {
        r.insert((unit, at + i as u16), *w);
    }
}

/// A float32, high word first (Eastron and SunSpec meters).
pub fn put_f32(r: &mut Map, unit: u8, at: u16, v: f32) {
    let b = v.to_bits();
    put(r, unit, at, &[(b >> 16) as u16, b as u16]);
}

/// A 32-bit integer, high word first.
pub fn put_u32(r: &mut Map, unit: u8, at: u16, v: u32) {
    put(r, unit, at, &[(v >> 16) as u16, v as u16]);
}

/// Reads a 32-bit integer, high word first; 0 where nothing was written.
pub fn get_u32(r: &Map, unit: u8, at: u16) -> u32 {
    let w = |a| u32::from(r.get(&(unit, a)).copied().unwrap_or(0));
    (w(at) << 16) | w(at + 1)
}

/// Text in registers, two characters per word, padded with zeros.
pub fn put_text(r: &mut Map, unit: u8, at: u16, s: &str, words: u16) {
    let mut b = s.as_bytes().to_vec();
    b.resize(usize::from(words) * 2, 0);
    for (i, c) in b.chunks(2).enumerate() {
        r.insert((unit, at + i as u16), u16::from_be_bytes([c[0], c[1]]));
    }
}
