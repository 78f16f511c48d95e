//! Settings changed from Home Assistant, against a real mosquitto: every command type round
//! trips, bad and retained commands are refused, settings survive a restart and a kill during
//! a write.

mod common;

use std::time::Duration;

use common::bridge::{Bridge, fixture, spawn_process};
use common::broker::{Mosquitto, scratch_dir};
use common::observer::Observer;
use rumqttc::QoS;

fn config(port: u16, data: &std::path::Path) -> String {
    format!(
        "data_dir: {}\nmqtt:\n  host: 127.0.0.1\n  port: {port}\nmeters:\n  - id: grid\n    file: {}\n    hex: true\n    repeat: true\n    replay_interval: 0.5\n",
        data.display(),
        fixture("holley-dtz541-1")
    )
}

async fn command(obs: &Observer, topic: &str, payload: &str) {
    obs.send(topic, payload).await;
}

#[tokio::test]
async fn every_command_type_round_trips() {
    let broker = Mosquitto::start();
    let data = scratch_dir("commands");
    let bridge = Bridge::start(&config(broker.port, &data));
    let obs = Observer::connect(broker.port, "#").await;
    obs.wait_value("stromwart/bridge/surplus_on", "500").await;
    obs.wait_value("stromwart/grid/generic_obis", "OFF").await;

    // number
    command(&obs, "stromwart/bridge/surplus_on/set", "800").await;
    let state = obs.wait_value("stromwart/bridge/surplus_on", "800").await;
    assert!(state.qos == 0);
    // select
    command(
        &obs,
        "stromwart/bridge/surplus_source/set",
        "export_and_battery",
    )
    .await;
    obs.wait_value("stromwart/bridge/surplus_source", "export_and_battery")
        .await;
    // text: renames the site device in Home Assistant
    command(&obs, "stromwart/bridge/site_name/set", "Haus Süd").await;
    obs.wait_value("stromwart/bridge/site_name", "Haus Süd")
        .await;
    obs.wait_for(5, "renamed site", |r| {
        r.topic == "homeassistant/device/stromwart_site_stromwart/config"
            && r.payload.contains(r#""name":"Haus Süd""#)
    })
    .await;
    // switch: unknown OBIS entities become enabled
    command(&obs, "stromwart/grid/generic_obis/set", "ON").await;
    obs.wait_value("stromwart/grid/generic_obis", "ON").await;
    let config = obs
        .wait_for(5, "meter config with unknown codes enabled", |r| {
            r.topic == "homeassistant/device/stromwart_0a01484c5902000159bb/config"
                && !r.payload.contains("enabled_by_default")
        })
        .await;
    assert!(config.payload.contains("obis_1_0_96_5_0"));
    // number on a meter
    command(&obs, "stromwart/grid/min_interval/set", "5").await;
    obs.wait_value("stromwart/grid/min_interval", "5").await;
    // button: everything is announced again
    obs.clear();
    command(&obs, "stromwart/bridge/republish_discovery/set", "PRESS").await;
    obs.wait_for(5, "republished bridge", |r| {
        r.topic == "homeassistant/device/stromwart_bridge_stromwart/config"
    })
    .await;

    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("settings.json")).unwrap())
            .unwrap();
    assert_eq!(
        saved,
        serde_json::json!({
            "surplus_on_w": 800.0,
            "surplus_source": "export_and_battery",
            "site_name": "Haus Süd",
            "meters": {"grid": {"min_interval_s": 5.0, "generic_obis": true}}
        })
    );
    bridge.stop().await.unwrap();
}

#[tokio::test]
async fn bad_and_retained_commands_change_nothing() {
    let broker = Mosquitto::start();
    let data = scratch_dir("commands");
    let obs = Observer::connect(broker.port, "stromwart/#").await;
    // A command someone left retained: the broker replays it when the bridge subscribes.
    obs.client
        .publish(
            "stromwart/bridge/surplus_off/set",
            QoS::AtLeastOnce,
            true,
            "50",
        )
        .await
        .unwrap();
    let bridge = Bridge::start(&config(broker.port, &data));
    obs.wait_value("stromwart/bridge/surplus_off", "100").await;
    obs.wait_value("stromwart/grid/power", "188").await;
    assert!(
        obs.on("stromwart/bridge/surplus_off")
            .iter()
            .all(|r| r.payload == "100"),
        "the stale command was ignored"
    );
    obs.client
        .publish(
            "stromwart/bridge/surplus_off/set",
            QoS::AtLeastOnce,
            true,
            "",
        )
        .await
        .unwrap();
    for (topic, payload) in [
        ("stromwart/bridge/surplus_off/set", "lots"),
        ("stromwart/bridge/surplus_off/set", "900"), // not below the on threshold of 500
        ("stromwart/bridge/surplus_source/set", "battery"),
        ("stromwart/grid/generic_obis/set", "maybe"),
        ("stromwart/grid/heartbeat/set", "0.5"), // shorter than the minimum interval
    ] {
        obs.clear();
        command(&obs, topic, payload).await;
        // The value in force is confirmed again, unchanged.
        let state = topic.trim_end_matches("/set");
        let r = obs.wait_for(5, state, |r| r.topic == state).await;
        assert_ne!(r.payload, payload, "{topic} took {payload}");
    }
    // Unknown settings are ignored without harm.
    command(&obs, "stromwart/bridge/self_destruct/set", "PRESS").await;
    command(&obs, "stromwart/nobody/surplus_on/set", "1").await;
    obs.wait_value("stromwart/grid/power", "188").await;
    assert!(
        !data.join("settings.json").exists(),
        "nothing valid was ever set"
    );
    bridge.stop().await.unwrap();
}

#[tokio::test]
async fn settings_survive_a_restart() {
    let broker = Mosquitto::start();
    let data = scratch_dir("commands");
    let bridge = Bridge::start(&config(broker.port, &data));
    let obs = Observer::connect(broker.port, "stromwart/#").await;
    obs.wait_value("stromwart/bridge/surplus_on", "500").await;
    command(&obs, "stromwart/bridge/surplus_on/set", "1200").await;
    command(&obs, "stromwart/grid/heartbeat/set", "120").await;
    obs.wait_value("stromwart/grid/heartbeat", "120").await;
    bridge.stop().await.unwrap();

    let later = Observer::connect(broker.port, "stromwart/#").await;
    later.clear();
    let bridge = Bridge::start(&config(broker.port, &data));
    later
        .wait_for(10, "surplus_on after restart", |r| {
            r.topic == "stromwart/bridge/surplus_on" && !r.retain && r.payload == "1200"
        })
        .await;
    later
        .wait_for(10, "heartbeat after restart", |r| {
            r.topic == "stromwart/grid/heartbeat" && !r.retain && r.payload == "120"
        })
        .await;
    bridge.stop().await.unwrap();
}

#[tokio::test]
async fn a_kill_during_writes_leaves_a_valid_settings_file() {
    let broker = Mosquitto::start();
    let data = scratch_dir("commands");
    let path = data.join("stromwart.yaml");
    std::fs::write(&path, config(broker.port, &data)).unwrap();
    let obs = Observer::connect(broker.port, "stromwart/bridge/surplus_on").await;
    for round in 0..3u64 {
        let mut daemon = spawn_process(&["run"], &path, &data.join("log"));
        obs.wait_for(10, "bridge up", |r| r.payload.parse::<f64>().is_ok())
            .await;
        obs.clear();
        // A stream of changes, each one a file write, and a kill somewhere in the middle.
        for i in 0..200u64 {
            command(
                &obs,
                "stromwart/bridge/surplus_on/set",
                &(1000 + i).to_string(),
            )
            .await;
        }
        tokio::time::sleep(Duration::from_millis(20 + round * 37)).await;
        daemon.kill();
        let text = std::fs::read_to_string(data.join("settings.json")).unwrap_or_default();
        let saved: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("round {round}: torn file ({e}): {text:?}"));
        let on = saved["surplus_on_w"].as_f64().unwrap();
        assert!((1000.0..1200.0).contains(&on), "round {round}: {on}");
        assert!(!data.join("settings.json.broken").exists());
    }
}

#[tokio::test]
async fn states_follow_a_changed_discovery_config() {
    let broker = Mosquitto::start();
    let data = scratch_dir("commands");
    // Values that never change and a heartbeat of an hour: nothing is sent again on its own.
    let yaml = config(broker.port, &data).replace(
        "    replay_interval: 0.5\n",
        "    replay_interval: 0.5\n    heartbeat: 3600\n",
    );
    let bridge = Bridge::start(&yaml);
    let obs = Observer::connect(broker.port, "#").await;
    obs.wait_value("stromwart/grid/energy_import", "10793.8987")
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Enabling the unknown codes changes the meter's discovery config; Home Assistant reloads
    // the entities, which then need their states again.
    obs.clear();
    command(&obs, "stromwart/grid/generic_obis/set", "ON").await;
    obs.wait_for(5, "the changed config", |r| {
        r.topic == "homeassistant/device/stromwart_0a01484c5902000159bb/config"
    })
    .await;
    obs.wait_for(4, "the meter's states again", |r| {
        r.topic == "stromwart/grid/energy_import"
    })
    .await;

    // Renaming the site is the same for the site's entities.
    obs.clear();
    command(&obs, "stromwart/bridge/site_name/set", "Haus Süd").await;
    obs.wait_for(5, "the renamed site", |r| {
        r.topic == "homeassistant/device/stromwart_site_stromwart/config"
    })
    .await;
    obs.clear();
    obs.wait_for(4, "the site's states again", |r| {
        r.topic == "stromwart/site/house_power"
    })
    .await;
    bridge.stop().await.unwrap();
}
