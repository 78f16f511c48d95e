//! The core's publish rules with simulated time: no broker, no clock, exact messages.

mod common;

use common::fixtures::telegrams;
use stromwart::core::{Core, CoreConfig, DeviceSettings, Policy};
use stromwart::ha::DiscoveryMode;
use stromwart::message::Message;
use stromwart::model::{Event, Now};

fn core(mode: DiscoveryMode) -> Core {
    let mut grid = DeviceSettings::new("grid", "Grid meter", stromwart::model::Role::Grid);
    grid.model = Some("DTZ541".into());
    grid.policy = Policy {
        min_interval_ms: 5_000,
        heartbeat_ms: 60_000,
    };
    Core::new(CoreConfig {
        discovery_mode: mode,
        meters: vec![grid],
        ..CoreConfig::default()
    })
}

fn at(secs: u64) -> Now {
    Now {
        mono_ms: secs * 1000,
        unix_ms: 1_795_333_500_000 + secs as i64 * 1000,
        utc_offset_s: 3600,
    }
}

fn feed(core: &mut Core, name: &str, now: Now) -> Vec<Message> {
    let mut out = Vec::new();
    let t = telegrams(name).into_iter().next().expect("telegram");
    core.handle(
        Event::Telegram {
            meter: 0,
            telegram: Box::new(t),
        },
        now,
        &mut out,
    );
    out
}

fn payload<'a>(out: &'a [Message], topic: &str) -> Option<&'a str> {
    out.iter()
        .find(|m| m.topic == topic)
        .map(|m| m.payload.as_str())
}

#[test]
fn first_telegram_announces_the_device_then_publishes_states() {
    let mut c = core(DiscoveryMode::Device);
    let out = feed(&mut c, "holley-dtz541-1", at(0));
    let disco = &out[0];
    assert_eq!(
        disco.topic,
        "homeassistant/device/stromwart_0a01484c5902000159bb/config"
    );
    assert!(disco.retain && disco.qos == 1);
    let json: serde_json::Value = serde_json::from_str(&disco.payload).unwrap();
    assert_eq!(
        json["device"],
        serde_json::json!({
            "identifiers": ["stromwart_0a01484c5902000159bb"],
            "name": "Grid meter",
            "manufacturer": "Holley",
            "model": "DTZ541",
            "serial_number": "1 HLY02 0008 8507",
            "sw_version": "1.02.007"
        })
    );
    assert_eq!(json["origin"]["name"], "Stromwart");
    assert_eq!(json["availability_topic"], "stromwart/status");
    assert_eq!(
        json["components"]["power"],
        serde_json::json!({
            "platform": "sensor",
            "unique_id": "stromwart_0a01484c5902000159bb_power",
            "default_entity_id": "sensor.stromwart_grid_power",
            "object_id": "stromwart_grid_power",
            "name": "Power",
            "state_topic": "stromwart/grid/power",
            "device_class": "power",
            "state_class": "measurement",
            "unit_of_measurement": "W",
            "suggested_display_precision": 0,
            "expire_after": 180
        })
    );
    assert_eq!(
        json["components"]["energy_import"]["state_class"],
        "total_increasing"
    );
    assert_eq!(
        json["components"]["energy_import"]["unit_of_measurement"],
        "kWh"
    );
    assert_eq!(
        json["components"]["frame_errors"]["entity_category"],
        "diagnostic"
    );
    assert_eq!(json["components"]["checksum"]["device_class"], "enum");
    assert_eq!(payload(&out, "stromwart/grid/power"), Some("188"));
    assert_eq!(
        payload(&out, "stromwart/grid/energy_import"),
        Some("10793.8987")
    );
    assert_eq!(payload(&out, "stromwart/grid/checksum"), Some("kermit"));
    assert_eq!(
        payload(&out, "stromwart/grid/last_telegram"),
        Some("2026-11-22T07:45:00+00:00")
    );
    assert!(
        out[1..]
            .iter()
            .all(|m| m.retain && m.qos == 0 && !m.topic.starts_with("homeassistant"))
    );
}

#[test]
fn component_mode_sends_one_config_per_entity() {
    let mut c = core(DiscoveryMode::Component);
    let out = feed(&mut c, "iskra-mt691-1", at(0));
    let cfg = out
        .iter()
        .find(|m| m.topic == "homeassistant/sensor/stromwart_0a0149534b0004325ec5/power/config");
    let cfg =
        cfg.unwrap_or_else(|| panic!("{:#?}", out.iter().map(|m| &m.topic).collect::<Vec<_>>()));
    let json: serde_json::Value = serde_json::from_str(&cfg.payload).unwrap();
    assert_eq!(json["unique_id"], "stromwart_0a0149534b0004325ec5_power");
    assert_eq!(
        json["device"]["identifiers"][0],
        "stromwart_0a0149534b0004325ec5"
    );
    assert!(!out.iter().any(|m| m.topic.contains("/device/")));
}

#[test]
fn unchanged_and_fast_values_are_throttled_and_flushed() {
    let mut c = core(DiscoveryMode::Device);
    let all = telegrams("iskra-mt691-1");
    let mut out = Vec::new();
    c.handle(
        Event::Telegram {
            meter: 0,
            telegram: Box::new(all[0].clone()),
        },
        at(0),
        &mut out,
    );
    assert!(out.iter().any(|m| m.topic.starts_with("homeassistant/")));
    let mut out = Vec::new();
    c.handle(
        Event::Telegram {
            meter: 0,
            telegram: Box::new(all[1].clone()),
        },
        at(1),
        &mut out,
    );
    assert!(out.is_empty(), "nothing is due one second later: {out:?}");
    let mut out = Vec::new();
    c.handle(Event::Tick, at(5), &mut out);
    let changed: Vec<&str> = out.iter().map(|m| m.topic.as_str()).collect();
    let p0 = all[0].number("power");
    let p1 = all[1].number("power");
    assert_eq!(
        changed.contains(&"stromwart/grid/power"),
        p0 != p1,
        "{changed:?}"
    );
    // The meter's discovery is not sent again (the site view may announce itself now).
    assert!(
        !changed
            .iter()
            .any(|t| t.contains("stromwart_0a0149534b0004325ec5")),
        "{changed:?}"
    );
    assert!(
        changed
            .iter()
            .any(|t| t == &"stromwart/site/grid_import_power"),
        "{changed:?}"
    );
}

#[test]
fn reconnect_and_birth_republish_everything() {
    let mut c = core(DiscoveryMode::Device);
    let first = feed(&mut c, "holley-dtz541-1", at(0));
    let mut out = Vec::new();
    c.handle(Event::MqttConnected, at(10), &mut out);
    // Everything the first telegram published goes out again (with the bridge's own entities).
    for m in &first {
        assert!(
            out.iter().any(|o| o.topic == m.topic),
            "{} not republished",
            m.topic
        );
    }
    let mut out = Vec::new();
    c.handle(Event::HaOnline, at(20), &mut out);
    assert!(out[0].topic.starts_with("homeassistant/device/"));
    // The site view publishes on ticks of its own; the meter's messages are what count here.
    let meter = |v: &[Message]| v.iter().filter(|m| !m.topic.contains("site")).count();
    let mut later = Vec::new();
    c.handle(Event::Tick, at(21), &mut later);
    assert_eq!(
        meter(&later),
        0,
        "states are sent again only after the settle delay"
    );
    c.handle(Event::Tick, at(22), &mut later);
    assert_eq!(payload(&later, "stromwart/grid/power"), Some("188"));
    assert!(
        !later
            .iter()
            .any(|m| m.topic.starts_with("homeassistant/device/stromwart_0a"))
    );
}

#[test]
fn errors_before_the_first_telegram_are_counted_and_published_later() {
    let mut c = core(DiscoveryMode::Device);
    let mut out = Vec::new();
    c.handle(Event::FrameError { meter: 0 }, at(0), &mut out);
    c.handle(Event::FrameError { meter: 0 }, at(0), &mut out);
    assert!(out.is_empty());
    let out = feed(&mut c, "holley-dtz541-1", at(1));
    assert_eq!(payload(&out, "stromwart/grid/frame_errors"), Some("2"));
    assert_eq!(payload(&out, "stromwart/grid/frames_ok"), Some("1"));
}

#[test]
fn a_held_back_value_goes_out_when_it_falls_due_not_at_the_next_tick() {
    let mut c = core(DiscoveryMode::Device);
    let all = telegrams("dzg-dwsb20-1");
    let power = |t: &stromwart::sml::Telegram| t.number("power").unwrap().to_string();
    let telegram = |i: usize| Event::Telegram {
        meter: 0,
        telegram: Box::new(all[i].clone()),
    };
    let mut out = Vec::new();
    c.handle(telegram(0), at(0), &mut out);
    assert_eq!(c.next_due(), None, "nothing held back yet");
    let mut out = Vec::new();
    // A second early: more than the fifth (at most 250 ms) that still counts as on time.
    let early = Now {
        mono_ms: 4_000,
        ..at(0)
    };
    c.handle(telegram(1), early, &mut out);
    assert_eq!(payload(&out, "stromwart/grid/power"), None, "held back");
    // Due 4.75 s after the last publish: the bridge wakes then, not at its next second's tick.
    assert_eq!(c.next_due(), Some(4_750));
    let mut out = Vec::new();
    let due = Now {
        mono_ms: 4_750,
        ..at(0)
    };
    c.handle(Event::Flush, due, &mut out);
    assert_eq!(
        payload(&out, "stromwart/grid/power"),
        Some(power(&all[1]).as_str())
    );
    // What remains held is the diagnostics' business, 30 s after their last publish.
    assert_eq!(c.next_due(), Some(29_750));
}
