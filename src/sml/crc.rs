//! The two CRC-16 variants found on German meters.
//!
//! Both use the reflected CCITT polynomial; they differ only in the initial value and final XOR.
//! Most meters use X.25; some Holley DTZ541 firmwares use Kermit for the transport and message
//! checksums, which is why both are tried before a frame is declared broken.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Checksum {
    X25,
    Kermit,
}

impl Checksum {
    pub fn as_str(self) -> &'static str {
        match self {
            Checksum::X25 => "x25",
            Checksum::Kermit => "kermit",
        }
    }
}

const TABLE: [u16; 256] = build_table();

const fn build_table() -> [u16; 256] {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u16;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x8408
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

fn reflected_ccitt(init: u16, data: &[u8]) -> u16 {
    data.iter().fold(init, |crc, &b| {
        (crc >> 8) ^ TABLE[((crc ^ u16::from(b)) & 0xff) as usize]
    })
}

pub fn x25(data: &[u8]) -> u16 {
    reflected_ccitt(0xffff, data) ^ 0xffff
}

pub fn kermit(data: &[u8]) -> u16 {
    reflected_ccitt(0x0000, data)
}

/// Which checksum, if any, matches `sent` (the two checksum bytes read high byte first).
///
/// The transport checksum goes low byte first on the wire while the message checksum is an SML
/// unsigned integer (high byte first), and firmwares differ, so both orders are accepted. A
/// false match in the swapped order is as unlikely as any other 16-bit collision.
pub fn identify(data: &[u8], sent: u16) -> Option<Checksum> {
    let matches = |c: u16| c == sent || c.swap_bytes() == sent;
    if matches(x25(data)) {
        Some(Checksum::X25)
    } else if matches(kermit(data)) {
        Some(Checksum::Kermit)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_values_match_the_catalogue() {
        // The standard "123456789" check values of both CRC definitions.
        assert_eq!(x25(b"123456789"), 0x906e);
        assert_eq!(kermit(b"123456789"), 0x2189);
    }
}
