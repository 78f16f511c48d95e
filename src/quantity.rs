//! The one table from kinds of quantity to units and Home Assistant classes.
//!
//! Every entity the bridge publishes gets its unit, device class and state class from here, so
//! the rules Home Assistant enforces (a unit must fit its device class, energy must be a total)
//! are kept in one place and checked by one test.

use std::borrow::Cow;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A counter that only grows (meter registers 1.8.x, 2.8.x).
    Energy,
    /// An energy total that may go down.
    EnergySigned,
    /// Energy over a sliding window (Holley's last-day register): no long-term statistics.
    EnergyWindow,
    Power,
    ApparentPower,
    ReactivePower,
    Voltage,
    Current,
    Frequency,
    Angle,
    /// State of charge of a battery, in percent.
    Battery,
    /// Power factor, without unit (Home Assistant rejects "None" as a unit here).
    PowerFactor,
    Temperature,
    /// A plain number with no physical unit (counters of frames, errors).
    Count,
    /// A share in percent without a device class (self-consumption, autarky).
    Ratio,
    /// On or off; published as a binary sensor.
    Binary,
    /// A time span in seconds (settings such as intervals).
    Duration,
    /// Minutes counted up over a day or a year (time dimmed): a total that restarts.
    Minutes,
    /// An amount of money in euros (the §14a rebate a year): no statistics, two decimals.
    Money,
    /// A price per kWh in euros, as the Energy dashboard takes a current price: no device
    /// class (monetary wants a bare currency), four decimals.
    Price,
    /// A price per kWh in cents, as people set limits.
    Cents,
    Timestamp,
    Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindInfo {
    pub unit: Option<&'static str>,
    pub device_class: Option<&'static str>,
    pub state_class: Option<&'static str>,
    pub precision: Option<u8>,
}

const fn row(
    unit: Option<&'static str>,
    device_class: Option<&'static str>,
    state_class: Option<&'static str>,
    precision: Option<u8>,
) -> KindInfo {
    KindInfo {
        unit,
        device_class,
        state_class,
        precision,
    }
}

impl Kind {
    pub const ALL: [Kind; 23] = [
        Kind::Energy,
        Kind::EnergySigned,
        Kind::EnergyWindow,
        Kind::Power,
        Kind::ApparentPower,
        Kind::ReactivePower,
        Kind::Voltage,
        Kind::Current,
        Kind::Frequency,
        Kind::Angle,
        Kind::Battery,
        Kind::PowerFactor,
        Kind::Temperature,
        Kind::Count,
        Kind::Ratio,
        Kind::Binary,
        Kind::Duration,
        Kind::Minutes,
        Kind::Money,
        Kind::Price,
        Kind::Cents,
        Kind::Timestamp,
        Kind::Text,
    ];

    pub const fn info(self) -> KindInfo {
        match self {
            Kind::Energy => row(
                Some("kWh"),
                Some("energy"),
                Some("total_increasing"),
                Some(3),
            ),
            Kind::EnergySigned => row(Some("kWh"), Some("energy"), Some("total"), Some(3)),
            Kind::EnergyWindow => row(Some("kWh"), Some("energy"), None, Some(3)),
            Kind::Power => row(Some("W"), Some("power"), Some("measurement"), Some(0)),
            Kind::ApparentPower => row(
                Some("VA"),
                Some("apparent_power"),
                Some("measurement"),
                Some(0),
            ),
            Kind::ReactivePower => row(
                Some("var"),
                Some("reactive_power"),
                Some("measurement"),
                Some(0),
            ),
            Kind::Voltage => row(Some("V"), Some("voltage"), Some("measurement"), Some(1)),
            Kind::Current => row(Some("A"), Some("current"), Some("measurement"), Some(2)),
            Kind::Frequency => row(Some("Hz"), Some("frequency"), Some("measurement"), Some(2)),
            // Home Assistant has no device class for phase angles; "measurement_angle" is meant
            // for wind directions, so these stay plain measurements in degrees.
            Kind::Angle => row(Some("°"), None, Some("measurement"), Some(0)),
            Kind::Battery => row(Some("%"), Some("battery"), Some("measurement"), Some(0)),
            Kind::PowerFactor => row(None, Some("power_factor"), Some("measurement"), Some(2)),
            Kind::Temperature => row(
                Some("°C"),
                Some("temperature"),
                Some("measurement"),
                Some(1),
            ),
            // Counters of frames and errors are diagnostics: no long-term statistics.
            Kind::Count => row(None, None, None, None),
            Kind::Ratio => row(Some("%"), None, Some("measurement"), Some(1)),
            Kind::Binary => row(None, None, None, None),
            Kind::Duration => row(Some("s"), Some("duration"), Some("measurement"), Some(0)),
            Kind::Minutes => row(
                Some("min"),
                Some("duration"),
                Some("total_increasing"),
                Some(0),
            ),
            Kind::Money => row(Some("EUR"), Some("monetary"), None, Some(2)),
            Kind::Price => row(Some("EUR/kWh"), None, Some("measurement"), Some(4)),
            Kind::Cents => row(Some("ct/kWh"), None, None, Some(1)),
            Kind::Timestamp => row(None, Some("timestamp"), None, None),
            Kind::Text => row(None, None, None, None),
        }
    }

    pub fn is_numeric(self) -> bool {
        !matches!(self, Kind::Timestamp | Kind::Text | Kind::Binary)
    }
}

/// A named quantity with a stable key; the key is part of topics and unique ids.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Quantity {
    pub key: Cow<'static, str>,
    pub name: Cow<'static, str>,
    pub kind: Kind,
    /// Unmapped or rarely useful values start disabled in Home Assistant.
    pub enabled_by_default: bool,
}

impl Quantity {
    pub const fn known(key: &'static str, name: &'static str, kind: Kind) -> Self {
        Self {
            key: Cow::Borrowed(key),
            name: Cow::Borrowed(name),
            kind,
            enabled_by_default: true,
        }
    }
}

/// Every quantity with a name, by key: Modbus profiles name them, and the OBIS table maps meter
/// registers onto the same keys, so a grid meter publishes the same entities either way.
pub static NAMED: &[Quantity] = &[
    Quantity::known("power", "Power", Kind::Power),
    Quantity::known("power_l1", "Power L1", Kind::Power),
    Quantity::known("power_l2", "Power L2", Kind::Power),
    Quantity::known("power_l3", "Power L3", Kind::Power),
    Quantity::known("voltage_l1", "Voltage L1", Kind::Voltage),
    Quantity::known("voltage_l2", "Voltage L2", Kind::Voltage),
    Quantity::known("voltage_l3", "Voltage L3", Kind::Voltage),
    Quantity::known("current", "Current", Kind::Current),
    Quantity::known("voltage_l1_l2", "Voltage L1-L2", Kind::Voltage),
    Quantity::known("voltage_l2_l3", "Voltage L2-L3", Kind::Voltage),
    Quantity::known("voltage_l3_l1", "Voltage L3-L1", Kind::Voltage),
    Quantity::known("current_l1", "Current L1", Kind::Current),
    Quantity::known("current_l2", "Current L2", Kind::Current),
    Quantity::known("current_l3", "Current L3", Kind::Current),
    Quantity::known("frequency", "Frequency", Kind::Frequency),
    Quantity::known("power_factor", "Power factor", Kind::PowerFactor),
    Quantity::known("power_factor_l1", "Power factor L1", Kind::PowerFactor),
    Quantity::known("power_factor_l2", "Power factor L2", Kind::PowerFactor),
    Quantity::known("power_factor_l3", "Power factor L3", Kind::PowerFactor),
    Quantity::known("apparent_power", "Apparent power", Kind::ApparentPower),
    Quantity::known("reactive_power", "Reactive power", Kind::ReactivePower),
    Quantity::known("energy_import", "Energy import", Kind::Energy),
    Quantity::known("energy_export", "Energy export", Kind::Energy),
    Quantity::known("energy_import_l1", "Energy import L1", Kind::Energy),
    Quantity::known("energy_import_l2", "Energy import L2", Kind::Energy),
    Quantity::known("energy_import_l3", "Energy import L3", Kind::Energy),
    Quantity::known("energy_export_l1", "Energy export L1", Kind::Energy),
    Quantity::known("energy_export_l2", "Energy export L2", Kind::Energy),
    Quantity::known("energy_export_l3", "Energy export L3", Kind::Energy),
    Quantity::known("energy_total", "Energy total", Kind::Energy),
    Quantity::known("energy_production", "Energy produced", Kind::Energy),
    Quantity::known("energy_today", "Energy produced today", Kind::EnergyWindow),
    Quantity::known("pv_power", "PV power", Kind::Power),
    Quantity::known("dc_voltage", "DC voltage", Kind::Voltage),
    Quantity::known("dc_current", "DC current", Kind::Current),
    Quantity::known("temperature", "Temperature", Kind::Temperature),
    Quantity::known("battery_soc", "Battery state of charge", Kind::Battery),
    Quantity::known("battery_power", "Battery power", Kind::Power),
    Quantity::known("battery_voltage", "Battery voltage", Kind::Voltage),
    Quantity::known(
        "battery_energy_charged",
        "Battery energy charged",
        Kind::Energy,
    ),
    Quantity::known(
        "battery_energy_discharged",
        "Battery energy discharged",
        Kind::Energy,
    ),
    Quantity::known("rated_power", "Rated power", Kind::Power),
    Quantity::known("current_applied", "Charge current applied", Kind::Current),
    Quantity::known("status", "Status", Kind::Text),
    // The site view, derived from all devices by their roles.
    Quantity::known("grid_import_power", "Grid import power", Kind::Power),
    Quantity::known("grid_export_power", "Grid export power", Kind::Power),
    Quantity::known("house_power", "House consumption", Kind::Power),
    Quantity::known("surplus_power", "PV surplus", Kind::Power),
    Quantity::known("surplus_available", "PV surplus available", Kind::Binary),
    // §14a dimming by the grid operator.
    Quantity::known("p14a_dimmed", "Grid operator dimming", Kind::Binary),
    Quantity::known("p14a_minimum_power", "§14a minimum power", Kind::Power),
    Quantity::known("p14a_allowed_power", "§14a allowed power", Kind::Power),
    Quantity::known("p14a_rebate", "§14a rebate a year (Modul 1)", Kind::Money),
    Quantity::known("p14a_reason", "§14a dimming reason", Kind::Text),
    Quantity::known("p14a_minutes_today", "§14a dimmed today", Kind::Minutes),
    Quantity::known("p14a_minutes_year", "§14a dimmed this year", Kind::Minutes),
    Quantity::known("p14a_events_year", "§14a dimmings this year", Kind::Count),
    Quantity::known("p14a_feed_in_limit", "Feed-in limit (FNN)", Kind::Ratio),
    Quantity::known(
        "p14a_signal_seen",
        "§14a signal last report",
        Kind::Timestamp,
    ),
    Quantity::known(
        "p14a_signal_reachable",
        "§14a signal reachable",
        Kind::Binary,
    ),
    Quantity::known("p14a_followed", "§14a limit followed", Kind::Binary),
    // Prices.
    Quantity::known("price_now", "Electricity price", Kind::Price),
    Quantity::known("price_next", "Electricity price next", Kind::Price),
    Quantity::known("price_min_today", "Lowest price today", Kind::Price),
    Quantity::known("price_max_today", "Highest price today", Kind::Price),
    Quantity::known("price_avg_today", "Average price today", Kind::Price),
    Quantity::known(
        "cheapest_start_today",
        "Cheapest window today",
        Kind::Timestamp,
    ),
    Quantity::known(
        "cheapest_avg_today",
        "Cheapest window today, price",
        Kind::Price,
    ),
    Quantity::known(
        "cheapest_start_tonight",
        "Cheapest window tonight",
        Kind::Timestamp,
    ),
    Quantity::known(
        "cheapest_avg_tonight",
        "Cheapest window tonight, price",
        Kind::Price,
    ),
    Quantity::known("price_cheap", "Electricity cheap now", Kind::Binary),
    Quantity::known("price_band", "Network fee window (Modul 3)", Kind::Text),
    Quantity::known("price_status", "Prices", Kind::Text),
    Quantity::known("storage", "Storage", Kind::Text),
    Quantity::known(
        "grid_charging",
        "Battery charging from the grid",
        Kind::Binary,
    ),
    // The PV surplus allocator: per load, and for the site.
    Quantity::known("load_reason", "Surplus control", Kind::Text),
    Quantity::known("load_runtime_today", "Runtime today", Kind::Minutes),
    Quantity::known("load_energy_today", "Energy today", Kind::Energy),
    Quantity::known("surplus_allocated", "Surplus allocated", Kind::Power),
    Quantity::known("surplus_free", "Surplus still free", Kind::Power),
    // Inputs of I/O modules and inverters (0 or 1), such as a control box's contact.
    Quantity::known("input_1", "Input 1", Kind::Count),
    Quantity::known("input_2", "Input 2", Kind::Count),
    Quantity::known("input_3", "Input 3", Kind::Count),
    Quantity::known("input_4", "Input 4", Kind::Count),
    Quantity::known("p14a_limit", "§14a limit from the control box", Kind::Power),
    Quantity::known(
        "self_consumption_today",
        "Self-consumption today",
        Kind::Ratio,
    ),
    Quantity::known("autarky_today", "Autarky today", Kind::Ratio),
    Quantity::known("house_energy", "House consumption energy", Kind::Energy),
    Quantity::known("pv_self_energy", "Self-consumed PV energy", Kind::Energy),
    Quantity::known("grid_import_energy", "Grid import energy", Kind::Energy),
    Quantity::known("grid_export_energy", "Grid export energy", Kind::Energy),
    // Registers only SML meters have.
    Quantity::known("energy_import_t1", "Energy import tariff 1", Kind::Energy),
    Quantity::known("energy_import_t2", "Energy import tariff 2", Kind::Energy),
    Quantity::known("energy_export_t1", "Energy export tariff 1", Kind::Energy),
    Quantity::known("energy_export_t2", "Energy export tariff 2", Kind::Energy),
    Quantity::known(
        "energy_import_signed",
        "Energy import (1.17.0)",
        Kind::EnergySigned,
    ),
    Quantity::known("power_absolute", "Power (absolute)", Kind::Power),
    Quantity::known("power_import", "Power import", Kind::Power),
    Quantity::known("power_import_t1", "Power import (1.7.1)", Kind::Power),
    Quantity::known("power_export", "Power export", Kind::Power),
    Quantity::known("current_neutral", "Current neutral", Kind::Current),
    Quantity::known("angle_u_l2_l1", "Phase angle U L2-L1", Kind::Angle),
    Quantity::known("angle_u_l3_l1", "Phase angle U L3-L1", Kind::Angle),
    Quantity::known("angle_l1", "Phase angle I-U L1", Kind::Angle),
    Quantity::known("angle_l2", "Phase angle I-U L2", Kind::Angle),
    Quantity::known("angle_l3", "Phase angle I-U L3", Kind::Angle),
    Quantity::known(
        "energy_import_1d",
        "Energy import last day",
        Kind::EnergyWindow,
    ),
    Quantity::known(
        "energy_import_7d",
        "Energy import last 7 days",
        Kind::EnergyWindow,
    ),
    Quantity::known(
        "energy_import_30d",
        "Energy import last 30 days",
        Kind::EnergyWindow,
    ),
    Quantity::known(
        "energy_import_365d",
        "Energy import last 365 days",
        Kind::EnergyWindow,
    ),
    Quantity::known(
        "energy_import_since_reset",
        "Energy import since reset",
        Kind::EnergyWindow,
    ),
    Quantity::known(
        "energy_export_1d",
        "Energy export last day",
        Kind::EnergyWindow,
    ),
    Quantity::known(
        "energy_export_7d",
        "Energy export last 7 days",
        Kind::EnergyWindow,
    ),
    Quantity::known(
        "energy_export_30d",
        "Energy export last 30 days",
        Kind::EnergyWindow,
    ),
    Quantity::known(
        "energy_export_365d",
        "Energy export last 365 days",
        Kind::EnergyWindow,
    ),
    Quantity::known(
        "energy_export_since_reset",
        "Energy export since reset",
        Kind::EnergyWindow,
    ),
];

pub fn named(key: &str) -> Option<&'static Quantity> {
    NAMED.iter().find(|q| q.key == key)
}
