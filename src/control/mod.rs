//! Controllers: pure functions over a [`Snapshot`] of the house and [`Now`], returning
//! [`Decisions`].
//!
//! A controller reads no clock, does no I/O and keeps no state but its own memory (smoothing
//! windows, hysteresis, today's totals) and its settings. Given the same memory, snapshot and
//! time it decides the same, so every rule is a unit test with simulated time. The core keeps
//! the snapshot up to date from the events it takes, asks each controller on every tick, and
//! carries out what comes back: commands go to the device tasks, entity states are published on
//! the controller's device, log records are logged. `docs/architecture.md` walks through adding
//! one.

pub mod p14a;
pub mod prices;
pub mod site;
pub mod surplus;

use std::collections::BTreeMap;

use crate::model::{Action, BatteryState, Now, PlugState, Role, WallboxState};

/// How long a reading describes the house when its source says nothing else: three missed
/// heartbeats of a minute, the default `expire_after` of a device's own values.
pub const STALE_MS: u64 = 180_000;

/// The house as the core knows it at one moment: the latest power of every device by its role,
/// and what the driven devices last reported.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Latest power per role and source: (watts, when in monotonic ms). A source is a position
    /// in the core's numbering of meters, Modbus devices and batteries.
    powers: BTreeMap<(Role, usize), (f64, u64)>,
    /// How long each source's readings count, where it is not [`STALE_MS`].
    max_age_ms: BTreeMap<usize, u64>,
    /// What each plug, wallbox and battery last reported, by its position in the config.
    pub plugs: Vec<PlugState>,
    pub wallboxes: Vec<WallboxState>,
    pub batteries: Vec<BatteryState>,
    /// A grid meter counts imported and exported energy itself, so the site need not.
    pub grid_counters: bool,
    /// Controls of Modbus devices as last written: (device, control) to the value read back,
    /// or why the write failed.
    pub controls: BTreeMap<(usize, usize), Result<f64, String>>,
    /// The customer's price of each known slot: (start, end in Unix seconds, EUR/kWh).
    pub prices: Vec<(i64, i64, f64)>,
}

impl Snapshot {
    /// A house with this many plugs, wallboxes and batteries, none of which has reported yet.
    pub fn new(plugs: usize, wallboxes: usize, batteries: usize) -> Self {
        Self {
            powers: BTreeMap::new(),
            max_age_ms: BTreeMap::new(),
            plugs: vec![PlugState::default(); plugs],
            wallboxes: vec![WallboxState::default(); wallboxes],
            batteries: vec![BatteryState::default(); batteries],
            grid_counters: false,
            controls: BTreeMap::new(),
            prices: Vec::new(),
        }
    }

    /// Records a device's power: the grid meter's signed power (positive when importing), an
    /// inverter's output, a battery's power (positive while discharging).
    pub fn power(&mut self, role: Role, source: usize, watts: f64, now: Now) {
        self.powers.insert((role, source), (watts, now.mono_ms));
    }

    /// Readings of `source` count for `ms` after they arrive: a device's values are as current
    /// here as its own entities are in Home Assistant (its `expire_after`).
    pub fn fresh_for(&mut self, source: usize, ms: u64) {
        self.max_age_ms.insert(source, ms);
    }

    /// The summed power of every source in `role` that reported recently enough; `None` when
    /// none did.
    pub fn sum(&self, role: Role, now: Now) -> Option<f64> {
        let mut fresh = self
            .powers
            .iter()
            .filter(|((r, source), (_, at))| {
                let max_age = self.max_age_ms.get(source).copied().unwrap_or(STALE_MS);
                *r == role && now.mono_ms.saturating_sub(*at) <= max_age
            })
            .map(|(_, (w, _))| *w)
            .peekable();
        fresh.peek()?;
        Some(fresh.sum())
    }
}

impl Snapshot {
    /// How long ago the newest reading of `role` arrived; `None` before any did.
    pub fn age_ms(&self, role: Role, now: Now) -> Option<u64> {
        self.powers
            .iter()
            .filter(|((r, _), _)| *r == role)
            .map(|(_, (_, at))| now.mono_ms.saturating_sub(*at))
            .min()
    }
}

/// What a controller wants done after looking at the house.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decisions {
    /// Commands for the devices Stromwart drives.
    pub actions: Vec<Action>,
    /// States of the controller's own entities, by quantity key (see [`crate::quantity`]). An
    /// entity without a value to show is left out.
    pub states: Vec<(&'static str, State)>,
    /// Bookkeeping entities of the controller (a signal's last report): diagnostics in Home
    /// Assistant, without an expiry.
    pub diagnostics: Vec<(&'static str, State)>,
    /// States shown on a driven device's own entities (the limit §14a puts on a wallbox).
    pub shown: Vec<(Driven, &'static str, State)>,
    /// Further attributes of one of the controller's entities, as a JSON object (a schedule
    /// for chart cards).
    pub attributes: Vec<(&'static str, String)>,
    /// What the controller wants people to read in the log, and why it decided as it did.
    pub log: Vec<Record>,
}

impl Decisions {
    /// Adds another controller's decisions after these.
    pub fn extend(&mut self, more: Decisions) {
        self.actions.extend(more.actions);
        self.states.extend(more.states);
        self.diagnostics.extend(more.diagnostics);
        self.shown.extend(more.shown);
        self.attributes.extend(more.attributes);
        self.log.extend(more.log);
    }
}

/// A device Stromwart drives, by its position in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driven {
    Plug(usize),
    Wallbox(usize),
    Battery(usize),
    /// A Modbus device under `devices:`.
    Device(usize),
}

/// One entity state a controller decided.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    Number(f64),
    Switch(bool),
    /// Text as shown (a reason, a timestamp in ISO 8601).
    Text(String),
}

/// A log line from a controller, logged by the core at its level.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub level: Level,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
}

/// A controller: looks at the house at `now` and decides.
pub trait Controller {
    fn decide(&mut self, house: &Snapshot, now: Now) -> Decisions;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_sums_its_fresh_sources_only() {
        let mut house = Snapshot::default();
        house.power(Role::Pv, 1, 800.0, Now::at_s(0));
        house.power(Role::Pv, 2, 1200.0, Now::at_s(100));
        house.power(Role::Grid, 0, -300.0, Now::at_s(100));
        assert_eq!(house.sum(Role::Pv, Now::at_s(100)), Some(2000.0));
        assert_eq!(house.sum(Role::Battery, Now::at_s(100)), None);
        // Three minutes after the first inverter's last word only the second one counts.
        assert_eq!(house.sum(Role::Pv, Now::at_s(181)), Some(1200.0));
        assert_eq!(house.sum(Role::Pv, Now::at_s(281)), None);
    }

    #[test]
    fn each_source_stays_fresh_for_its_own_time() {
        let mut house = Snapshot::default();
        house.fresh_for(0, 5_000);
        house.power(Role::Grid, 0, 100.0, Now::at_s(0));
        house.power(Role::Pv, 1, 800.0, Now::at_s(0));
        assert_eq!(house.sum(Role::Grid, Now::at_s(5)), Some(100.0));
        assert_eq!(house.sum(Role::Grid, Now::at_s(6)), None);
        assert_eq!(house.sum(Role::Pv, Now::at_s(6)), Some(800.0));
    }

    #[test]
    fn a_new_house_knows_its_devices_but_nothing_they_said() {
        let house = Snapshot::new(2, 1, 0);
        assert_eq!(house.plugs, vec![PlugState::default(); 2]);
        assert_eq!(house.wallboxes.len(), 1);
        assert!(house.batteries.is_empty());
    }
}
