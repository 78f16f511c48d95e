//! The automation examples in the docs name entities the bridge really announces.

mod common;

use common::actuators;
use common::fixtures::telegrams;
use stromwart::core::plug::{PlugSettings, Reach};
use stromwart::core::wallbox::PHASE_CHOICES;
use stromwart::core::{Core, CoreConfig, DeviceSettings};
use stromwart::ha::Platform;
use stromwart::message::Message;
use stromwart::model::{BatteryState, Event, Now, Role, WallboxState};

fn now(s: u64) -> Now {
    Now {
        mono_ms: s * 1000,
        unix_ms: 1_795_333_500_000 + s as i64 * 1000,
        utc_offset_s: 3600,
    }
}

/// Every entity id the bridge suggests for a grid meter, the site view, the bridge's settings and
/// a plug, a wallbox and a battery.
fn announced() -> Vec<String> {
    let mut core = Core::new(CoreConfig {
        meters: vec![DeviceSettings::new("grid", "Grid meter", Role::Grid)],
        plugs: vec![PlugSettings {
            id: "boiler".into(),
            name: "Boiler".into(),
            reach: Reach::Tasmota {
                topic: "tasmota_boiler".into(),
                power_key: "POWER".into(),
            },
            min_switch_ms: 10_000,
            policy: DeviceSettings::new("boiler", "Boiler", Role::Consumer).policy,
            off_on_stop: false,
        }],
        wallboxes: vec![actuators::wallbox("garage", PHASE_CHOICES)],
        batteries: vec![actuators::battery("battery")],
        ..CoreConfig::default()
    });
    let mut out: Vec<Message> = Vec::new();
    let t = telegrams("dzg-dwsb20-1").into_iter().next().unwrap();
    core.handle(
        Event::Telegram {
            meter: 0,
            telegram: Box::new(t),
        },
        now(1),
        &mut out,
    );
    for s in 2..5 {
        core.handle(Event::Tick, now(s), &mut out);
    }
    let report = |topic: &str, payload: &str| Event::Incoming {
        topic: topic.into(),
        payload: payload.into(),
    };
    core.handle(report("stat/tasmota_boiler/POWER", "OFF"), now(5), &mut out);
    core.handle(
        report("tele/tasmota_boiler/SENSOR", r#"{"ENERGY":{"Power":0}}"#),
        now(5),
        &mut out,
    );
    let charger = WallboxState {
        online: true,
        status: "idle",
        power: Some(0.0),
        energy_wh: Some(0.0),
        ..WallboxState::default()
    };
    core.handle(
        Event::WallboxState {
            wallbox: 0,
            state: charger,
        },
        now(5),
        &mut out,
    );
    let soc = stromwart::quantity::named("battery_soc").unwrap().clone();
    let battery = BatteryState {
        mode: "auto",
        charge_limit: 5000.0,
        discharge_limit: 5000.0,
        readings: vec![(soc, 50.0)],
        online: true,
    };
    core.handle(
        Event::BatteryState {
            battery: 0,
            state: battery,
        },
        now(5),
        &mut out,
    );
    core.handle(Event::MqttConnected, now(6), &mut out);
    let mut ids = Vec::new();
    for m in out
        .iter()
        .filter(|m| m.topic.starts_with("homeassistant/device/"))
    {
        let json: serde_json::Value = serde_json::from_str(&m.payload).unwrap();
        for c in json["components"].as_object().unwrap().values() {
            ids.push(c["default_entity_id"].as_str().unwrap().to_string());
        }
    }
    ids
}

#[test]
fn automation_examples_use_entities_that_exist() {
    let ids = announced();
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/automations.md"))
        .unwrap();
    let mut checked = 0;
    for word in doc.split(|c: char| c.is_whitespace() || c == '`' || c == ',' || c == '"') {
        let domain = word.split('.').next().unwrap_or_default();
        let is_entity =
            Platform::ALL.iter().any(|p| p.domain() == domain) && word.contains(".stromwart_");
        if is_entity {
            assert!(
                ids.iter().any(|id| id == word),
                "docs/automations.md names {word}, which the bridge does not announce"
            );
            checked += 1;
        }
    }
    assert!(checked >= 12, "only {checked} entity ids found");
}
