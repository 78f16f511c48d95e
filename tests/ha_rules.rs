//! Every entity the bridge can emit, checked against Home Assistant's rules: units that fit the
//! device class, state classes the device class allows, entity categories sensors may have, the
//! keys each platform needs. The entities come from driving the core with every real meter
//! capture, a Modbus poll holding every named quantity, a wallbox and a battery reporting every
//! quantity, and the site view.

mod common;

use std::collections::BTreeMap;

use common::actuators;
use common::fixtures::{all_captures, telegrams};
use serde_json::Value;
use stromwart::core::wallbox::FIXED_PHASE_CHOICES;
use stromwart::core::{Core, CoreConfig, DeviceSettings, ModbusSettings};
use stromwart::ha::Platform;
use stromwart::message::Message;
use stromwart::modbus::Poll;
use stromwart::modbus::plan::Reading;
use stromwart::model::{BatteryState, Event, Now, Role, WallboxState};
use stromwart::quantity::{Kind, NAMED};

fn settings(id: &str, role: Role) -> DeviceSettings {
    DeviceSettings::new(id, id, role)
}

fn now(s: u64) -> Now {
    Now {
        mono_ms: s * 1000,
        unix_ms: 1_795_333_500_000 + s as i64 * 1000,
        utc_offset_s: 3600,
    }
}

fn modbus(id: &str, role: Role, profile: &str) -> ModbusSettings {
    ModbusSettings {
        device: settings(id, role),
        profile: profile.into(),
        meter_role: Role::Grid,
    }
}

/// Every component of every discovery config the core sends, by unique id.
fn all_components() -> BTreeMap<String, Value> {
    let captures = all_captures();
    let meters = captures
        .iter()
        .enumerate()
        .map(|(i, _)| settings(&format!("m{i}"), Role::Grid))
        .collect();
    let mut core = Core::new(CoreConfig {
        meters,
        devices: vec![modbus("everything", Role::Pv, "custom")],
        wallboxes: vec![actuators::wallbox("garage", FIXED_PHASE_CHOICES)],
        batteries: vec![actuators::battery("battery")],
        ..CoreConfig::default()
    });
    let mut out: Vec<Message> = Vec::new();
    for (i, name) in captures.iter().enumerate() {
        for t in telegrams(name) {
            core.handle(
                Event::Telegram {
                    meter: i,
                    telegram: Box::new(t),
                },
                now(1),
                &mut out,
            );
        }
        core.handle(Event::FrameError { meter: i }, now(1), &mut out);
    }
    let mut poll = Poll::default();
    for q in NAMED {
        let r = if q.kind.is_numeric() {
            Reading::Number(1.0)
        } else {
            Reading::Text("x".into())
        };
        poll.values.readings.push((q.clone(), r));
    }
    poll.requests = 1;
    // A meter behind the device on its unit is a device of its own, held to the same rules.
    poll.meters = vec![poll.values.clone()];
    core.handle(
        Event::ModbusPoll {
            device: 0,
            poll: Box::new(poll),
        },
        now(2),
        &mut out,
    );
    // A wallbox and a battery reporting every numeric quantity there is.
    let every: Vec<_> = NAMED
        .iter()
        .filter(|q| q.kind.is_numeric())
        .map(|q| (q.clone(), 1.0))
        .collect();
    let charger = WallboxState {
        online: true,
        status: "charging",
        power: Some(1.0),
        energy_wh: Some(1.0),
        phases: Some(3),
        extra: every.clone(),
        ..WallboxState::default()
    };
    core.handle(
        Event::WallboxState {
            wallbox: 0,
            state: charger,
        },
        now(2),
        &mut out,
    );
    let battery = BatteryState {
        mode: "auto",
        online: true,
        readings: every,
        ..BatteryState::default()
    };
    core.handle(
        Event::BatteryState {
            battery: 0,
            state: battery,
        },
        now(2),
        &mut out,
    );
    for s in 3..10 {
        core.handle(Event::Tick, now(s), &mut out);
    }
    // The bridge's own settings entities.
    core.handle(Event::MqttConnected, now(11), &mut out);
    let mut components = BTreeMap::new();
    for m in out
        .iter()
        .filter(|m| m.topic.starts_with("homeassistant/device/"))
    {
        let json: Value = serde_json::from_str(&m.payload).expect("discovery is JSON");
        assert!(
            json["device"]["identifiers"][0].is_string() && json["device"]["name"].is_string(),
            "{}",
            m.topic
        );
        assert_eq!(json["origin"]["name"], "Stromwart");
        for c in json["components"].as_object().expect("components").values() {
            let mut c = c.clone();
            // Home Assistant shows an entity as "<device name> <entity name>".
            c["device_name"] = json["device"]["name"].clone();
            components.insert(c["unique_id"].as_str().unwrap().to_string(), c);
        }
    }
    components
}

/// Units Home Assistant accepts per device class (the subset the bridge can use).
fn units_for(device_class: &str) -> Option<&'static [&'static str]> {
    Some(match device_class {
        "energy" => &["Wh", "kWh", "MWh"],
        "power" => &["W", "kW"],
        "apparent_power" => &["VA"],
        "reactive_power" => &["var"],
        "voltage" => &["V", "mV"],
        "current" => &["A", "mA"],
        "frequency" => &["Hz"],
        "battery" => &["%"],
        "temperature" => &["°C", "°F", "K"],
        "power_factor" => &["%"],
        "duration" => &["s", "min", "h", "d"],
        "monetary" => &["EUR"],
        _ => return None,
    })
}

fn state_classes_for(device_class: Option<&str>) -> &'static [&'static str] {
    match device_class {
        Some("energy") => &["total", "total_increasing"],
        Some(
            "power" | "apparent_power" | "reactive_power" | "voltage" | "current" | "frequency"
            | "battery" | "temperature" | "power_factor",
        ) => &["measurement"],
        Some("timestamp" | "enum") => &[],
        Some("monetary") => &["total"],
        _ => &["measurement", "total", "total_increasing"],
    }
}

#[test]
fn every_entity_keeps_home_assistants_rules() {
    let components = all_components();
    assert!(components.len() > 100, "only {} entities", components.len());
    let battery_mode = components
        .values()
        .find(|c| c["command_topic"] == "stromwart/battery/mode/set");
    assert!(
        battery_mode.is_some(),
        "the battery's entities are checked too"
    );
    let platforms: Vec<&str> = components
        .values()
        .filter_map(|c| c["platform"].as_str())
        .collect();
    for p in Platform::ALL.map(Platform::domain) {
        assert!(platforms.contains(&p), "no {p} entity");
    }
    for (id, c) in &components {
        let platform = c["platform"].as_str().unwrap();
        let dc = c["device_class"].as_str();
        let unit = c["unit_of_measurement"].as_str();
        let sc = c["state_class"].as_str();
        // Keys every platform needs, and an entity id hint in the right domain.
        assert!(c["name"].is_string(), "{id}: {c}");
        assert_eq!(
            c["state_topic"].is_string(),
            platform != "button",
            "{id}: {c}"
        );
        let readonly = platform == "sensor" || platform == "binary_sensor";
        assert_eq!(
            c["command_topic"].is_string(),
            !readonly,
            "{id}: commands exactly on controls"
        );
        if platform == "number" {
            let (min, max) = (c["min"].as_f64().unwrap(), c["max"].as_f64().unwrap());
            assert!(
                min < max && c["step"].as_f64().unwrap() >= 0.001,
                "{id}: min < max"
            );
        }
        if platform == "text" {
            // The core refuses an empty text, so the UI must not offer one.
            let (min, max) = (c["min"].as_f64(), c["max"].as_f64().unwrap());
            assert!(min >= Some(1.0) && max <= 255.0, "{id}: {c}");
        }
        // Diagnostics (frame counters, errors) must not fill the long-term statistics.
        if c["entity_category"] == "diagnostic" {
            assert!(sc.is_none(), "{id}: a diagnostic with state_class {sc:?}");
        }
        // No doubled names such as "Home battery Battery power".
        let device_last = c["device_name"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .last()
            .unwrap()
            .to_lowercase();
        let entity_first = c["name"].as_str().unwrap().split_whitespace().next();
        assert_ne!(
            entity_first.map(str::to_lowercase).as_deref(),
            Some(device_last.as_str()),
            "{id}: '{}' '{}'",
            c["device_name"],
            c["name"]
        );
        assert!(
            c["default_entity_id"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{platform}.")),
            "{id}"
        );
        assert_eq!(
            c["object_id"].as_str(),
            c["default_entity_id"].as_str().unwrap().split('.').nth(1),
            "{id}"
        );
        // Units must fit the class (Home Assistant rejects the entity otherwise).
        match dc.and_then(units_for) {
            Some(allowed) if dc == Some("power_factor") => {
                assert!(unit.is_none() || allowed.contains(&unit.unwrap()), "{id}")
            }
            Some(allowed) => assert!(
                unit.is_some_and(|u| allowed.contains(&u)),
                "{id}: {unit:?} with {dc:?}"
            ),
            None => {}
        }
        if let Some(sc) = sc {
            assert!(
                state_classes_for(dc).contains(&sc),
                "{id}: {sc} with {dc:?}"
            );
        }
        if dc == Some("enum") || platform == "select" {
            let options = c["options"].as_array();
            assert!(
                options.is_some_and(|o| !o.is_empty()) && unit.is_none() && sc.is_none(),
                "{id}"
            );
        } else {
            assert!(
                c.get("options").is_none(),
                "{id}: options only on enum sensors and selects"
            );
        }
        // Sensors may only be diagnostic; config is for entities that can be changed.
        if let Some(cat) = c["entity_category"].as_str() {
            assert_eq!(cat, if readonly { "diagnostic" } else { "config" }, "{id}");
        }
        if platform == "binary_sensor" {
            assert!(unit.is_none() && sc.is_none(), "{id}");
        }
    }
}

#[test]
fn every_kind_maps_to_a_consistent_row() {
    for kind in Kind::ALL {
        let info = kind.info();
        if let Some(dc) = info.device_class {
            if let Some(allowed) = units_for(dc) {
                assert!(info.unit.is_none_or(|u| allowed.contains(&u)), "{kind:?}");
            }
            if let Some(sc) = info.state_class {
                assert!(state_classes_for(Some(dc)).contains(&sc), "{kind:?}");
            }
        }
    }
}

/// What Home Assistant's Energy dashboard needs: for the grid, the panels, the battery, the home
/// and each plug and wallbox an entity it accepts (energy, kWh, total or total_increasing, not
/// a diagnostic), from devices that report what real ones report.
#[test]
fn the_energy_dashboard_finds_an_entity_for_every_source() {
    use stromwart::core::plug::{PlugSettings, Reach};
    use stromwart::model::PlugState;
    use stromwart::quantity::named;
    let plug = PlugSettings {
        id: "boiler".into(),
        name: "Boiler".into(),
        reach: Reach::Task,
        min_switch_ms: 0,
        policy: settings("boiler", Role::Consumer).policy,
        off_on_stop: false,
    };
    let mut core = Core::new(CoreConfig {
        meters: vec![settings("grid", Role::Grid)],
        devices: vec![modbus("inverter", Role::Pv, "sunspec")],
        plugs: vec![plug],
        wallboxes: vec![actuators::wallbox("garage", FIXED_PHASE_CHOICES)],
        batteries: vec![actuators::battery("luna")],
        ..CoreConfig::default()
    });
    let mut out = Vec::new();
    let reading = |key: &str, v: f64| (named(key).unwrap().clone(), Reading::Number(v));
    for s in 1..6 {
        for t in telegrams("holley-dtz541-1") {
            let telegram = Box::new(t);
            core.handle(Event::Telegram { meter: 0, telegram }, now(s), &mut out);
        }
        let mut poll = Poll::default();
        poll.values.readings = vec![
            reading("power", 2400.0),
            reading("energy_production", 8123.4),
        ];
        let poll = Box::new(poll);
        core.handle(Event::ModbusPoll { device: 0, poll }, now(s), &mut out);
        let state = PlugState {
            on: Some(true),
            power: Some(1200.0),
            online: true,
        };
        core.handle(Event::PlugState { plug: 0, state }, now(s), &mut out);
        // A charger that measures its power but counts no energy (most Modbus profiles).
        let state = WallboxState {
            online: true,
            enabled: true,
            status: "charging",
            power: Some(11000.0),
            ..WallboxState::default()
        };
        core.handle(Event::WallboxState { wallbox: 0, state }, now(s), &mut out);
        let readings = [
            "battery_power",
            "battery_soc",
            "battery_energy_charged",
            "battery_energy_discharged",
        ]
        .map(|k| (named(k).unwrap().clone(), 50.0))
        .to_vec();
        let state = BatteryState {
            mode: "auto",
            online: true,
            readings,
            ..BatteryState::default()
        };
        core.handle(Event::BatteryState { battery: 0, state }, now(s), &mut out);
        core.handle(Event::Tick, now(s), &mut out);
    }
    let mut energy_by_device: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for m in out
        .iter()
        .filter(|m| m.topic.starts_with("homeassistant/device/"))
    {
        let json: Value = serde_json::from_str(&m.payload).unwrap();
        let device = json["device"]["name"].as_str().unwrap().to_string();
        for (key, c) in json["components"].as_object().unwrap() {
            let accepted = c["device_class"] == "energy"
                && c["unit_of_measurement"] == "kWh"
                && (c["state_class"] == "total_increasing" || c["state_class"] == "total")
                && c["entity_category"].is_null();
            if accepted {
                energy_by_device
                    .entry(device.clone())
                    .or_default()
                    .push(key.clone());
            }
        }
    }
    let has = |device: &str, key: &str| {
        energy_by_device
            .get(device)
            .is_some_and(|keys| keys.iter().any(|k| k == key))
    };
    assert!(
        has("grid", "energy_import") && has("grid", "energy_export"),
        "{energy_by_device:?}"
    );
    assert!(has("inverter", "energy_production"), "{energy_by_device:?}");
    assert!(
        has("luna", "battery_energy_charged") && has("luna", "battery_energy_discharged"),
        "{energy_by_device:?}"
    );
    assert!(has("Home energy", "house_energy"), "{energy_by_device:?}");
    assert!(has("Boiler", "energy_total"), "{energy_by_device:?}");
    assert!(has("garage", "energy_total"), "{energy_by_device:?}");
}
