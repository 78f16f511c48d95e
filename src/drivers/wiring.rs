//! Wiring the devices Stromwart drives: their settings for the core, a task for each one that
//! needs one, and the core's actions handed to those tasks.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::bus::ControlWrite;
use crate::config::{
    BatteryConfig, Config, PlugConfig, PlugDriver, WallboxConfig, WallboxDriver, WallboxStop,
};
use crate::core::battery::BatterySettings;
use crate::core::plug::{PlugSettings, Reach};
use crate::core::wallbox::{FIXED_PHASE_CHOICES, PHASE_CHOICES, WallboxSettings};
use crate::drivers;
use crate::drivers::modbus_battery::{self, ModbusBattery};
use crate::drivers::modbus_link::Link;
use crate::drivers::modbus_wallbox::{self, ModbusWallbox};
use crate::drivers::shelly::{Generation, Shelly};
use crate::model::{Action, BatteryCommand, WallboxCommand};
use crate::sink::Sink;

/// Requests queued per device before a new one is dropped as "busy".
const QUEUE: usize = 4;

pub fn wallbox_settings(w: &WallboxConfig) -> WallboxSettings {
    let (manufacturer, phases) = match &w.driver {
        WallboxDriver::GoE { .. } => ("go-e".to_string(), PHASE_CHOICES),
        WallboxDriver::Modbus { link, .. } => {
            let phases = if link.profile.controls.get("phases").is_some() {
                FIXED_PHASE_CHOICES
            } else {
                &[]
            };
            let p = &link.profile;
            (p.manufacturer.clone().unwrap_or(p.title.clone()), phases)
        }
    };
    let model = match &w.driver {
        WallboxDriver::GoE { .. } => Some("go-eCharger".to_string()),
        WallboxDriver::Modbus { link, .. } => link.profile.model.clone(),
    };
    WallboxSettings {
        id: w.id.clone(),
        name: w.name.clone(),
        manufacturer,
        model,
        max_current_a: w.max_current_a,
        phases,
        min_change_ms: (w.min_change_interval_s * 1000.0) as u64,
        policy: w.publish.policy(),
        on_stop: match w.on_stop {
            WallboxStop::Leave => None,
            WallboxStop::Off => Some(WallboxCommand::Enable(false)),
            WallboxStop::SafeCurrent => Some(WallboxCommand::Current(w.safe_current_a)),
        },
    }
}

pub fn battery_settings(b: &BatteryConfig) -> BatterySettings {
    let p = &b.link.profile;
    let modes: Vec<&'static str> = p.controls.modes.iter().map(|(m, _)| *m).collect();
    BatterySettings {
        id: b.id.clone(),
        name: b.name.clone(),
        manufacturer: p.manufacturer.clone(),
        model: p.model.clone(),
        // Once per battery at start: a handful of bytes for the life of the process.
        modes: Vec::leak(modes),
        max_charge_w: b.max_charge_w,
        max_discharge_w: b.max_discharge_w,
        min_change_ms: (b.min_change_interval_s * 1000.0) as u64,
        policy: b.publish.policy(),
        // Every battery profile has an `auto` mode; the config reader sees to that.
        on_stop: b.auto_on_stop.then_some(BatteryCommand::Mode("auto")),
    }
}

pub fn plug_settings(p: &PlugConfig) -> PlugSettings {
    let reach = match &p.driver {
        PlugDriver::Shelly { .. } => Reach::Task,
        PlugDriver::Tasmota { topic, power_key } => Reach::Tasmota {
            topic: topic.clone(),
            power_key: power_key.clone(),
        },
        PlugDriver::Mqtt {
            command_topic,
            state_topic,
            payload_on,
            payload_off,
        } => Reach::Mqtt {
            command_topic: command_topic.clone(),
            state_topic: state_topic.clone(),
            payload_on: payload_on.clone(),
            payload_off: payload_off.clone(),
        },
    };
    PlugSettings {
        id: p.id.clone(),
        name: p.name.clone(),
        reach,
        min_switch_ms: (p.min_switch_interval_s * 1000.0) as u64,
        policy: p.publish.policy(),
        off_on_stop: p.off_on_stop,
    }
}

/// The queues to the device tasks, by the core's numbering.
pub struct Actuators {
    /// `None` for plugs the core drives over MQTT itself.
    plugs: Vec<Option<mpsc::Sender<bool>>>,
    wallboxes: Vec<mpsc::Sender<WallboxCommand>>,
    batteries: Vec<mpsc::Sender<BatteryCommand>>,
    /// By Modbus device (under `devices:`): the task of the bus it is on, for its controls.
    buses: Vec<Option<mpsc::Sender<ControlWrite>>>,
    /// The device tasks, awaited on stop so that the last commands are carried out.
    tasks: Vec<JoinHandle<()>>,
}

impl Actuators {
    /// Starts a task for every plug reached over HTTP, every wallbox and every battery.
    pub fn spawn(config: &Config, sink: &Sink) -> Result<Self, String> {
        let mut me = Self {
            plugs: Vec::new(),
            wallboxes: Vec::new(),
            batteries: Vec::new(),
            buses: Vec::new(),
            tasks: Vec::new(),
        };
        let tasks = &mut me.tasks;
        for (i, p) in config.plugs.iter().enumerate() {
            let PlugDriver::Shelly {
                url,
                gen2,
                channel,
                user,
                password,
            } = &p.driver
            else {
                me.plugs.push(None);
                continue;
            };
            let generation = if *gen2 {
                Generation::Two
            } else {
                Generation::One
            };
            let auth = user.clone().map(|u| (u, password.clone()));
            let auto_off = p.auto_off_s.map(Duration::from_secs_f64);
            let shelly = Shelly::new(url, *channel, generation, auth, auto_off)?;
            let (tx, rx) = mpsc::channel(QUEUE);
            let poll = Duration::from_secs_f64(p.poll_interval_s);
            let task = drivers::run(i, p.id.clone(), shelly, rx, poll, sink.clone());
            tasks.push(tokio::spawn(task));
            me.plugs.push(Some(tx));
        }
        for (i, w) in config.wallboxes.iter().enumerate() {
            let (tx, rx) = mpsc::channel(QUEUE);
            let poll = Duration::from_secs_f64(w.poll_interval_s);
            let (id, sink) = (w.id.clone(), sink.clone());
            tasks.push(match &w.driver {
                WallboxDriver::GoE { url } => {
                    let goe = drivers::goe::GoE::new(url)?;
                    tokio::spawn(drivers::run_wallbox(i, id, goe, rx, poll, sink))
                }
                WallboxDriver::Modbus {
                    link,
                    safe_current_a,
                    watchdog_s,
                    rewrite_interval_s,
                } => {
                    let link = Link::new(
                        &w.id,
                        link.profile.clone(),
                        link.transport.clone(),
                        link.unit,
                    );
                    let start = modbus_wallbox::StartValues {
                        safe_current_a: *safe_current_a,
                        watchdog_s: *watchdog_s,
                        rewrite_interval: Duration::from_secs_f64(*rewrite_interval_s),
                    };
                    let wallbox = ModbusWallbox::new(link, start);
                    tokio::spawn(drivers::run_wallbox(i, id, wallbox, rx, poll, sink))
                }
            });
            me.wallboxes.push(tx);
        }
        for (i, b) in config.batteries.iter().enumerate() {
            let (tx, rx) = mpsc::channel(QUEUE);
            let l = &b.link;
            let link = Link::new(&b.id, l.profile.clone(), l.transport.clone(), l.unit);
            let start = modbus_battery::StartValues {
                charge_limit_w: b.charge_limit_w,
                discharge_limit_w: b.discharge_limit_w,
                rewrite_interval: Duration::from_secs_f64(b.rewrite_interval_s),
            };
            let battery = ModbusBattery::new(link, start);
            let poll = Duration::from_secs_f64(b.poll_interval_s);
            let task = drivers::run_battery(i, b.id.clone(), battery, rx, poll, sink.clone());
            tasks.push(tokio::spawn(task));
            me.batteries.push(tx);
        }
        Ok(me)
    }

    /// A bus task's queue, which writes the controls of the devices at these positions.
    pub fn bus(
        &mut self,
        devices: impl IntoIterator<Item = usize>,
    ) -> mpsc::Receiver<ControlWrite> {
        let (tx, rx) = mpsc::channel(QUEUE);
        for d in devices {
            if self.buses.len() <= d {
                self.buses.resize(d + 1, None);
            }
            self.buses[d] = Some(tx.clone());
        }
        rx
    }

    /// Closes the queues and waits, at most `within`, for the tasks to carry out what is in
    /// them (the safe states on stop) and end.
    pub async fn finish(self, within: Duration) {
        let Self {
            plugs,
            wallboxes,
            batteries,
            buses,
            tasks,
        } = self;
        drop((plugs, wallboxes, batteries, buses));
        let all = async {
            for t in tasks {
                let _ = t.await;
            }
        };
        if tokio::time::timeout(within, all).await.is_err() {
            tracing::warn!(
                "Not every device confirmed its safe state within {} s; those fall back on their own timers, where they have one.",
                within.as_secs()
            );
        }
    }

    /// Hands an action to its device's task: `Some(false)` when the task is still busy with
    /// earlier ones, `None` when no task drives that device.
    pub fn send(&self, action: Action) -> Option<bool> {
        match action {
            Action::Plug { plug, on } => self
                .plugs
                .get(plug)
                .and_then(Option::as_ref)
                .map(|tx| tx.try_send(on).is_ok()),
            Action::Wallbox { wallbox, command } => self
                .wallboxes
                .get(wallbox)
                .map(|tx| tx.try_send(command).is_ok()),
            Action::Battery { battery, command } => self
                .batteries
                .get(battery)
                .map(|tx| tx.try_send(command).is_ok()),
            Action::Control {
                device,
                control,
                value,
            } => self.buses.get(device).and_then(Option::as_ref).map(|tx| {
                let write = ControlWrite {
                    device,
                    control,
                    value,
                };
                tx.try_send(write).is_ok()
            }),
        }
    }
}
