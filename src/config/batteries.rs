//! The `batteries:` section: home batteries whose mode and power limits Stromwart sets, over
//! Modbus with a profile that defines the modes.

use super::devices::{ModbusLink, Publishing, read_id, read_link, read_publishing};
use crate::reader::Section;

#[derive(Debug, Clone, PartialEq)]
pub struct BatteryConfig {
    pub id: String,
    pub name: String,
    pub link: ModbusLink,
    pub max_charge_w: f64,
    pub max_discharge_w: f64,
    /// Limits written at start.
    pub charge_limit_w: f64,
    pub discharge_limit_w: f64,
    pub rewrite_interval_s: f64,
    pub min_change_interval_s: f64,
    pub poll_interval_s: f64,
    /// Put the battery in `auto` when Stromwart stops (`on_stop: auto`), rather than leave it.
    pub auto_on_stop: bool,
    pub publish: Publishing,
}

pub fn read_battery(s: &Section<'_>) -> Option<BatteryConfig> {
    let id = read_id(s, "battery");
    let name = s.string("name", &super::capitalise(&id));
    let link = read_link(s, &id);
    let max_charge_w = s.int("max_charge_power", 5000, 100, 100_000) as f64;
    let max_discharge_w = s.int("max_discharge_power", max_charge_w as i64, 100, 100_000) as f64;
    let charge_limit_w = s.int("charge_limit", max_charge_w as i64, 0, 100_000) as f64;
    let discharge_limit_w = s.int("discharge_limit", max_discharge_w as i64, 0, 100_000) as f64;
    let rewrite = s.opt_float("rewrite_interval", 0.1, 3600.0);
    let min_change_interval_s = s.seconds("min_change_interval", 2.0, 0.0, 3600.0);
    let poll_interval_s = s.seconds("poll_interval", 5.0, 0.5, 3600.0);
    let auto_on_stop = s.choice("on_stop", &["leave", "auto"], "auto") == "auto";
    let publish = read_publishing(s, 0.0);
    if charge_limit_w > max_charge_w {
        s.error("charge_limit", "must not be above max_charge_power");
    }
    if discharge_limit_w > max_discharge_w {
        s.error("discharge_limit", "must not be above max_discharge_power");
    }
    let link = link?;
    let controls = &link.profile.controls;
    if controls.modes.is_empty() {
        s.error(
            "profile",
            format!(
                "profile {} defines no battery modes; built-in battery profiles: huawei-luna2000, kostal-plenticore, sma, sunspec",
                link.profile.name
            ),
        );
        return None;
    }
    let rewrite_interval_s = rewrite.or(controls.rewrite_interval_s).unwrap_or(30.0);
    Some(BatteryConfig {
        id,
        name,
        link,
        max_charge_w,
        max_discharge_w,
        charge_limit_w,
        discharge_limit_w,
        rewrite_interval_s,
        min_change_interval_s,
        poll_interval_s,
        auto_on_stop,
        publish,
    })
}
