//! The battery capability: a mode (auto, hold, charge, discharge) and two power limits.

use std::time::Duration;

use super::ActuatorError;
use crate::model::{BatteryCommand, BatteryState};

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
