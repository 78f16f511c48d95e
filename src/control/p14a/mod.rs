//! §14a EnWG: the grid operator dims controllable devices; the site keeps a minimum power.
//!
//! [`minimum`] computes that power from the devices (and the Modul 1 rebate); [`signal`] turns
//! what the control box reports into the dimming state, failing safe when it falls silent;
//! [`budget`] spreads the power over the devices an energy manager drives.

pub mod budget;
pub mod dimmer;
pub mod minimum;
pub mod report;
pub mod signal;
pub mod tally;

pub use minimum::{BASE_W, Control, Device, Kind, Minimum, Rebate, minimum, modul1};
