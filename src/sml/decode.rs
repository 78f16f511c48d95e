//! Whole-stream decoding for `stromwart sml decode`: one JSON object per frame.

use serde::Serialize;

use super::frame::{FrameEvent, Framer};
use super::obis;
use super::telegram::{self, Telegram, Value};

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Output {
    Frame(FrameReport),
    Error { error: String, skipped_bytes: usize },
}

#[derive(Debug, Serialize)]
pub struct FrameReport {
    pub server_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meter_number: Option<String>,
    pub checksum: Option<&'static str>,
    pub readings: Vec<ReadingReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firmware: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attention: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reduced_dataset: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct ReadingReport {
    pub obis: String,
    pub key: String,
    pub value: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<i128>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scaler: Option<i8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_unit: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u64>,
}

impl From<&Telegram> for FrameReport {
    fn from(t: &Telegram) -> Self {
        let readings = t
            .readings
            .iter()
            .map(|r| ReadingReport {
                obis: r.obis.to_string(),
                key: r.quantity.key.to_string(),
                value: match &r.value {
                    Value::Number(v) => serde_json::json!(v),
                    Value::Text(s) => serde_json::json!(s),
                },
                unit: r.quantity.kind.info().unit,
                raw: r.raw.map(|raw| raw.mantissa),
                scaler: r.raw.map(|raw| raw.scaler),
                raw_unit: r.raw.and_then(|raw| raw.unit).and_then(obis::unit_symbol),
                status: r.raw.and_then(|raw| raw.status),
            })
            .collect();
        FrameReport {
            server_id: t.server_id_hex(),
            meter_number: telegram::meter_number(&t.server_id),
            checksum: t.checksum.map(|c| c.as_str()),
            readings,
            manufacturer: t.info.manufacturer.clone(),
            serial: t.info.serial.clone(),
            firmware: t.info.firmware.clone(),
            attention: t.attention.clone(),
            reduced_dataset: t.is_reduced_dataset(),
            warnings: t.warnings.iter().chain(&t.errors).cloned().collect(),
        }
    }
}

const START: [u8; 8] = [0x1b, 0x1b, 0x1b, 0x1b, 0x01, 0x01, 0x01, 0x01];

/// Decodes a whole byte stream. Input without any transport start sequence that begins like an
/// SML message is taken as a bare message sequence (as some test suites store frames).
pub fn decode_stream(bytes: &[u8], out: &mut impl FnMut(Output)) {
    if is_bare_messages(bytes) {
        out(telegram_output(telegram::decode(bytes, None), bytes.len()));
        return;
    }
    let mut framer = Framer::new();
    let mut emit = |ev: FrameEvent| match ev {
        FrameEvent::Frame(f) => {
            let len = f.payload.len();
            out(telegram_output(
                telegram::decode(&f.payload, Some(f.checksum)),
                len,
            ));
        }
        FrameEvent::Error(e) => out(Output::Error {
            skipped_bytes: e.lost_bytes(),
            error: e.to_string(),
        }),
    };
    framer.push(bytes, &mut emit);
    framer.finish(&mut emit);
}

/// Whether `bytes` hold SML messages without the transport layer around them.
pub fn is_bare_messages(bytes: &[u8]) -> bool {
    bytes.first() == Some(&0x76) && !bytes.windows(START.len()).any(|w| w == START)
}

fn telegram_output(t: Result<Telegram, String>, len: usize) -> Output {
    match t {
        Ok(t) => Output::Frame(FrameReport::from(&t)),
        Err(error) => Output::Error {
            error,
            skipped_bytes: len,
        },
    }
}

/// Parses hex text: whitespace is ignored and lines starting with `#` are comments.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<(usize, u8)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with('#'))
        .flat_map(|(n, l)| {
            l.bytes()
                .filter(|b| !b.is_ascii_whitespace())
                .map(move |b| (n + 1, b))
        })
        .collect();
    if digits.len() % 2 != 0 {
        return Err("odd number of hex digits".into());
    }
    digits
        .chunks(2)
        .map(|pair| {
            let hi = (pair[0].1 as char).to_digit(16);
            let lo = (pair[1].1 as char).to_digit(16);
            match (hi, lo) {
                (Some(h), Some(l)) => Ok((h * 16 + l) as u8),
                _ => Err(format!(
                    "line {}: '{}{}' is not hex",
                    pair[0].0, pair[0].1 as char, pair[1].1 as char
                )),
            }
        })
        .collect()
}
