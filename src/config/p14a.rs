//! The `p14a:` section: where the grid operator's dimming signal comes from, which devices it
//! limits, and how (see `docs/p14a.md`).

use super::{Config, find_id};
use crate::control::p14a::dimmer::{DimmedDevice, DimmerSettings, Target, Topic};
use crate::control::p14a::signal::SourceSettings;
use crate::control::p14a::{BASE_W, Control, Kind};
use crate::reader::Section;

#[derive(Debug, Clone, PartialEq)]
pub struct P14aConfig {
    pub control: Control,
    /// The operator's figure in W, in place of the computed minimum.
    pub minimum_power_w: Option<u32>,
    /// Add the house's own PV generation to the budget (the rule limits grid draw).
    pub add_pv: bool,
    /// Network energy price in ct/kWh net, for the Modul 1 rebate.
    pub network_price_ct: Option<f64>,
    pub signals: Vec<SignalConfig>,
    pub devices: Vec<ControlledConfig>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SignalConfig {
    pub name: String,
    pub source: SignalSource,
    /// Payloads that mean "dim" and "release"; a number is a limit in W.
    pub dim: Vec<String>,
    pub release: Vec<String>,
    /// Silence after which the source counts as failed; `None`: never (a sender that reports
    /// only on change), where an availability topic can tell instead.
    pub timeout_s: Option<f64>,
    pub fail_safe: bool,
    pub debounce_s: f64,
    /// The FNN contact the source reads: W4 dims consumption; W3, S2 and S1 limit feed-in to
    /// 0, 30 and 60 % and are only shown.
    pub contact: Contact,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contact {
    W4,
    W3,
    S2,
    S1,
}

impl Contact {
    pub const NAMES: &'static [&'static str] = &["W4", "W3", "S2", "S1"];

    /// The feed-in limit a closed contact sets, in percent; `None` for W4 (consumption).
    pub fn feed_in(self) -> Option<u8> {
        match self {
            Contact::W4 => None,
            Contact::W3 => Some(0),
            Contact::S2 => Some(30),
            Contact::S1 => Some(60),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum SignalSource {
    /// A topic on the broker (a Shelly or ESPHome input wired to the control box), with the
    /// sender's availability topic where it has one.
    Mqtt {
        topic: String,
        availability: Option<String>,
        online: String,
    },
    /// A Shelly Gen2 input polled over HTTP (`Input.GetStatus`).
    Shelly {
        url: String,
        input: u8,
        interval_s: f64,
    },
    /// A value a configured Modbus device reads through its profile (a discrete input, a coil
    /// or a register of an I/O module or an inverter), by the device's id and the quantity.
    Modbus { device: String, value: String },
}

/// A device §14a limits.
#[derive(Debug, Clone, PartialEq)]
pub struct ControlledConfig {
    pub name: String,
    pub kind: Kind,
    pub rated_w: u32,
    pub priority: i32,
    pub drive: Drive,
}

/// What carries out a device's limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drive {
    /// A configured wallbox, by its id: its current.
    Wallbox(String),
    /// A configured battery, by its id: its charge limit.
    Battery(String),
    /// A configured plug, by its id, switching the device's own §14a input.
    Relay(String),
    /// A control of a configured Modbus device (a heat pump's power limit register), in W.
    Modbus { device: String, control: String },
    /// Nothing Stromwart drives: the device is only counted.
    Counted,
}

impl Config {
    /// The §14a section as the core's controller takes it: devices by their position among
    /// the wallboxes, batteries and plugs.
    pub fn dimmer_settings(&self) -> Option<DimmerSettings> {
        let p = self.p14a.as_ref()?;
        let position = |ids: Vec<&str>, id: &str| ids.iter().position(|known| *known == id);
        let target = |drive: &Drive| match drive {
            Drive::Wallbox(id) => {
                position(self.wallboxes.iter().map(|w| w.id.as_str()).collect(), id)
                    .map_or(Target::Counted, Target::Wallbox)
            }
            Drive::Battery(id) => {
                position(self.batteries.iter().map(|b| b.id.as_str()).collect(), id)
                    .map_or(Target::Counted, Target::Battery)
            }
            Drive::Relay(id) => position(self.plugs.iter().map(|p| p.id.as_str()).collect(), id)
                .map_or(Target::Counted, Target::Relay),
            Drive::Modbus { device, control } => {
                let at = self.devices.iter().position(|d| &d.id == device);
                let found = at.and_then(|d| {
                    let writable = &self.devices[d].profile.controls.writable;
                    let c = writable.iter().position(|w| &w.name == control)?;
                    Some((d, c, writable[c].max))
                });
                found.map_or(Target::Counted, |(device, control, max)| Target::Modbus {
                    device,
                    control,
                    max_w: max.max(0.0) as u32,
                })
            }
            Drive::Counted => Target::Counted,
        };
        let devices = p
            .devices
            .iter()
            .map(|d| DimmedDevice {
                name: d.name.clone(),
                kind: d.kind,
                rated_w: d.rated_w,
                priority: d.priority,
                target: target(&d.drive),
            })
            .collect();
        let sources = p
            .signals
            .iter()
            .map(|s| SourceSettings {
                name: s.name.clone(),
                timeout_ms: s.timeout_s.map_or(u64::MAX, |t| (t * 1000.0) as u64),
                fail_safe: s.fail_safe,
                debounce_ms: (s.debounce_s * 1000.0) as u64,
                dim: s.dim.clone(),
                release: s.release.clone(),
                feed_in: s.contact.feed_in(),
            })
            .collect();
        let topics = p
            .signals
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match &s.source {
                SignalSource::Mqtt {
                    topic,
                    availability,
                    online,
                } => Some((
                    i,
                    Topic {
                        topic: topic.clone(),
                        availability: availability.clone().map(|a| (a, online.clone())),
                    },
                )),
                SignalSource::Shelly { .. } | SignalSource::Modbus { .. } => None,
            })
            .collect();
        let modbus = p
            .signals
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match &s.source {
                SignalSource::Modbus { device, value } => {
                    let d = self.devices.iter().position(|d| &d.id == device)?;
                    Some((i, d, value.clone()))
                }
                _ => None,
            })
            .collect();
        Some(DimmerSettings {
            control: p.control,
            override_w: p.minimum_power_w,
            add_pv: p.add_pv,
            network_price_ct: p.network_price_ct,
            devices,
            sources,
            topics,
            modbus,
        })
    }
}

impl P14aConfig {
    /// The topics to subscribe to: each signal's, and its sender's availability.
    pub fn topics(&self) -> Vec<String> {
        let mut topics = Vec::new();
        for s in &self.signals {
            if let SignalSource::Mqtt {
                topic,
                availability,
                ..
            } = &s.source
            {
                topics.push(topic.clone());
                topics.extend(availability.clone());
            }
        }
        topics
    }
}

const DIM: &str = "on, true, 1";
const RELEASE: &str = "off, false, 0";

/// The ids a §14a device may name as what carries out its limit.
pub struct Known<'a> {
    pub wallboxes: Vec<&'a str>,
    pub batteries: Vec<&'a str>,
    pub plugs: Vec<&'a str>,
    /// Modbus devices that may carry a signal or a limit, with their controls' names.
    pub modbus: Vec<(&'a str, Vec<&'a str>)>,
}

impl Known<'_> {
    fn modbus_ids(&self) -> Vec<&str> {
        self.modbus.iter().map(|(id, _)| *id).collect()
    }
}

/// Reads the section; `None` when it holds nothing (the add-on's default `signals: []`,
/// `devices: []`).
pub fn read(s: &Section<'_>, known: &Known<'_>) -> Option<P14aConfig> {
    let scalars = ["control", "minimum_power", "add_pv", "network_price"];
    let any_scalar = scalars.iter().any(|k| s.has(k));
    let control = match s.choice("control", &["ems", "direct"], "ems") {
        "direct" => Control::Direct,
        _ => Control::Ems,
    };
    let minimum_power_w = s.opt_int("minimum_power", 0, 1_000_000).map(|w| w as u32);
    if minimum_power_w.is_some_and(|w| w < BASE_W) {
        s.error(
            "minimum_power",
            "is below 4200 W, the least §14a lets an operator dim to; give your operator's \
             figure in W",
        );
    }
    let add_pv = s.bool("add_pv", false);
    let network_price_ct = s.opt_float("network_price", 0.0, 100.0);
    let signals: Vec<SignalConfig> = s
        .list("signals")
        .iter()
        .enumerate()
        .filter_map(|(i, item)| {
            let signal = read_signal(item, i, known);
            item.finish();
            signal
        })
        .collect();
    let devices: Vec<ControlledConfig> = s
        .list("devices")
        .iter()
        .filter_map(|item| {
            let device = read_device(item, known);
            item.finish();
            device
        })
        .collect();
    let listed = |key: &'static str| s.has(key) && !s.list(key).is_empty();
    if !any_scalar && !listed("signals") && !listed("devices") {
        s.finish();
        return None;
    }
    if !listed("signals") {
        s.error(
            "signals",
            "give at least one source of the dimming signal (mqtt: a topic, or shelly: the \
             address of a Shelly whose input is wired to the control box)",
        );
    }
    s.finish();
    Some(P14aConfig {
        control,
        minimum_power_w,
        add_pv,
        network_price_ct,
        signals,
        devices,
    })
}

fn read_signal(s: &Section<'_>, index: usize, known: &Known<'_>) -> Option<SignalConfig> {
    let name = s.string("name", &format!("signal {}", index + 1));
    // Comma-separated, so that the add-on's form shows one text field.
    let words = |key: &'static str, default: &str| -> Vec<String> {
        let text = s.string(key, default);
        let words: Vec<String> = text
            .split(',')
            .map(|w| w.trim().to_string())
            .filter(|w| !w.is_empty())
            .collect();
        if words.is_empty() {
            s.error(key, "give at least one payload, e.g. on");
        }
        words
    };
    let dim = words("dim", DIM);
    let release = words("release", RELEASE);
    if let Some(both) = dim
        .iter()
        .find(|d| release.iter().any(|r| r.eq_ignore_ascii_case(d)))
    {
        s.error(
            "release",
            format!("'{both}' is both a dimming and a release payload"),
        );
    }
    let fail_safe = s.bool("fail_safe", true);
    let debounce_s = s.seconds("debounce", 1.0, 0.0, 60.0);
    let contact = match s.choice("contact", Contact::NAMES, "W4") {
        "W3" => Contact::W3,
        "S2" => Contact::S2,
        "S1" => Contact::S1,
        _ => Contact::W4,
    };
    let mqtt = s.opt_string("mqtt");
    let shelly = s.opt_string("shelly");
    let modbus = s.opt_string("modbus");
    let value = s.string("value", "input_1");
    let availability = s.opt_string("availability");
    let online = s.string("online", "online");
    let input = s.int("input", 0, 0, 15) as u8;
    let interval_s = s.seconds("interval", 5.0, 1.0, 3600.0);
    let timeout = s.opt_float("timeout", 1.0, 86_400.0);
    let source = match (mqtt, shelly, modbus) {
        (Some(topic), None, None) => {
            if topic.contains(['+', '#']) {
                s.error(
                    "mqtt",
                    "is one topic; wildcards (+, #) are not allowed here",
                );
            }
            SignalSource::Mqtt {
                topic,
                availability,
                online,
            }
        }
        (None, Some(url), None) => {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                s.error(
                    "shelly",
                    "is the Shelly's address, e.g. http://192.168.1.60",
                );
            }
            SignalSource::Shelly {
                url,
                input,
                interval_s,
            }
        }
        (None, None, Some(device)) => {
            find_id(s, "modbus", &device, "devices", &known.modbus_ids());
            if crate::quantity::named(&value).is_none() {
                s.error(
                    "value",
                    format!(
                        "'{value}' is not a quantity a profile can read; use the one the \
                         device's profile gives the input, e.g. input_1"
                    ),
                );
            }
            SignalSource::Modbus { device, value }
        }
        _ => {
            s.error(
                "mqtt",
                "set exactly one of mqtt (a topic), shelly (a Shelly's address) or modbus (a \
                 configured Modbus device's id)",
            );
            return None;
        }
    };
    // A poll that goes unanswered three times is a failed source; a topic may only change
    // when the contact does, so it has no timeout unless one is given.
    let timeout_s = match source {
        SignalSource::Shelly { interval_s, .. } => Some(timeout.unwrap_or(3.0 * interval_s)),
        // A device polled every few seconds that has not answered for half a minute is gone.
        SignalSource::Modbus { .. } => Some(timeout.unwrap_or(30.0)),
        SignalSource::Mqtt { .. } => timeout,
    };
    Some(SignalConfig {
        name,
        source,
        dim,
        release,
        timeout_s,
        fail_safe,
        debounce_s,
        contact,
    })
}

fn read_device(s: &Section<'_>, known: &Known<'_>) -> Option<ControlledConfig> {
    let kind_name = s.choice("kind", Kind::NAMES, "wallbox");
    let kind = Kind::parse(kind_name);
    if !s.has("kind") {
        s.error(
            "kind",
            format!("required: one of {}", Kind::NAMES.join(", ")),
        );
    }
    let rated_kw = s.opt_float("rated_power", 0.1, 1000.0);
    if !s.has("rated_power") {
        s.error(
            "rated_power",
            "required: the device's rated power in kW, from its data sheet; the minimum power \
             the site keeps depends on it",
        );
    }
    let priority = s.int("priority", 0, -100, 100) as i32;
    let control = s.string("control", "power_limit");
    let drives = [
        s.opt_string("wallbox").map(Drive::Wallbox),
        s.opt_string("battery").map(Drive::Battery),
        s.opt_string("relay").map(Drive::Relay),
        s.opt_string("modbus")
            .map(|device| Drive::Modbus { device, control }),
    ];
    let mut given = drives.into_iter().flatten();
    let drive = given.next().unwrap_or(Drive::Counted);
    if given.next().is_some() {
        s.error(
            "wallbox",
            "set at most one of wallbox, battery, relay or modbus: what carries out this \
             device's limit",
        );
    }
    let modbus_ids = known.modbus_ids();
    let named = match &drive {
        Drive::Wallbox(id) => Some(("wallbox", "wallboxes", id, &known.wallboxes)),
        Drive::Battery(id) => Some(("battery", "batteries", id, &known.batteries)),
        Drive::Relay(id) => Some(("relay", "plugs", id, &known.plugs)),
        Drive::Modbus { device, .. } => Some(("modbus", "devices", device, &modbus_ids)),
        Drive::Counted => None,
    };
    if let Some((key, section, id, ids)) = named {
        find_id(s, key, id, section, ids);
    }
    if let Drive::Modbus { device, control } = &drive {
        let controls = known.modbus.iter().find(|(id, _)| id == device);
        if let Some((_, names)) = controls.filter(|(_, names)| !names.contains(&control.as_str())) {
            let listed = if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            };
            s.error(
                "control",
                format!(
                    "'{control}' is not a control of {device}'s profile ({listed}); add the \
                     power limit register under controls: in its profile"
                ),
            );
        }
    }
    let default_name = match &drive {
        Drive::Wallbox(id) | Drive::Battery(id) | Drive::Relay(id) => id.clone(),
        Drive::Modbus { device, .. } => device.clone(),
        Drive::Counted => kind_name.replace('_', " "),
    };
    let name = s.string("name", &default_name);
    Some(ControlledConfig {
        name,
        kind: kind?,
        rated_w: (rated_kw? * 1000.0).round() as u32,
        priority,
        drive,
    })
}
