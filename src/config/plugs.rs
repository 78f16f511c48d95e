//! The `plugs:` section: smart plugs and relays Stromwart switches.

use super::devices::{Publishing, read_id, read_publishing};
use crate::reader::Section;

#[derive(Debug, Clone, PartialEq)]
pub enum PlugDriver {
    Shelly {
        url: String,
        gen2: bool,
        channel: u8,
        user: Option<String>,
        password: Option<String>,
    },
    /// `power_key` is `POWER` for single-relay devices, `POWER<n>` for channel n.
    Tasmota { topic: String, power_key: String },
    Mqtt {
        command_topic: String,
        state_topic: String,
        payload_on: String,
        payload_off: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlugConfig {
    pub id: String,
    pub name: String,
    pub driver: PlugDriver,
    /// Switching faster than this is refused, so a relay does not chatter.
    pub min_switch_interval_s: f64,
    pub poll_interval_s: f64,
    /// Shelly Gen2: the plug switches itself off after this long unless Stromwart re-arms it.
    pub auto_off_s: Option<f64>,
    /// Switch the plug off when Stromwart stops (`on_stop: off`), rather than leave it.
    pub off_on_stop: bool,
    pub publish: Publishing,
}

pub const DRIVERS: &[&str] = &["shelly1", "shelly2", "tasmota", "mqtt"];

pub fn read_plug(s: &Section<'_>) -> Option<PlugConfig> {
    let id = read_id(s, "boiler");
    let name = s.string("name", &super::capitalise(&id));
    let driver = s.choice("driver", DRIVERS, "shelly2");
    let address = s.opt_string("address");
    let topic = s.opt_string("topic");
    let channel = s.opt_int("channel", 0, 8);
    let user = s.opt_string("http_user");
    let password = s.opt_string("http_password");
    let min_switch_interval_s = s.seconds("min_switch_interval", 10.0, 0.0, 3600.0);
    let poll_interval_s = s.seconds("poll_interval", 5.0, 0.5, 3600.0);
    let auto_off_s = s.opt_float("auto_off", 2.0, 86_400.0);
    let off_on_stop = s.choice("on_stop", &["leave", "off"], "leave") == "off";
    let publish = read_publishing(s, 0.0);
    let command_topic = s.opt_string("command_topic");
    let state_topic = s.opt_string("state_topic");
    let payload_on = s.string("payload_on", "ON");
    let payload_off = s.string("payload_off", "OFF");
    let driver = match driver {
        "mqtt" => {
            if auto_off_s.is_some() {
                s.error("auto_off", "only shelly2 plugs have a dead-man timer");
            }
            for (key, topic) in [
                ("command_topic", &command_topic),
                ("state_topic", &state_topic),
            ] {
                match topic {
                    None => s.error(key, "required for an mqtt plug"),
                    Some(t) if t.contains(['+', '#']) => s.error(
                        key,
                        format!("'{t}' must not contain the MQTT wildcards + or #"),
                    ),
                    Some(_) => {}
                }
            }
            if payload_on == payload_off {
                s.error("payload_off", "must differ from payload_on");
            }
            let (Some(command_topic), Some(state_topic)) = (command_topic, state_topic) else {
                return None;
            };
            PlugDriver::Mqtt {
                command_topic,
                state_topic,
                payload_on,
                payload_off,
            }
        }
        "tasmota" => {
            if address.is_some() {
                s.error("address", "tasmota plugs are reached by topic, not address");
            }
            if auto_off_s.is_some() {
                s.error("auto_off", "only shelly2 plugs have a dead-man timer; on Tasmota set PulseTime on the device");
            }
            let Some(topic) = topic else {
                s.error(
                    "topic",
                    "required for tasmota: the device's topic, e.g. tasmota_4A2F1C",
                );
                return None;
            };
            let power_key = match channel {
                None | Some(0) => "POWER".to_string(),
                Some(n) => format!("POWER{n}"),
            };
            PlugDriver::Tasmota { topic, power_key }
        }
        shelly => {
            if topic.is_some() {
                s.error("topic", "shelly plugs are reached by address, not topic");
            }
            if shelly == "shelly1" && auto_off_s.is_some() {
                s.error(
                    "auto_off",
                    "the dead-man timer needs a second-generation Shelly (driver shelly2)",
                );
            }
            let Some(url) =
                address.filter(|a| a.starts_with("http://") || a.starts_with("https://"))
            else {
                s.error(
                    "address",
                    "required: the plug's address, e.g. http://192.168.1.40",
                );
                return None;
            };
            PlugDriver::Shelly {
                url,
                gen2: shelly == "shelly2",
                channel: channel.unwrap_or(0) as u8,
                user,
                password,
            }
        }
    };
    Some(PlugConfig {
        id,
        name,
        driver,
        min_switch_interval_s,
        poll_interval_s,
        auto_off_s,
        off_on_stop,
        publish,
    })
}
