//! The site as a Home Assistant device: where the site view's decisions (see
//! [`crate::control::site`]) are published, like a meter's values.

use super::device::{Device, DeviceSettings, slug};
use super::throttle::Policy;
use crate::ha::DeviceSpec;
use crate::modbus::plan::{Reading, Values};
use crate::model::Role;

/// The topic level of the site's states; config ids may not take it.
pub const SITE_ID: &str = "site";

pub fn device(instance: &str) -> Device {
    let mut d = Device::new(DeviceSettings {
        id: SITE_ID.into(),
        name: "Home energy".into(),
        manufacturer: Some("Stromwart".into()),
        model: Some("Site view".into()),
        role: Role::Consumer,
        // Derived values move every second; a few seconds between updates is plenty. They are
        // sent at least every 10 s while current, so that once the site view withdraws them
        // (an input went stale) Home Assistant shows them unavailable within 30 s.
        policy: Policy {
            min_interval_ms: 5_000,
            heartbeat_ms: 10_000,
        },
        expire_after_s: 30,
        enable_unknown: false,
    });
    d.identify(DeviceSpec {
        id: format!("stromwart_site_{}", slug(instance)),
        name: "Home energy".into(),
        manufacturer: Some("Stromwart".into()),
        model: Some("Site view".into()),
        serial_number: None,
        sw_version: Some(env!("CARGO_PKG_VERSION").into()),
    });
    d
}

/// The power a device contributes to the site, by its role.
pub fn power_of(role: Role, values: &Values) -> Option<f64> {
    let key = match role {
        Role::Grid | Role::Pv => "power",
        Role::Battery => "battery_power",
        Role::Consumer => return None,
    };
    values.readings.iter().find_map(|(q, r)| match r {
        Reading::Number(v) if q.key == key => Some(*v),
        _ => None,
    })
}
