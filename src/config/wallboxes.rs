//! The `wallboxes:` section: chargers whose charging, current and phases Stromwart sets.

use super::devices::{Publishing, read_id, read_publishing};
use super::reader::Section;

#[derive(Debug, Clone, PartialEq)]
pub struct WallboxConfig {
    pub id: String,
    pub name: String,
    /// `goe`: the go-eCharger's local HTTP API v2.
    pub driver: &'static str,
    pub url: String,
    pub max_current_a: u8,
    pub min_change_interval_s: f64,
    pub poll_interval_s: f64,
    pub publish: Publishing,
}

pub fn read_wallbox(s: &Section<'_>) -> Option<WallboxConfig> {
    let id = read_id(s, "garage");
    let name = s.string("name", &super::capitalise(&id));
    let driver = s.choice("driver", &["goe"], "goe");
    let address = s.opt_string("address");
    let max_current_a = s.int("max_current", 16, 6, 32) as u8;
    let min_change_interval_s = s.seconds("min_change_interval", 10.0, 0.0, 3600.0);
    let poll_interval_s = s.seconds("poll_interval", 5.0, 0.5, 3600.0);
    let publish = read_publishing(s, 0.0);
    let Some(url) = address.filter(|a| a.starts_with("http://") || a.starts_with("https://"))
    else {
        s.error(
            "address",
            "required: the charger's address, e.g. http://192.168.1.50",
        );
        return None;
    };
    Some(WallboxConfig {
        id,
        name,
        driver,
        url,
        max_current_a,
        min_change_interval_s,
        poll_interval_s,
        publish,
    })
}
