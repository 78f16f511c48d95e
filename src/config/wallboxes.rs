//! The `wallboxes:` section: chargers whose charging, current and phases Stromwart sets.

use super::devices::{ModbusLink, Publishing, read_id, read_link, read_publishing};
use crate::reader::Section;

#[derive(Debug, Clone, PartialEq)]
pub enum WallboxDriver {
    /// The go-eCharger's local HTTP API v2.
    GoE { url: String },
    /// A charger on Modbus, described by a profile with a `current_limit` control.
    Modbus {
        link: Box<ModbusLink>,
        safe_current_a: f64,
        watchdog_s: f64,
        rewrite_interval_s: f64,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct WallboxConfig {
    pub id: String,
    pub name: String,
    pub driver: WallboxDriver,
    pub max_current_a: u8,
    pub min_change_interval_s: f64,
    pub poll_interval_s: f64,
    /// The current a charger falls back to (Modbus chargers on their own, after their watchdog).
    pub safe_current_a: u8,
    pub on_stop: WallboxStop,
    pub publish: Publishing,
}

/// What a wallbox is told when Stromwart stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WallboxStop {
    Leave,
    /// Charging off.
    Off,
    /// Charging at `safe_current`.
    SafeCurrent,
}

pub fn read_wallbox(s: &Section<'_>) -> Option<WallboxConfig> {
    let id = read_id(s, "garage");
    let name = s.string("name", &super::capitalise(&id));
    let driver = s.choice("driver", &["goe", "modbus"], "goe");
    let max_current_a = s.int("max_current", 16, 6, 32) as u8;
    let min_change_interval_s = s.seconds("min_change_interval", 10.0, 0.0, 3600.0);
    let poll_interval_s = s.seconds("poll_interval", 5.0, 0.5, 3600.0);
    let safe_current_a = s.int("safe_current", 6, 0, 32) as u8;
    let on_stop = match s.choice("on_stop", &["leave", "off", "safe_current"], "safe_current") {
        "leave" => WallboxStop::Leave,
        "off" => WallboxStop::Off,
        _ => WallboxStop::SafeCurrent,
    };
    let publish = read_publishing(s, 0.0);
    let driver = match driver {
        "modbus" => read_modbus(s, &id, max_current_a, safe_current_a)?,
        _ => {
            let address = s.opt_string("address");
            let Some(url) =
                address.filter(|a| a.starts_with("http://") || a.starts_with("https://"))
            else {
                s.error(
                    "address",
                    "required: the charger's address, e.g. http://192.168.1.50",
                );
                return None;
            };
            WallboxDriver::GoE { url }
        }
    };
    Some(WallboxConfig {
        id,
        name,
        driver,
        max_current_a,
        min_change_interval_s,
        poll_interval_s,
        safe_current_a,
        on_stop,
        publish,
    })
}

fn read_modbus(
    s: &Section<'_>,
    id: &str,
    max_current_a: u8,
    safe_current_a: u8,
) -> Option<WallboxDriver> {
    let link = read_link(s, id);
    let safe_current_a = f64::from(safe_current_a);
    let watchdog_s = s.seconds("watchdog", 60.0, 1.0, 65.0);
    let rewrite = s.opt_float("rewrite_interval", 0.1, 3600.0);
    let link = link?;
    let controls = &link.profile.controls;
    let Some(current) = controls.get("current_limit") else {
        s.error(
            "profile",
            format!(
                "profile {} has no current_limit control, so it cannot drive a wallbox; built-in wallbox profiles: alfen, heidelberg",
                link.profile.name
            ),
        );
        return None;
    };
    if f64::from(max_current_a) > current.max {
        s.error(
            "max_current",
            format!(
                "{max_current_a} A is more than the charger takes ({} A)",
                current.max
            ),
        );
    }
    if safe_current_a > 0.0 && safe_current_a < 6.0 {
        s.error(
            "safe_current",
            "a car charges with 6 A or more; use 0 to stop charging without Stromwart",
        );
    }
    // Heidelberg falls back after `watchdog` seconds of silence: write well within it.
    let default_rewrite = controls.rewrite_interval_s.unwrap_or(30.0);
    let rewrite_interval_s = match rewrite {
        Some(r) => r,
        None if controls.get("watchdog").is_some() => default_rewrite.min(watchdog_s / 4.0),
        None => default_rewrite,
    };
    if controls.get("watchdog").is_some() && rewrite_interval_s >= watchdog_s {
        s.error(
            "rewrite_interval",
            "must be shorter than watchdog, else the charger falls back between writes",
        );
    }
    Some(WallboxDriver::Modbus {
        link: Box::new(link),
        safe_current_a,
        watchdog_s,
        rewrite_interval_s,
    })
}
