//! A smart plug in the core: its switch entity (state from what the device reports, never from
//! what was asked), its power, and the rules for switching it.

use super::controls::Control;
use super::device::{Device, Driven, Offer};
use super::energy::{Integrator, kwh_payload};
use super::throttle::Policy;
use crate::ha::Platform;
use crate::message::Message;
use crate::model::{Now, PlugState, Role};
use crate::quantity::{self, Kind};

pub const SWITCH: Control = Control {
    key: "switch",
    name: "Switch",
    platform: Platform::Switch,
    kind: Kind::Binary,
    range: None,
    options: None,
    max_len: None,
};

/// How the core reaches a plug.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// Through an actuator task at the edge (HTTP devices).
    Task,
    /// Through MQTT topics the core maps itself (Tasmota).
    Tasmota { topic: String, power_key: String },
    /// Any device switched by a plain payload on one topic, reporting on another.
    Mqtt {
        command_topic: String,
        state_topic: String,
        payload_on: String,
        payload_off: String,
    },
}

/// A plug as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct PlugSettings {
    pub id: String,
    pub name: String,
    pub reach: Reach,
    pub min_switch_ms: u64,
    pub policy: Policy,
    /// Switch the plug off when Stromwart stops.
    pub off_on_stop: bool,
}

#[derive(Debug)]
pub struct Plug {
    pub device: Device,
    pub off_on_stop: bool,
    /// Energy counted from the plug's power.
    pub energy: Integrator,
    pub reach: Reach,
    min_switch_ms: u64,
    last_switch_ms: Option<u64>,
    state: PlugState,
}

impl Plug {
    pub fn new(s: PlugSettings, instance: &str) -> Self {
        let PlugSettings {
            id,
            name,
            reach,
            min_switch_ms,
            policy,
            off_on_stop,
        } = s;
        let manufacturer = match reach {
            Reach::Task => "Shelly",
            Reach::Tasmota { .. } => "Tasmota",
            Reach::Mqtt { .. } => "MQTT",
        };
        let device = Driven {
            kind: "plug",
            id: &id,
            name: &name,
            role: Role::Consumer,
            policy,
            manufacturer: Some(manufacturer.into()),
            model: None,
        }
        .device(instance);
        Self {
            device,
            off_on_stop,
            energy: Integrator::default(),
            reach,
            min_switch_ms,
            last_switch_ms: None,
            state: PlugState::default(),
        }
    }

    /// Checks a switch command; `Err` says why it is refused.
    pub fn may_switch(&mut self, now: Now) -> Result<(), String> {
        if !self.state.online {
            return Err("the plug gives no usable answer, so it cannot be switched now".into());
        }
        if let Some(last) = self.last_switch_ms {
            let since = now.mono_ms.saturating_sub(last);
            if since < self.min_switch_ms {
                let wait = (self.min_switch_ms - since).div_ceil(1000);
                return Err(format!(
                    "switched {} s ago; wait {wait} s more (min_switch_interval)",
                    since / 1000
                ));
            }
        }
        self.last_switch_ms = Some(now.mono_ms);
        Ok(())
    }

    /// The MQTT command for `on`, if this plug is reached over MQTT.
    pub fn mqtt_command(&self, on: bool) -> Option<Message> {
        let (topic, payload) = match &self.reach {
            Reach::Task => return None,
            Reach::Tasmota { topic, power_key } => (
                format!("cmnd/{topic}/{power_key}"),
                if on { "ON" } else { "OFF" }.to_string(),
            ),
            Reach::Mqtt {
                command_topic,
                payload_on,
                payload_off,
                ..
            } => (
                command_topic.clone(),
                if on { payload_on } else { payload_off }.clone(),
            ),
        };
        // Commands act once: never retained.
        Some(Message {
            topic,
            payload,
            retain: false,
            qos: 1,
        })
    }

    /// The switch entity's current state, for confirming a refused command.
    pub fn switch_payload(&self) -> String {
        match self.state.on {
            Some(true) => "ON".into(),
            Some(false) => "OFF".into(),
            None => "None".into(),
        }
    }

    /// Announces the plug before it has reported: its switch, shown unavailable until the
    /// device answers (an MQTT device may never have left a retained state).
    pub fn announce(&mut self, base: &str, out: &mut Vec<Message>) {
        if self.device.state_topic(SWITCH.key).is_none() {
            self.device.declare(&SWITCH, None, base);
            self.device.reachable(false, base, out);
        }
    }

    /// A message that makes the device say where it stands, for devices that can be asked:
    /// Tasmota answers an empty command with its state.
    pub fn state_query(&self) -> Option<Message> {
        let Reach::Tasmota { topic, power_key } = &self.reach else {
            return None;
        };
        Some(Message {
            topic: format!("cmnd/{topic}/{power_key}"),
            payload: String::new(),
            retain: false,
            qos: 1,
        })
    }

    /// What the device reported.
    pub fn on_state(&mut self, s: PlugState, base: &str, now: Now, out: &mut Vec<Message>) {
        self.device.reachable(s.online, base, out);
        if !s.online {
            self.state.online = false;
            self.energy.pause();
            return;
        }
        self.state = PlugState {
            on: s.on.or(self.state.on),
            power: s.power.or(self.state.power),
            online: true,
        };
        let payload = self.switch_payload();
        self.device
            .command_entity(&SWITCH, None, payload, base, now, out);
        if let (Some(w), Some(q)) = (s.power, quantity::named("power")) {
            self.device
                .offer(Offer::value(q, format!("{w}")), base, now, out);
            // No plug driver reads a counter of the plug's own: count from its power, so the
            // Energy dashboard can list it among the devices.
            let wh = self.energy.power(w, now.mono_ms);
            if let Some(q) = quantity::named("energy_total") {
                self.device
                    .offer(Offer::value(q, kwh_payload(wh)), base, now, out);
            }
        }
    }

    /// Maps a message from an MQTT device to a state; `None` when it is not this plug's.
    pub fn mqtt_state(&self, topic: &str, payload: &str) -> Option<PlugState> {
        if let Reach::Mqtt {
            state_topic,
            payload_on,
            payload_off,
            ..
        } = &self.reach
        {
            let p = payload.trim();
            let on = (topic == state_topic)
                .then(|| {
                    (p == payload_on)
                        .then_some(true)
                        .or((p == payload_off).then_some(false))
                })
                .flatten()?;
            return Some(PlugState {
                on: Some(on),
                power: None,
                online: true,
            });
        }
        self.tasmota_state(topic, payload)
    }

    /// Maps a Tasmota message (`stat/<topic>/RESULT`, `stat/<topic>/POWER`, `tele/<topic>/SENSOR`).
    fn tasmota_state(&self, topic: &str, payload: &str) -> Option<PlugState> {
        let Reach::Tasmota {
            topic: t,
            power_key,
        } = &self.reach
        else {
            return None;
        };
        let rest = topic
            .strip_prefix("stat/")
            .or_else(|| topic.strip_prefix("tele/"))?;
        let (device, kind) = rest.split_once('/')?;
        if device != t {
            return None;
        }
        let word = |v: &str| match v {
            "ON" => Some(true),
            "OFF" => Some(false),
            _ => None,
        };
        let json = || serde_json::from_str::<serde_json::Value>(payload).ok();
        let state = match kind {
            k if k == power_key => PlugState {
                on: word(payload.trim()),
                ..PlugState::default()
            },
            "RESULT" | "STATE" => PlugState {
                on: json()?.get(power_key)?.as_str().and_then(word),
                ..PlugState::default()
            },
            "SENSOR" => PlugState {
                power: json()?["ENERGY"]["Power"].as_f64(),
                ..PlugState::default()
            },
            _ => return None,
        };
        (state.on.is_some() || state.power.is_some()).then_some(PlugState {
            online: true,
            ..state
        })
    }
}
