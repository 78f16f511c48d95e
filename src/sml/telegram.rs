//! From SML messages to a telegram: the meter's identity and its readings in publishable units.

use super::crc::Checksum;
use super::message::{self, Body, Entry};
use super::obis::{self, Meaning, Obis};
use super::tlv::Node;
use crate::quantity::{Kind, Quantity};

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Number(f64),
    Text(String),
}

/// The value as the meter sent it, kept for quirks and for `sml decode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raw {
    pub mantissa: i128,
    /// Encoded width in bytes and whether the meter sent a signed type.
    pub width: u8,
    pub signed: bool,
    pub scaler: i8,
    pub unit: Option<u8>,
    pub status: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub obis: Obis,
    pub quantity: Quantity,
    pub value: Value,
    pub raw: Option<Raw>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MeterInfo {
    pub serial: Option<String>,
    pub manufacturer: Option<String>,
    pub firmware: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Telegram {
    pub server_id: Vec<u8>,
    pub checksum: Option<Checksum>,
    pub readings: Vec<Reading>,
    pub info: MeterInfo,
    /// Status of the 1.8.0 register, which carries the energy direction on some meters.
    pub import_status: Option<u64>,
    pub attention: Option<String>,
    /// Problems that did not cost values (message checksum mismatches).
    pub warnings: Vec<String>,
    /// Messages that could not be used.
    pub errors: Vec<String>,
}

impl Telegram {
    pub fn server_id_hex(&self) -> String {
        hex(&self.server_id)
    }

    pub fn number(&self, key: &str) -> Option<f64> {
        self.readings.iter().find_map(|r| match r.value {
            Value::Number(v) if r.quantity.key == key => Some(v),
            _ => None,
        })
    }

    /// True when the meter sends the reduced dataset of a meter without its PIN entered: energy
    /// in whole kWh and no power at all.
    pub fn is_reduced_dataset(&self) -> bool {
        let whole_kwh = self
            .readings
            .iter()
            .any(|r| r.quantity.key == "energy_import" && r.raw.is_some_and(|raw| raw.scaler >= 3));
        let has_power = self.readings.iter().any(|r| r.quantity.kind == Kind::Power);
        whole_kwh && !has_power
    }
}

/// Decodes the messages of one frame (or a bare message sequence when `checksum` is `None`).
/// Returns `None` when no get-list response with a server id was found.
pub fn decode(payload: &[u8], checksum: Option<Checksum>) -> Result<Telegram, String> {
    let file = message::parse(payload);
    let mut telegram = Telegram {
        server_id: Vec::new(),
        checksum,
        readings: Vec::new(),
        info: MeterInfo::default(),
        import_status: None,
        attention: None,
        warnings: file
            .warnings
            .iter()
            .map(|w| format!("message {}: {}", w.index, w.what))
            .collect(),
        errors: file.errors.iter().map(ToString::to_string).collect(),
    };
    let mut found = false;
    for body in &file.bodies {
        match body {
            Body::GetList(list) => {
                found = true;
                if telegram.server_id.is_empty() {
                    telegram.server_id = list.server_id.to_vec();
                }
                for entry in &list.entries {
                    add_entry(&mut telegram, entry);
                }
            }
            Body::Attention { number } => {
                telegram.attention = Some(attention_text(number));
                if telegram.server_id.is_empty() {
                    found = true;
                }
            }
            Body::Open | Body::Close | Body::Other(_) => {}
        }
    }
    if !found {
        let why = telegram
            .errors
            .first()
            .cloned()
            .unwrap_or_else(|| "frame holds no get-list response".into());
        return Err(why);
    }
    Ok(telegram)
}

fn add_entry(t: &mut Telegram, e: &Entry<'_>) {
    let obis = Obis(e.obis);
    if obis == Obis::new(1, 0, 1, 8, 0, 255) {
        t.import_status = e.status;
    }
    match obis::meaning(obis, e.unit) {
        Meaning::Serial => t.info.serial = t.info.serial.take().or(text(&e.value)),
        Meaning::Manufacturer => t.info.manufacturer = text(&e.value),
        Meaning::Firmware => t.info.firmware = text(&e.value),
        Meaning::Value(quantity) => {
            if let Some(reading) = reading(obis, quantity, e) {
                t.readings.push(reading);
            }
        }
    }
}

fn reading(obis: Obis, quantity: Quantity, e: &Entry<'_>) -> Option<Reading> {
    let (mantissa, width, signed) = match e.value {
        Node::Int(v, w) => (i128::from(v), w, true),
        Node::Unsigned(v, w) => (i128::from(v), w, false),
        Node::Bytes(_) | Node::Bool(_) => {
            let value = Value::Text(text(&e.value)?);
            let quantity = if quantity.kind.is_numeric() {
                obis::meaning_generic(obis, Kind::Text)
            } else {
                quantity
            };
            return Some(Reading {
                obis,
                quantity,
                value,
                raw: None,
            });
        }
        Node::Absent | Node::List(_) => return None,
    };
    let raw = Raw {
        mantissa,
        width,
        signed,
        scaler: e.scaler.unwrap_or(0),
        unit: e.unit,
        status: e.status,
    };
    // A known code in an unexpected unit is published generically rather than mislabelled.
    let quantity = match obis::expected_unit(quantity.kind) {
        Some(u) if e.unit.is_some_and(|unit| unit != u) => obis::meaning_generic(obis, Kind::Count),
        _ => quantity,
    };
    let value = Value::Number(scaled(mantissa, raw.scaler, quantity.kind));
    Some(Reading {
        obis,
        quantity,
        value,
        raw: Some(raw),
    })
}

/// Converts mantissa × 10^scaler into the publish unit of `kind` with a single rounding step,
/// so 54301577 × 10^-1 Wh becomes exactly the double nearest 5430.1577 kWh.
pub fn scaled(mantissa: i128, scaler: i8, kind: Kind) -> f64 {
    let unit_exp = match kind {
        Kind::Energy | Kind::EnergySigned | Kind::EnergyWindow => -3, // Wh to kWh
        _ => 0,
    };
    let exp = i32::from(scaler) + unit_exp;
    if exp >= 0 {
        let factor = 10i128.checked_pow(exp.unsigned_abs());
        match factor.and_then(|f| mantissa.checked_mul(f)) {
            Some(v) => v as f64,
            None => mantissa as f64 * 10f64.powi(exp),
        }
    } else {
        // Dividing two exactly representable numbers rounds once, correctly.
        mantissa as f64 / 10f64.powi(-exp)
    }
}

fn text(node: &Node<'_>) -> Option<String> {
    match node {
        Node::Bytes(b) => Some(printable(b)),
        Node::Bool(v) => Some(v.to_string()),
        Node::Int(v, _) => Some(v.to_string()),
        Node::Unsigned(v, _) => Some(v.to_string()),
        Node::Absent | Node::List(_) => None,
    }
}

/// Text as ASCII when it is printable, else the meter number form or hex.
fn printable(b: &[u8]) -> String {
    if !b.is_empty() && b.iter().all(|c| c.is_ascii_graphic() || *c == b' ') {
        return String::from_utf8_lossy(b).trim().to_string();
    }
    meter_number(b).unwrap_or_else(|| hex(b))
}

/// The meter number printed on the meter (DIN 43863-5), e.g. "1 DZG00 4208 2910" for the
/// server id `0a 01 44 5a 47 00 02 82 22 5e`. Only the 10-byte form is known to be reliable.
pub fn meter_number(id: &[u8]) -> Option<String> {
    let [_, media, f1, f2, f3, generation, s @ ..] = id else {
        return None;
    };
    let flag = [*f1, *f2, *f3];
    if id.len() != 10 || !flag.iter().all(u8::is_ascii_uppercase) || *media > 9 {
        return None;
    }
    let serial = u32::from_be_bytes(s.try_into().ok()?);
    let digits = format!("{serial:08}");
    Some(format!(
        "{media} {}{generation:02} {} {}",
        String::from_utf8_lossy(&flag),
        &digits[..4],
        &digits[4..]
    ))
}

/// The numeric serial inside a 10-byte server id, for serial-range quirks.
pub fn serial_number(id: &[u8]) -> Option<u32> {
    meter_number(id)?;
    Some(u32::from_be_bytes(id[6..10].try_into().ok()?))
}

/// The three-letter manufacturer flag (DZG, EMH, ISK, ...) inside a server id.
pub fn flag(id: &[u8]) -> Option<&str> {
    meter_number(id)?;
    std::str::from_utf8(&id[2..5]).ok()
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn attention_text(number: &[u8]) -> String {
    // Attention numbers are OBIS-like: 81 81 C7 C7 FE 00 and up; the last byte says why.
    let reason = match number.last() {
        Some(0x00) => "ok",
        Some(0x01) => "error (unspecified)",
        Some(0x02) => "unknown SML identifier",
        Some(0x03) => "insufficient authorisation",
        Some(0x04) => "destination address not available",
        Some(0x05) => "request not allowed",
        Some(0x07) => "attribute cannot be changed",
        Some(0x08) => "unknown value",
        _ => "unknown attention code",
    };
    format!("attention {}: {reason}", hex(number))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_rounds_once() {
        assert_eq!(scaled(54_301_577, -1, Kind::Energy), 5430.1577);
        assert_eq!(scaled(-10_550, -2, Kind::Power), -105.5);
        assert_eq!(scaled(13_391, 3, Kind::Energy), 13391.0);
        assert_eq!(scaled(45_009_189_911, -5, Kind::Energy), 450.09189911);
        assert_eq!(
            scaled(i128::from(i64::MAX), 10, Kind::Power),
            9.223372036854776e28
        );
    }

    #[test]
    fn meter_numbers_follow_the_printed_form() {
        let dzg = [0x0a, 0x01, 0x44, 0x5a, 0x47, 0x00, 0x02, 0x82, 0x22, 0x5e];
        assert_eq!(meter_number(&dzg).as_deref(), Some("1 DZG00 4208 2910"));
        assert_eq!(serial_number(&dzg), Some(42_082_910));
        assert_eq!(flag(&dzg), Some("DZG"));
        assert_eq!(meter_number(&[0x06, 0x06, 0x06, 0x06, 0x01]), None);
    }
}
