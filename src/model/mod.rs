//! The model the layers share: time as it is passed in, the events the edges send the core, the
//! requests the core sends the edges, and what the devices Stromwart drives are told and report.
//!
//! Drivers, controllers and the core all speak these types, so none of them needs another's.

pub mod devices;
pub mod price;
pub mod time;

pub use devices::{BatteryCommand, BatteryState, PlugState, WallboxCommand, WallboxState};
pub use price::Slot;
pub use time::Now;

use crate::modbus::Poll;
use crate::sml::Telegram;

/// What a device is for in the house; the site view (surplus, self-consumption) builds on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Grid,
    Pv,
    Battery,
    Consumer,
}

impl Role {
    pub const NAMES: &'static [&'static str] = &["grid", "pv", "battery", "consumer"];

    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "grid" => Self::Grid,
            "pv" => Self::Pv,
            "battery" => Self::Battery,
            "consumer" => Self::Consumer,
            _ => return None,
        })
    }
}

#[derive(Debug)]
pub enum Event {
    Telegram {
        meter: usize,
        telegram: Box<Telegram>,
    },
    FrameError {
        meter: usize,
    },
    /// A Modbus device was polled.
    ModbusPoll {
        device: usize,
        poll: Box<Poll>,
    },
    /// The broker accepted our connection (first time or again).
    MqttConnected,
    /// Home Assistant published its birth message.
    HaOnline,
    /// Periodic wake-up from the edge, about once a second.
    Tick,
    /// A held-back value fell due (the core says when): publish what is due, nothing else.
    Flush,
    /// The retained discovery configs found on the broker at start: (topic, payload).
    RetainedConfigs(Vec<(String, String)>),
    /// A battery reported its state.
    BatteryState {
        battery: usize,
        state: BatteryState,
    },
    /// A wallbox reported its state.
    WallboxState {
        wallbox: usize,
        state: WallboxState,
    },
    /// A plug said what model it is.
    PlugModel {
        plug: usize,
        model: String,
    },
    /// A plug driven by an edge task reported its state.
    PlugState {
        plug: usize,
        state: PlugState,
    },
    /// A message on a device topic the core maps itself (Tasmota's `stat/…`, `tele/…`).
    Incoming {
        topic: String,
        payload: String,
    },
    /// What a §14a signal source that is not a topic said (a Shelly input's state), by its
    /// position in the config.
    P14aInput {
        source: usize,
        payload: String,
    },
    /// A message on a command topic (`<base>/<id>/<key>/set`).
    Command {
        topic: String,
        payload: String,
        retained: bool,
    },
    /// The settings the core handed out were written to disk, or why not (a full disk).
    SettingsSaved(Result<(), String>),
    /// Prices from a fetch or the cache, or why fetching failed.
    Prices(Result<Vec<Slot>, String>),
    /// A control of a Modbus device (under `devices:`) was written: the value it reads back,
    /// or why the write failed.
    ControlWritten {
        device: usize,
        control: usize,
        result: Result<f64, String>,
    },
}

/// A request for a device an edge task drives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    Plug {
        plug: usize,
        on: bool,
    },
    Wallbox {
        wallbox: usize,
        command: WallboxCommand,
    },
    Battery {
        battery: usize,
        command: BatteryCommand,
    },
    /// Writes a control of a Modbus device (a heat pump's power limit), by the device's and
    /// the control's positions.
    Control {
        device: usize,
        control: usize,
        value: f64,
    },
}
