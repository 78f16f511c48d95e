//! The site as a Home Assistant device: the derived values of [`crate::site`], published like a
//! meter's.

use super::device::{Device, DeviceSettings, Offer, slug};
use super::throttle::Policy;
use crate::ha::DeviceSpec;
use crate::message::Message;
use crate::modbus::Poll;
use crate::modbus::plan::Reading;
use crate::model::Now;
use crate::model::Role;
use crate::quantity;
use crate::site::SiteValues;

/// The topic level of the site's states; config ids may not take it.
pub const SITE_ID: &str = "site";

pub fn device(instance: &str) -> Device {
    let mut d = Device::new(DeviceSettings {
        id: SITE_ID.into(),
        name: "Home energy".into(),
        manufacturer: Some("Stromwart".into()),
        model: Some("Site view".into()),
        role: Role::Consumer,
        // Derived values move every second; a few seconds between updates is plenty.
        policy: Policy {
            min_interval_ms: 5_000,
            heartbeat_ms: 60_000,
        },
        expire_after_s: 180,
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
pub fn power_of(role: Role, poll: &Poll) -> Option<f64> {
    let key = match role {
        Role::Grid | Role::Pv => "power",
        Role::Battery => "battery_power",
        Role::Consumer => return None,
    };
    poll.values.readings.iter().find_map(|(q, r)| match r {
        Reading::Number(v) if q.key == key => Some(*v),
        _ => None,
    })
}

pub fn offer(site: &mut Device, v: &SiteValues, base: &str, now: Now, out: &mut Vec<Message>) {
    let watts = [
        ("grid_import_power", v.grid_import_w),
        ("grid_export_power", v.grid_export_w),
        ("house_power", v.house_w),
        ("surplus_power", v.surplus_w),
        ("self_consumption_today", v.self_consumption_pct),
        ("autarky_today", v.autarky_pct),
    ];
    for (key, value) in watts {
        if let (Some(value), Some(q)) = (value, quantity::named(key)) {
            // One decimal: sums of floats would otherwise print noise digits.
            let payload = format!("{}", (value * 10.0).round() / 10.0);
            site.offer(Offer::value(q, payload), base, now, out);
        }
    }
    if let (Some(on), Some(q)) = (v.surplus_available, quantity::named("surplus_available")) {
        let payload = if on { "ON" } else { "OFF" }.to_string();
        site.offer(Offer::value(q, payload), base, now, out);
    }
}
