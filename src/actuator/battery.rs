//! The battery capability: a mode (auto, hold, charge, discharge) and two power limits.

use std::time::Duration;

use super::ActuatorError;
use crate::quantity::Quantity;

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

/// A battery whose mode and power limits can be set.
pub trait Battery {
    /// Applies a command and returns the state the battery reports afterwards.
    fn apply(
        &mut self,
        cmd: BatteryCommand,
    ) -> impl std::future::Future<Output = Result<BatteryState, ActuatorError>>;
    fn state(&mut self) -> impl std::future::Future<Output = Result<BatteryState, ActuatorError>>;
    /// How often the task must call [`Battery::state`], which re-writes the setpoints in
    /// force before the device's own fallback.
    fn heartbeat(&self) -> Option<Duration> {
        None
    }
}
