//! What one poll of a device brought: its values and what went wrong on the way.

use super::plan::Values;

/// The outcome of one poll, for the core and for `stromwart modbus read`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Poll {
    pub values: Values,
    /// Meters behind the device on the same unit (SunSpec 201–214 after an inverter), each a
    /// device of its own.
    pub meters: Vec<Values>,
    pub requests: u32,
    pub exceptions: u32,
    pub timeouts: u32,
    pub failures: u32,
    /// The first problem, worded for people.
    pub problem: Option<String>,
}

impl Poll {
    /// At least one value came back.
    pub fn ok(&self) -> bool {
        !self.values.readings.is_empty()
    }
}
