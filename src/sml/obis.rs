//! OBIS codes and the table that maps them to quantities.
//!
//! Codes are matched on all six groups, including F: Holley meters send history registers as
//! 1-0:1.8.0*96..*100, which are not the lifetime import counter 1-0:1.8.0*255.

use std::borrow::Cow;
use std::fmt;

use crate::quantity::{Kind, Quantity};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Obis(pub [u8; 6]);

impl Obis {
    pub const fn new(a: u8, b: u8, c: u8, d: u8, e: u8, f: u8) -> Self {
        Self([a, b, c, d, e, f])
    }

    /// A key usable in MQTT topics and unique ids: `obis_1_0_96_50_1_1`.
    pub fn slug(&self) -> String {
        let [a, b, c, d, e, f] = self.0;
        if f == 255 {
            format!("obis_{a}_{b}_{c}_{d}_{e}")
        } else {
            format!("obis_{a}_{b}_{c}_{d}_{e}_{f}")
        }
    }
}

impl fmt::Display for Obis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a}-{b}:{c}.{d}.{e}")?;
        if g != 255 {
            write!(f, "*{g}")?;
        }
        Ok(())
    }
}

/// What an OBIS code carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Meaning {
    Value(Quantity),
    /// Identity of the meter, used for the Home Assistant device block.
    Serial,
    Manufacturer,
    Firmware,
}

const fn q(c: u8, d: u8, e: u8, key: &'static str, name: &'static str, kind: Kind) -> Entry {
    (
        Obis::new(1, 0, c, d, e, 255),
        Meaning::Value(Quantity::known(key, name, kind)),
    )
}

type Entry = (Obis, Meaning);

static TABLE: [Entry; 46] = [
    q(1, 8, 0, "energy_import", "Energy import", Kind::Energy),
    q(
        1,
        8,
        1,
        "energy_import_t1",
        "Energy import tariff 1",
        Kind::Energy,
    ),
    q(
        1,
        8,
        2,
        "energy_import_t2",
        "Energy import tariff 2",
        Kind::Energy,
    ),
    q(2, 8, 0, "energy_export", "Energy export", Kind::Energy),
    q(
        2,
        8,
        1,
        "energy_export_t1",
        "Energy export tariff 1",
        Kind::Energy,
    ),
    q(
        2,
        8,
        2,
        "energy_export_t2",
        "Energy export tariff 2",
        Kind::Energy,
    ),
    q(
        1,
        17,
        0,
        "energy_import_signed",
        "Energy import (1.17.0)",
        Kind::EnergySigned,
    ),
    q(16, 7, 0, "power", "Power", Kind::Power),
    q(15, 7, 0, "power_absolute", "Power (absolute)", Kind::Power),
    q(1, 7, 0, "power_import", "Power import", Kind::Power),
    q(
        1,
        7,
        1,
        "power_import_t1",
        "Power import (1.7.1)",
        Kind::Power,
    ),
    q(2, 7, 0, "power_export", "Power export", Kind::Power),
    q(36, 7, 0, "power_l1", "Power L1", Kind::Power),
    q(56, 7, 0, "power_l2", "Power L2", Kind::Power),
    q(76, 7, 0, "power_l3", "Power L3", Kind::Power),
    q(32, 7, 0, "voltage_l1", "Voltage L1", Kind::Voltage),
    q(52, 7, 0, "voltage_l2", "Voltage L2", Kind::Voltage),
    q(72, 7, 0, "voltage_l3", "Voltage L3", Kind::Voltage),
    q(31, 7, 0, "current_l1", "Current L1", Kind::Current),
    q(51, 7, 0, "current_l2", "Current L2", Kind::Current),
    q(71, 7, 0, "current_l3", "Current L3", Kind::Current),
    q(
        91,
        7,
        0,
        "current_neutral",
        "Current neutral",
        Kind::Current,
    ),
    q(14, 7, 0, "frequency", "Frequency", Kind::Frequency),
    q(
        81,
        7,
        1,
        "angle_u_l2_l1",
        "Phase angle U L2-L1",
        Kind::Angle,
    ),
    q(
        81,
        7,
        2,
        "angle_u_l3_l1",
        "Phase angle U L3-L1",
        Kind::Angle,
    ),
    q(81, 7, 4, "angle_l1", "Phase angle I-U L1", Kind::Angle),
    q(81, 7, 15, "angle_l2", "Phase angle I-U L2", Kind::Angle),
    q(81, 7, 26, "angle_l3", "Phase angle I-U L3", Kind::Angle),
    // Holley history registers: consumption over the last day, week, month, year, since reset.
    h(1, 96, "energy_import_1d", "Energy import last day"),
    h(1, 97, "energy_import_7d", "Energy import last 7 days"),
    h(1, 98, "energy_import_30d", "Energy import last 30 days"),
    h(1, 99, "energy_import_365d", "Energy import last 365 days"),
    h(
        1,
        100,
        "energy_import_since_reset",
        "Energy import since reset",
    ),
    h(2, 96, "energy_export_1d", "Energy export last day"),
    h(2, 97, "energy_export_7d", "Energy export last 7 days"),
    h(2, 98, "energy_export_30d", "Energy export last 30 days"),
    h(2, 99, "energy_export_365d", "Energy export last 365 days"),
    h(
        2,
        100,
        "energy_export_since_reset",
        "Energy export since reset",
    ),
    (Obis::new(1, 0, 0, 0, 0, 255), Meaning::Serial),
    (Obis::new(1, 0, 0, 0, 9, 255), Meaning::Serial),
    (Obis::new(1, 0, 96, 1, 0, 255), Meaning::Serial),
    (Obis::new(0, 0, 96, 1, 255, 255), Meaning::Serial),
    (Obis::new(1, 0, 96, 50, 1, 1), Meaning::Manufacturer),
    (Obis::new(129, 129, 199, 130, 3, 255), Meaning::Manufacturer),
    (Obis::new(1, 0, 0, 2, 0, 0), Meaning::Firmware),
    (Obis::new(1, 0, 0, 2, 0, 255), Meaning::Firmware),
];

const fn h(c: u8, f: u8, key: &'static str, name: &'static str) -> Entry {
    let quantity = Quantity::known(key, name, Kind::EnergyWindow);
    (Obis::new(1, 0, c, 8, 0, f), Meaning::Value(quantity))
}

/// Looks up a code; unknown codes get a generic quantity from their SML unit, disabled by
/// default so they are visible but not noisy.
pub fn meaning(obis: Obis, unit: Option<u8>) -> Meaning {
    if let Some((_, m)) = TABLE.iter().find(|(o, _)| *o == obis) {
        return m.clone();
    }
    Meaning::Value(meaning_generic(obis, unit.map_or(Kind::Text, kind_of_unit)))
}

/// The generic quantity of a code that is not in the table (or not in its usual unit).
pub fn meaning_generic(obis: Obis, kind: Kind) -> Quantity {
    Quantity {
        key: Cow::Owned(obis.slug()),
        name: Cow::Owned(format!("OBIS {obis}")),
        kind,
        enabled_by_default: false,
    }
}

/// The SML (DLMS) unit code a quantity of `kind` is sent in, for checking known codes.
pub fn expected_unit(kind: Kind) -> Option<u8> {
    match kind {
        Kind::Energy | Kind::EnergySigned | Kind::EnergyWindow => Some(30),
        Kind::Power => Some(27),
        Kind::ApparentPower => Some(28),
        Kind::ReactivePower => Some(29),
        Kind::Current => Some(33),
        Kind::Voltage => Some(35),
        Kind::Frequency => Some(44),
        Kind::Angle => Some(8),
        Kind::Battery | Kind::PowerFactor | Kind::Temperature => None,
        Kind::Count | Kind::Timestamp | Kind::Text => None,
    }
}

fn kind_of_unit(unit: u8) -> Kind {
    Kind::ALL
        .into_iter()
        .find(|&k| expected_unit(k) == Some(unit) && k != Kind::Energy && k != Kind::EnergyWindow)
        .unwrap_or(Kind::Count)
}

/// The unit symbol of an SML unit code, for raw output.
pub fn unit_symbol(unit: u8) -> Option<&'static str> {
    Some(match unit {
        8 => "°",
        27 => "W",
        28 => "VA",
        29 => "var",
        30 => "Wh",
        31 => "VAh",
        32 => "varh",
        33 => "A",
        35 => "V",
        44 => "Hz",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_omits_f_only_when_it_is_255() {
        assert_eq!(Obis::new(1, 0, 16, 7, 0, 255).to_string(), "1-0:16.7.0");
        assert_eq!(Obis::new(1, 0, 1, 8, 0, 96).to_string(), "1-0:1.8.0*96");
        assert_eq!(Obis::new(1, 0, 96, 50, 1, 1).slug(), "obis_1_0_96_50_1_1");
    }

    #[test]
    fn history_registers_are_not_the_lifetime_counter() {
        let Meaning::Value(q) = meaning(Obis::new(1, 0, 1, 8, 0, 96), Some(30)) else {
            panic!("history register must be a value");
        };
        assert_eq!(q.key, "energy_import_1d");
        let Meaning::Value(q) = meaning(Obis::new(1, 0, 1, 8, 0, 255), Some(30)) else {
            panic!("1.8.0 must be a value");
        };
        assert_eq!(q.key, "energy_import");
        assert_eq!(q.kind, Kind::Energy);
    }

    #[test]
    fn table_keys_are_unique() {
        let mut keys: Vec<_> = TABLE
            .iter()
            .filter_map(|(_, m)| match m {
                Meaning::Value(q) => Some(q.key.clone()),
                _ => None,
            })
            .collect();
        let n = keys.len();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), n);
    }
}
