//! OBIS codes and the table that maps them to quantities.
//!
//! Codes are matched on all six groups, including F: Holley meters send history registers as
//! 1-0:1.8.0*96..*100, which are not the lifetime import counter 1-0:1.8.0*255.

use std::borrow::Cow;
use std::fmt;

use crate::quantity::{self, Kind, Quantity};

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

/// What the table says about a code: a quantity by its key in [`quantity::NAMED`], or identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    Key(&'static str),
    Serial,
    Manufacturer,
    Firmware,
}

const fn q(c: u8, d: u8, e: u8, key: &'static str) -> (Obis, Entry) {
    (Obis::new(1, 0, c, d, e, 255), Entry::Key(key))
}

/// Holley history registers: consumption over the last day, week, month, year, since reset.
const fn h(c: u8, f: u8, key: &'static str) -> (Obis, Entry) {
    (Obis::new(1, 0, c, 8, 0, f), Entry::Key(key))
}

static TABLE: [(Obis, Entry); 46] = [
    q(1, 8, 0, "energy_import"),
    q(1, 8, 1, "energy_import_t1"),
    q(1, 8, 2, "energy_import_t2"),
    q(2, 8, 0, "energy_export"),
    q(2, 8, 1, "energy_export_t1"),
    q(2, 8, 2, "energy_export_t2"),
    q(1, 17, 0, "energy_import_signed"),
    q(16, 7, 0, "power"),
    q(15, 7, 0, "power_absolute"),
    q(1, 7, 0, "power_import"),
    q(1, 7, 1, "power_import_t1"),
    q(2, 7, 0, "power_export"),
    q(36, 7, 0, "power_l1"),
    q(56, 7, 0, "power_l2"),
    q(76, 7, 0, "power_l3"),
    q(32, 7, 0, "voltage_l1"),
    q(52, 7, 0, "voltage_l2"),
    q(72, 7, 0, "voltage_l3"),
    q(31, 7, 0, "current_l1"),
    q(51, 7, 0, "current_l2"),
    q(71, 7, 0, "current_l3"),
    q(91, 7, 0, "current_neutral"),
    q(14, 7, 0, "frequency"),
    q(81, 7, 1, "angle_u_l2_l1"),
    q(81, 7, 2, "angle_u_l3_l1"),
    q(81, 7, 4, "angle_l1"),
    q(81, 7, 15, "angle_l2"),
    q(81, 7, 26, "angle_l3"),
    h(1, 96, "energy_import_1d"),
    h(1, 97, "energy_import_7d"),
    h(1, 98, "energy_import_30d"),
    h(1, 99, "energy_import_365d"),
    h(1, 100, "energy_import_since_reset"),
    h(2, 96, "energy_export_1d"),
    h(2, 97, "energy_export_7d"),
    h(2, 98, "energy_export_30d"),
    h(2, 99, "energy_export_365d"),
    h(2, 100, "energy_export_since_reset"),
    (Obis::new(1, 0, 0, 0, 0, 255), Entry::Serial),
    (Obis::new(1, 0, 0, 0, 9, 255), Entry::Serial),
    (Obis::new(1, 0, 96, 1, 0, 255), Entry::Serial),
    (Obis::new(0, 0, 96, 1, 255, 255), Entry::Serial),
    (Obis::new(1, 0, 96, 50, 1, 1), Entry::Manufacturer),
    (Obis::new(129, 129, 199, 130, 3, 255), Entry::Manufacturer),
    (Obis::new(1, 0, 0, 2, 0, 0), Entry::Firmware),
    (Obis::new(1, 0, 0, 2, 0, 255), Entry::Firmware),
];

/// Looks up a code; unknown codes get a generic quantity from their SML unit, disabled by
/// default so they are visible but not noisy.
pub fn meaning(obis: Obis, unit: Option<u8>) -> Meaning {
    match TABLE.iter().find(|(o, _)| *o == obis).map(|(_, e)| *e) {
        Some(Entry::Key(key)) => {
            if let Some(q) = quantity::named(key) {
                return Meaning::Value(q.clone());
            }
        }
        Some(Entry::Serial) => return Meaning::Serial,
        Some(Entry::Manufacturer) => return Meaning::Manufacturer,
        Some(Entry::Firmware) => return Meaning::Firmware,
        None => {}
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
        Kind::Count
        | Kind::Ratio
        | Kind::Binary
        | Kind::Duration
        | Kind::Minutes
        | Kind::Money
        | Kind::Price
        | Kind::Cents
        | Kind::Timestamp
        | Kind::Text => None,
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
    fn every_key_in_the_table_is_a_named_quantity_and_used_once() {
        let keys: Vec<&str> = TABLE
            .iter()
            .filter_map(|(_, e)| match e {
                Entry::Key(k) => Some(*k),
                _ => None,
            })
            .collect();
        for k in &keys {
            assert!(quantity::named(k).is_some(), "{k}");
            assert_eq!(keys.iter().filter(|x| *x == k).count(), 1, "{k}");
        }
    }
}
