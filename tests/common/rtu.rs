//! A Modbus RTU slave on the master side of a pseudo-terminal: the bridge opens the slave side
//! like an RS-485 adapter. Frames are checked by CRC; a bad frame or another unit id gets no
//! answer, as on a real line. Reads (3, 4) and writes (6, 16) on a shared register map.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

/// Registers by (function code of the read, address); writes land under 3.
pub type Registers = Arc<Mutex<HashMap<(u8, u16), u16>>>;

/// CRC-16/MODBUS, low byte first on the wire.
pub fn crc16(data: &[u8]) -> u16 {
    data.iter().fold(0xffff, |crc, &b| {
        (0..8).fold(crc ^ u16::from(b), |c, _| {
            if c & 1 != 0 {
                (c >> 1) ^ 0xa001
            } else {
                c >> 1
            }
        })
    })
}

/// Answers as unit `unit` on `master` until the pty closes.
pub fn serve(mut master: std::fs::File, unit: u8, regs: Registers) {
    std::thread::spawn(move || {
        loop {
            let mut frame = vec![0u8; 8];
            if master.read_exact(&mut frame).is_err() {
                return;
            }
            if frame[1] == 16 {
                // Start, count, byte count, data, CRC: read what the byte count says.
                let mut rest = vec![0u8; usize::from(frame[6]) + 1];
                if master.read_exact(&mut rest).is_err() {
                    return;
                }
                frame.extend(rest);
            }
            let n = frame.len();
            let crc_ok = crc16(&frame[..n - 2]).to_le_bytes() == [frame[n - 2], frame[n - 1]];
            if !crc_ok || frame[0] != unit {
                continue;
            }
            let resp = answer(&frame[..n - 2], &regs);
            let mut resp = resp;
            resp.extend(crc16(&resp).to_le_bytes());
            if master.write_all(&resp).is_err() {
                return;
            }
        }
    });
}

fn answer(f: &[u8], regs: &Registers) -> Vec<u8> {
    let (unit, fc) = (f[0], f[1]);
    let word = |i: usize| u16::from_be_bytes([f[i], f[i + 1]]);
    let (start, count) = (word(2), word(4));
    let mut regs = regs.lock().unwrap();
    let refuse = vec![unit, fc | 0x80, 0x02];
    match fc {
        3 | 4 => {
            let words: Option<Vec<u16>> = (0..count)
                .map(|i| regs.get(&(fc, start + i)).copied())
                .collect();
            let Some(words) = words else { return refuse };
            let mut r = vec![unit, fc, (count * 2) as u8];
            r.extend(words.iter().flat_map(|x| x.to_be_bytes()));
            r
        }
        6 | 16 => {
            let values: Vec<u16> = if fc == 6 {
                vec![count]
            } else {
                (0..usize::from(count)).map(|i| word(7 + 2 * i)).collect()
            };
            let known = (0..values.len() as u16).all(|i| regs.contains_key(&(3, start + i)));
            if !known {
                return refuse;
            }
            for (i, v) in values.iter().enumerate() {
                regs.insert((3, start + i as u16), *v);
            }
            f[..6].to_vec()
        }
        _ => vec![unit, fc | 0x80, 0x01],
    }
}
