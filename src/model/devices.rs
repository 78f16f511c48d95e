//! What the devices Stromwart drives are told and what they report: the language between the
//! core (and the controllers), which decide, and the drivers at the edge, which carry out.

use crate::quantity::Quantity;

/// What a plug reports about itself.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PlugState {
    pub on: Option<bool>,
    /// Watts, where the plug measures.
    pub power: Option<f64>,
    pub online: bool,
}

/// The lowest current the IEC 61851 charging standard allows.
pub const MIN_CURRENT_A: u8 = 6;
/// Nominal phase voltage of the German low-voltage grid, for turning watts into amperes.
pub const VOLTS: u32 = 230;
/// What a charger can be doing, as Stromwart names it whatever the charger calls it.
pub const STATUSES: &[&str] = &["idle", "charging", "waiting", "complete", "error"];

/// A wallbox command, checked by the core before it gets here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WallboxCommand {
    Enable(bool),
    /// Amperes; 0 stops charging.
    Current(u8),
    /// 1 or 3, or 0 for the charger's automatic choice.
    Phases(u8),
}

/// What a wallbox reports about itself.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WallboxState {
    pub enabled: bool,
    /// The current limit in force, A.
    pub current_a: u8,
    /// Forced phases; `None` when the charger chooses.
    pub phases: Option<u8>,
    pub power: Option<f64>,
    pub energy_wh: Option<f64>,
    pub status: &'static str,
    pub online: bool,
    /// Further values the charger reports (phase currents, the current it applies), published
    /// as sensors.
    pub extra: Vec<(Quantity, f64)>,
}

/// A battery command, checked by the core before it gets here.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BatteryCommand {
    /// One of [`crate::modbus::control::MODES`].
    Mode(&'static str),
    /// Watts.
    ChargeLimit(f64),
    DischargeLimit(f64),
}

/// What a battery reports about itself.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BatteryState {
    /// The mode the device holds, as read back from its registers.
    pub mode: &'static str,
    /// The limits in force, W.
    pub charge_limit: f64,
    pub discharge_limit: f64,
    /// State of charge, power and whatever else the profile reads.
    pub readings: Vec<(Quantity, f64)>,
    pub online: bool,
}

impl BatteryState {
    /// A reading by its quantity key (`battery_soc`, `battery_power`).
    pub fn reading(&self, key: &str) -> Option<f64> {
        self.readings
            .iter()
            .find(|(q, _)| q.key == key)
            .map(|(_, v)| *v)
    }
}
