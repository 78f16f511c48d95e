//! Opt-in corrections for known meter bugs, applied per meter after decoding.
//!
//! Each quirk is off unless configured, because every blanket fix in other readers has broken
//! meters that were right all along (libsml's DZG fix turned genuine exports into imports).

use std::collections::HashMap;

use super::obis::Obis;
use super::telegram::{self, Reading, Telegram, Value};
use crate::quantity::{Kind, Quantity};

/// DZG DVS74 units in these serial ranges encode 327.68 to 655.35 W as a negative Integer16;
/// DZG states firmware 1.2/1.3 (serials from 60M on) fixed it.
const DZG_AFFECTED_SERIALS: [std::ops::RangeInclusive<u32>; 2] =
    [42_000_000..=48_999_999, 55_000_000..=58_999_999];

/// A counter that reads lower than before this many times in a row was really reset (or the
/// first value after start was the spike); it is then taken as the new baseline.
const REBASE_AFTER: u8 = 3;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Quirks {
    /// Reinterpret a negative Integer16 16.7.0 as unsigned on DZG DVS74 meters in the affected
    /// serial ranges.
    pub dzg_sign_fix: bool,
    /// Mask of the bit in the 1.8.0 status word that marks export (0x20 on EMH ED300L); the
    /// absolute 15.7.0 power is then published as signed power.
    pub direction_bit: Option<u64>,
    /// Drop power readings above this magnitude and energy counters that jump by more than this
    /// power could deliver since the last reading.
    pub max_power_w: Option<f64>,
}

/// Per-meter state of the quirks that need history.
#[derive(Debug, Default)]
pub struct QuirkState {
    quirks: Quirks,
    last_energy: HashMap<String, Counter>,
    /// Readings dropped by the spike filter since start.
    pub filtered: u64,
}

#[derive(Debug, Clone, Copy)]
struct Counter {
    value: f64,
    at_ms: u64,
    rejected: u8,
}

impl QuirkState {
    pub fn new(quirks: Quirks) -> Self {
        Self {
            quirks,
            ..Self::default()
        }
    }

    /// Whether this meter looks like an affected DZG but the fix is not enabled.
    pub fn dzg_fix_advisable(&self, t: &Telegram) -> bool {
        !self.quirks.dzg_sign_fix && is_affected_dzg(&t.server_id)
    }

    pub fn apply(&mut self, t: &mut Telegram, now_ms: u64) {
        if self.quirks.dzg_sign_fix && is_affected_dzg(&t.server_id) {
            for r in &mut t.readings {
                fix_dzg_sign(r);
            }
        }
        if let Some(mask) = self.quirks.direction_bit {
            apply_direction(t, mask);
        }
        if let Some(max) = self.quirks.max_power_w {
            let before = t.readings.len();
            t.readings.retain(|r| self.plausible(r, max, now_ms));
            self.filtered += (before - t.readings.len()) as u64;
        }
    }

    fn plausible(&mut self, r: &Reading, max_w: f64, now_ms: u64) -> bool {
        let Value::Number(v) = r.value else {
            return true;
        };
        match r.quantity.kind {
            Kind::Power => v.abs() <= max_w,
            Kind::Energy => {
                let key = r.quantity.key.to_string();
                let Some(last) = self.last_energy.get_mut(&key) else {
                    self.last_energy.insert(
                        key,
                        Counter {
                            value: v,
                            at_ms: now_ms,
                            rejected: 0,
                        },
                    );
                    return true;
                };
                let hours = now_ms.saturating_sub(last.at_ms) as f64 / 3_600_000.0;
                // One kWh of slack covers meters that count in whole kWh.
                let ceiling = last.value + max_w / 1000.0 * hours + 1.0;
                let ok = v >= last.value && v <= ceiling;
                if ok || last.rejected + 1 >= REBASE_AFTER {
                    *last = Counter {
                        value: v,
                        at_ms: now_ms,
                        rejected: 0,
                    };
                    true
                } else {
                    last.rejected += 1;
                    false
                }
            }
            _ => true,
        }
    }
}

fn is_affected_dzg(server_id: &[u8]) -> bool {
    telegram::flag(server_id) == Some("DZG")
        && telegram::serial_number(server_id)
            .is_some_and(|s| DZG_AFFECTED_SERIALS.iter().any(|r| r.contains(&s)))
}

fn fix_dzg_sign(r: &mut Reading) {
    let Some(raw) = r.raw.as_mut() else { return };
    if r.obis != Obis::new(1, 0, 16, 7, 0, 255)
        || !raw.signed
        || raw.width != 2
        || raw.mantissa >= 0
    {
        return;
    }
    raw.mantissa += 65_536;
    r.value = Value::Number(telegram::scaled(raw.mantissa, raw.scaler, r.quantity.kind));
}

fn apply_direction(t: &mut Telegram, mask: u64) {
    let has_signed = t.readings.iter().any(|r| r.quantity.key == "power");
    let exporting = t.import_status.is_some_and(|s| s & mask != 0);
    for r in &mut t.readings {
        if has_signed || r.obis != Obis::new(1, 0, 15, 7, 0, 255) {
            continue;
        }
        if let Value::Number(v) = r.value {
            let v = v.abs();
            r.value = Value::Number(if exporting { -v } else { v });
            r.quantity = Quantity::known("power", "Power", Kind::Power);
        }
    }
}
