//! The `devices:` section: Modbus devices, each with a profile, an address and a role.

use crate::core::Policy;
use crate::modbus::Transport;
use crate::modbus::profile::{self, Profile};
use crate::model::Role;
use crate::reader::Section;

#[derive(Debug, Clone, PartialEq)]
pub struct DeviceConfig {
    pub id: String,
    pub name: String,
    pub model: Option<String>,
    pub role: Role,
    /// The role of a meter behind the device on the same unit (a SunSpec meter model after an
    /// inverter's), which becomes a device of its own.
    pub meter_role: Role,
    /// The resolved profile, with timeouts and pauses as configured.
    pub profile: Profile,
    pub transport: Transport,
    pub unit: u8,
    pub poll_interval_s: f64,
    pub publish: Publishing,
}

/// When states go out; the same keys for meters and devices.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Publishing {
    pub min_interval_s: f64,
    pub heartbeat_s: f64,
    pub expire_after_s: u32,
}

impl Publishing {
    /// How the core paces this device's states.
    pub fn policy(&self) -> Policy {
        Policy {
            min_interval_ms: (self.min_interval_s * 1000.0) as u64,
            heartbeat_ms: (self.heartbeat_s * 1000.0) as u64,
        }
    }
}

pub fn read_publishing(s: &Section<'_>, min_interval_default: f64) -> Publishing {
    let min_interval_s = s.seconds("min_interval", min_interval_default, 0.0, 3600.0);
    let heartbeat_s = s.seconds("heartbeat", 60.0, 1.0, 86_400.0);
    // Three heartbeats without news is a dead device; a shorter expiry would blank out values
    // that simply did not change.
    let default_expiry = (heartbeat_s * 3.0).ceil().min(86_400.0) as i64;
    let expire_after_s = s.int("expire_after", default_expiry, 0, 86_400) as u32;
    if heartbeat_s < min_interval_s {
        s.error("heartbeat", "must not be shorter than min_interval");
    }
    if expire_after_s != 0 && f64::from(expire_after_s) <= heartbeat_s {
        s.error(
            "expire_after",
            "must be longer than heartbeat (or 0 to never expire), else unchanged values show as unavailable",
        );
    }
    Publishing {
        min_interval_s,
        heartbeat_s,
        expire_after_s,
    }
}

/// A topic-safe id, reported when missing or malformed.
pub fn read_id(s: &Section<'_>, example: &str) -> String {
    let id = s.opt_string("id").unwrap_or_default();
    if id.is_empty() {
        s.error(
            "id",
            format!("required: a short name for topics, e.g. '{example}'"),
        );
    } else if !id
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    {
        s.error(
            "id",
            format!(
                "'{id}' may only contain a-z, 0-9, '_' and '-' (it becomes part of MQTT topics)"
            ),
        );
    }
    id
}

pub fn read_role(s: &Section<'_>, default: &'static str) -> Role {
    Role::parse(s.choice("role", Role::NAMES, default)).unwrap_or(Role::Consumer)
}

/// Reads one device; `Err` carries the id of an entry with errors (already reported), so that
/// duplicate ids are still found.
pub fn read_device(s: &Section<'_>) -> Result<DeviceConfig, String> {
    let id = read_id(s, "inverter");
    let name = s.string("name", &super::capitalise(&id));
    let model = s.opt_string("model");
    let role = read_role(s, "consumer");
    let meter_role = Role::parse(s.choice("meter_role", Role::NAMES, "grid")).unwrap_or(Role::Grid);
    let link = read_link(s, &id);
    let poll_interval_s = s.seconds("poll_interval", 5.0, 0.1, 3600.0);
    let publish = read_publishing(s, 1.0);
    let Some(ModbusLink {
        profile,
        transport,
        unit,
    }) = link
    else {
        return Err(id);
    };
    Ok(DeviceConfig {
        id,
        name,
        model,
        role,
        meter_role,
        profile,
        transport,
        unit,
        poll_interval_s,
        publish,
    })
}

/// Where a Modbus device is and what it holds: the keys devices, Modbus wallboxes and
/// batteries share.
#[derive(Debug, Clone, PartialEq)]
pub struct ModbusLink {
    /// The resolved profile, with timeouts and pauses as configured.
    pub profile: Profile,
    pub transport: Transport,
    pub unit: u8,
}

pub fn read_link(s: &Section<'_>, id: &str) -> Option<ModbusLink> {
    let profile = read_profile(s, id);
    let address = s.opt_string("address");
    let transport = match address.as_deref().map(Transport::parse) {
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => {
            s.error("address", e);
            None
        }
        None => {
            s.error(
                "address",
                "required, e.g. tcp://192.168.1.20:502 or rtu:///dev/ttyUSB0?baud=9600",
            );
            None
        }
    };
    let unit = s.opt_int("unit", 0, 255);
    let timeout = s.opt_float("timeout", 0.05, 60.0);
    let pause = s.opt_float("pause", 0.0, 10.0);
    let connect_delay = s.opt_float("connect_delay", 0.0, 30.0);
    let (mut profile, transport) = (profile?, transport?);
    // A value the user sets wins over the profile's.
    profile.timeout_s = timeout.unwrap_or(profile.timeout_s);
    profile.pause_s = pause.unwrap_or(profile.pause_s);
    profile.connect_delay_s = connect_delay.unwrap_or(profile.connect_delay_s);
    let unit = unit.map_or(profile.unit, |u| u as u8);
    Some(ModbusLink {
        profile,
        transport,
        unit,
    })
}

/// The device's profile: a built-in one by name, a file in the same format, or registers given
/// right here.
fn read_profile(s: &Section<'_>, id: &str) -> Option<Profile> {
    let name = s.opt_string("profile");
    let file = s.opt_string("profile_file");
    let registers = s.section("registers");
    let given = [name.is_some(), file.is_some(), s.has("registers")];
    if given.iter().filter(|g| **g).count() != 1 {
        s.error(
            "",
            format!(
                "set exactly one of profile (built-in: {}), profile_file or registers",
                profile::built_in_names().join(", ")
            ),
        );
        return None;
    }
    if let Some(name) = name {
        return match profile::built_in(&name) {
            Ok(p) => Some(p),
            Err(e) => {
                s.error("profile", e);
                None
            }
        };
    }
    if let Some(path) = file {
        let text = match super::read_text(std::path::Path::new(&path)) {
            Ok(t) => t,
            Err(e) => {
                s.error("profile_file", e);
                return None;
            }
        };
        let value = match crate::reader::yaml::to_json(&text) {
            Ok(v) => v,
            Err(e) => {
                s.error("profile_file", format!("{path}: {e}"));
                return None;
            }
        };
        return match profile::from_value(&value, id) {
            Ok(p) => Some(p),
            Err(errors) => {
                for e in errors {
                    s.error("profile_file", format!("{path}: {e}"));
                }
                None
            }
        };
    }
    Some(profile::read(&registers, id))
}
