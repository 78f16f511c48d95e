//! Settings people change from Home Assistant: one table describes each control once, and both
//! its entity (discovery) and the validation of its commands come from it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ha::Platform;
use crate::quantity::Kind;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Control {
    pub key: &'static str,
    pub name: &'static str,
    pub platform: Platform,
    /// Gives numbers their unit and device class.
    pub kind: Kind,
    /// Numbers: (min, max, step).
    pub range: Option<(f64, f64, f64)>,
    /// Selects: the choices.
    pub options: Option<&'static [&'static str]>,
    /// Texts: the longest accepted.
    pub max_len: Option<u32>,
}

const fn number(
    key: &'static str,
    name: &'static str,
    kind: Kind,
    range: (f64, f64, f64),
) -> Control {
    Control {
        key,
        name,
        platform: Platform::Number,
        kind,
        range: Some(range),
        options: None,
        max_len: None,
    }
}

/// A time of day as text, `HH:MM`.
const fn time_of_day(key: &'static str, name: &'static str) -> Control {
    Control {
        key,
        name,
        platform: Platform::Text,
        kind: Kind::Text,
        range: None,
        options: None,
        max_len: Some(5),
    }
}

pub const SURPLUS_ON: Control = number(
    "surplus_on",
    "Surplus on threshold",
    Kind::Power,
    (0.0, 50_000.0, 10.0),
);
pub const SURPLUS_OFF: Control = number(
    "surplus_off",
    "Surplus off threshold",
    Kind::Power,
    (0.0, 50_000.0, 10.0),
);
pub const SMOOTHING: Control = number(
    "surplus_smoothing",
    "Surplus smoothing",
    Kind::Duration,
    (1.0, 3600.0, 1.0),
);
pub const SURPLUS_SOURCES: &[&str] = &["export", "export_and_battery"];
pub const SURPLUS_SOURCE: Control = Control {
    key: "surplus_source",
    name: "Surplus source",
    platform: Platform::Select,
    kind: Kind::Text,
    range: None,
    options: Some(SURPLUS_SOURCES),
    max_len: None,
};
pub const SITE_NAME: Control = Control {
    key: "site_name",
    name: "Site name",
    platform: Platform::Text,
    kind: Kind::Text,
    range: None,
    options: None,
    max_len: Some(64),
};
pub const REPUBLISH: Control = Control {
    key: "republish_discovery",
    name: "Republish discovery",
    platform: Platform::Button,
    kind: Kind::Text,
    range: None,
    options: None,
    max_len: None,
};
/// Simulates the operator's signal for [`P14A_TEST_MS`], logged as a test (with `p14a:` only).
pub const P14A_TEST: Control = Control {
    key: "p14a_test",
    name: "§14a test dimming",
    platform: Platform::Switch,
    kind: Kind::Binary,
    range: None,
    options: None,
    max_len: None,
};
pub const P14A_CONTROLS: &[&str] = &["ems", "direct"];
/// Whether an energy manager spreads the budget (EMS) or each device is dimmed on its own.
pub const P14A_CONTROL: Control = Control {
    key: "p14a_control",
    name: "§14a control",
    platform: Platform::Select,
    kind: Kind::Text,
    range: None,
    options: Some(P14A_CONTROLS),
    max_len: None,
};
/// The operator's minimum power where it differs from the computed one; 0 uses the computed.
pub const P14A_OVERRIDE: Control = number(
    "p14a_override",
    "§14a operator's minimum power",
    Kind::Power,
    (0.0, 1_000_000.0, 100.0),
);
/// The bridge's controls with `p14a:` configured.
pub const P14A: [Control; 3] = [P14A_TEST, P14A_CONTROL, P14A_OVERRIDE];
/// A load's mode in the PV surplus control, on the device that switches it.
pub const LOAD_MODE: Control = Control {
    key: "load_mode",
    name: "Surplus mode",
    platform: Platform::Select,
    kind: Kind::Text,
    range: None,
    options: Some(crate::control::surplus::load::Mode::NAMES),
    max_len: None,
};
/// A wallbox's charge mode in the PV surplus control.
pub const CHARGE_MODE: Control = Control {
    key: "charge_mode",
    name: "Charge mode",
    platform: Platform::Select,
    kind: Kind::Text,
    range: None,
    options: Some(crate::control::surplus::load::ChargeMode::NAMES),
    max_len: None,
};
pub const LOAD_PRIORITY: Control = number(
    "load_priority",
    "Surplus priority",
    Kind::Count,
    (-100.0, 100.0, 1.0),
);
pub const LOAD_MIN_ON: Control = number(
    "load_min_on",
    "Minimum on time",
    Kind::Minutes,
    (0.0, 1440.0, 1.0),
);
pub const LOAD_MIN_OFF: Control = number(
    "load_min_off",
    "Minimum off time",
    Kind::Minutes,
    (0.0, 1440.0, 1.0),
);
/// The daily runtime target, for loads configured with a deadline; 0 drops the target.
pub const LOAD_RUNTIME: Control = number(
    "load_runtime",
    "Daily runtime target",
    Kind::Minutes,
    (0.0, 1440.0, 1.0),
);
/// The time of day a load's daily runtime is due by, for loads configured with a deadline.
pub const LOAD_DEADLINE: Control = time_of_day("load_deadline", "Runtime deadline");
/// A wallbox's charge plan: the energy (0: no plan) and the time it is due by.
pub const CHARGE_PLAN_ENERGY: Control = number(
    "charge_plan_energy",
    "Charge plan energy",
    Kind::Energy,
    (0.0, 200.0, 0.5),
);
pub const CHARGE_PLAN_TIME: Control = time_of_day("charge_plan_time", "Charge plan ready by");
/// Grid charging of the battery: the price limit (ct/kWh with VAT) and the target SoC.
pub const GRID_CHARGE_BELOW: Control = number(
    "grid_charge_below",
    "Grid charging below",
    Kind::Cents,
    (-100.0, 1000.0, 0.1),
);
pub const GRID_CHARGE_TARGET: Control = number(
    "grid_charge_target",
    "Grid charging target",
    Kind::Battery,
    (1.0, 100.0, 1.0),
);
pub const GRID_CHARGE: [Control; 2] = [GRID_CHARGE_BELOW, GRID_CHARGE_TARGET];
/// How long a test of the §14a dimming lasts unless switched off before.
pub const P14A_TEST_MS: u64 = 5 * 60_000;
pub const MIN_INTERVAL: Control = number(
    "min_interval",
    "Minimum publish interval",
    Kind::Duration,
    (0.0, 3600.0, 1.0),
);
pub const HEARTBEAT: Control = number(
    "heartbeat",
    "Heartbeat",
    Kind::Duration,
    (1.0, 86_400.0, 1.0),
);
pub const GENERIC_OBIS: Control = Control {
    key: "generic_obis",
    name: "Unknown OBIS codes",
    platform: Platform::Switch,
    kind: Kind::Binary,
    range: None,
    options: None,
    max_len: None,
};

/// The bridge device's controls, and each meter's.
pub const BRIDGE: [Control; 6] = [
    SURPLUS_ON,
    SURPLUS_OFF,
    SMOOTHING,
    SURPLUS_SOURCE,
    SITE_NAME,
    REPUBLISH,
];
pub const METER: [Control; 3] = [MIN_INTERVAL, HEARTBEAT, GENERIC_OBIS];

/// A validated command.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Number(f64),
    Switch(bool),
    Choice(&'static str),
    Text(String),
    Press,
}

/// Checks a command payload against its control; the error says what is accepted.
pub fn parse(c: &Control, payload: &str) -> Result<Command, String> {
    let p = payload.trim();
    match c.platform {
        Platform::Number => {
            let (min, max, _) = c.range.unwrap_or((f64::MIN, f64::MAX, 1.0));
            match p.parse::<f64>() {
                Ok(v) if v.is_finite() && (min..=max).contains(&v) => Ok(Command::Number(v)),
                _ => Err(format!("'{payload}' is not a number from {min} to {max}")),
            }
        }
        Platform::Switch => match p.to_ascii_uppercase().as_str() {
            "ON" => Ok(Command::Switch(true)),
            "OFF" => Ok(Command::Switch(false)),
            _ => Err(format!("'{payload}' is neither ON nor OFF")),
        },
        Platform::Select => c
            .options
            .and_then(|o| o.iter().find(|o| **o == p))
            .map(|o| Command::Choice(o))
            .ok_or_else(|| {
                format!(
                    "'{payload}' is not one of: {}",
                    c.options.unwrap_or_default().join(", ")
                )
            }),
        Platform::Text => {
            let max = c.max_len.unwrap_or(255) as usize;
            if p.is_empty() || p.chars().count() > max || p.chars().any(char::is_control) {
                Err(format!(
                    "the text must have 1 to {max} printable characters"
                ))
            } else {
                Ok(Command::Text(p.to_string()))
            }
        }
        Platform::Button if p == "PRESS" => Ok(Command::Press),
        Platform::Button => Err(format!("'{payload}' is not PRESS")),
        Platform::Sensor | Platform::BinarySensor => Err("this entity takes no commands".into()),
    }
}

/// Settings changed from Home Assistant, kept in `<data_dir>/settings.json` so they outlive
/// restarts; what is not set here comes from the configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub surplus_on_w: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub surplus_off_w: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smoothing_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub surplus_source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site_name: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub meters: BTreeMap<String, MeterSettings>,
    /// Battery limits set from Home Assistant, by battery id. Modes are commands and are not
    /// kept.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub batteries: BTreeMap<String, BatteryLimits>,
    /// Whether §14a dimming was in force: a bridge restarted while dimmed comes back dimmed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub p14a_dimmed: bool,
    /// Time dimmed and dimmings, today and this year.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p14a_tally: Option<crate::control::p14a::tally::Tally>,
    /// §14a control (`direct` or `ems`) and the operator's figure in W (0: computed), as set
    /// from Home Assistant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p14a_control: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p14a_override_w: Option<f64>,
    /// Grid charging: ct/kWh with VAT and %, as set from Home Assistant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grid_charge_below_ct: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grid_charge_target: Option<f64>,
    /// Settings of the loads the surplus runs, changed from Home Assistant, by load id.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub loads: BTreeMap<String, LoadSaved>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoadSaved {
    /// `off`, `auto`, `on`, or a wallbox's charge mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<f64>,
    /// Minutes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_on: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_off: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<f64>,
    /// `HH:MM`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
    /// A wallbox's charge plan: kWh, `HH:MM`, and the deadline it got (Unix ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan_energy: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan_deadline: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BatteryLimits {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub charge_limit_w: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discharge_limit_w: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MeterSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_interval_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generic_obis: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_checked_against_their_control() {
        assert_eq!(parse(&SURPLUS_ON, "750"), Ok(Command::Number(750.0)));
        assert_eq!(
            parse(&SURPLUS_ON, "-5"),
            Err("'-5' is not a number from 0 to 50000".into())
        );
        assert_eq!(
            parse(&SURPLUS_ON, "NaN"),
            Err("'NaN' is not a number from 0 to 50000".into())
        );
        assert_eq!(parse(&GENERIC_OBIS, "on"), Ok(Command::Switch(true)));
        assert!(parse(&GENERIC_OBIS, "1").is_err());
        assert_eq!(
            parse(&SURPLUS_SOURCE, "export_and_battery"),
            Ok(Command::Choice("export_and_battery"))
        );
        assert!(
            parse(&SURPLUS_SOURCE, "battery")
                .unwrap_err()
                .contains("export, export_and_battery")
        );
        assert_eq!(parse(&SITE_NAME, "Haus"), Ok(Command::Text("Haus".into())));
        assert!(parse(&SITE_NAME, &"x".repeat(65)).is_err());
        assert_eq!(parse(&REPUBLISH, "PRESS"), Ok(Command::Press));
    }
}
