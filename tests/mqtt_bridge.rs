//! The bridge against a real mosquitto: exact topics, payloads and retain flags, the last will,
//! broker restarts, Home Assistant's birth message and refused credentials.

mod common;

use std::time::Duration;

use common::bridge::{Bridge, replay_config, spawn_process};
use common::broker::{Mosquitto, scratch_dir};
use common::observer::Observer;

const DEVICE: &str = "homeassistant/device/stromwart_0a01484c5902000159bb/config";

#[tokio::test]
async fn discovery_states_and_availability_are_retained() {
    let broker = Mosquitto::start();
    let bridge = Bridge::start(&replay_config(broker.port, "holley-dtz541-1", 0.2, ""));
    let live = Observer::connect(broker.port, "#").await;
    live.wait_value("stromwart/grid/power", "188").await;

    // A subscriber that arrives later gets everything from the broker's retained store.
    let late = Observer::connect(broker.port, "#").await;
    let status = late.wait_value("stromwart/status", "online").await;
    assert!(status.retain && status.qos == 1);
    let config = late
        .wait_for(5, "device config", |r| r.topic == DEVICE)
        .await;
    assert!(config.retain);
    assert_eq!(config.qos, 1);
    let json: serde_json::Value = serde_json::from_str(&config.payload).unwrap();
    assert_eq!(
        json["components"]["power"]["unique_id"],
        "stromwart_0a01484c5902000159bb_power"
    );
    assert_eq!(
        json["components"]["energy_import"]["device_class"],
        "energy"
    );
    assert_eq!(json["availability_topic"], "stromwart/status");
    for (topic, value) in [
        ("stromwart/grid/power", "188"),
        ("stromwart/grid/energy_import", "10793.8987"),
        ("stromwart/grid/energy_export", "13609.89"),
        ("stromwart/grid/voltage_l1", "236"),
        ("stromwart/grid/current_l1", "0.69"),
        ("stromwart/grid/frequency", "50"),
        ("stromwart/grid/energy_import_1d", "4.1"),
        ("stromwart/grid/checksum", "kermit"),
    ] {
        let r = late.wait_value(topic, value).await;
        assert!(r.retain, "{topic} is retained");
    }
    // Discovery is published before any state of the device.
    let order: Vec<String> = live.all().into_iter().map(|r| r.topic).collect();
    let first_state = order
        .iter()
        .position(|t| t.starts_with("stromwart/grid/"))
        .unwrap();
    let config_at = order.iter().position(|t| t == DEVICE).unwrap();
    assert!(config_at < first_state, "{order:?}");

    bridge.stop().await.unwrap();
    live.wait_value("stromwart/status", "offline").await;
}

#[tokio::test]
async fn last_will_fires_when_the_bridge_is_killed() {
    let broker = Mosquitto::start();
    let dir = scratch_dir("kill");
    let config = dir.join("stromwart.yaml");
    std::fs::write(
        &config,
        replay_config(broker.port, "iskra-mt691-1", 0.5, ""),
    )
    .unwrap();
    let obs = Observer::connect(broker.port, "stromwart/status").await;
    let mut child = spawn_process(&["run"], &config, &dir.join("log"));
    obs.wait_value("stromwart/status", "online").await;
    child.kill();
    let will = obs.wait_value("stromwart/status", "offline").await;
    assert_eq!(will.qos, 1);
    let late = Observer::connect(broker.port, "stromwart/status").await;
    let retained = late.wait_value("stromwart/status", "offline").await;
    assert!(retained.retain);
}

#[tokio::test]
async fn a_broker_restart_is_followed_by_a_full_republish() {
    let mut broker = Mosquitto::start();
    let bridge = Bridge::start(&replay_config(broker.port, "holley-dtz541-1", 0.2, ""));
    let obs = Observer::connect(broker.port, "#").await;
    obs.wait_for(10, "device config", |r| r.topic == DEVICE)
        .await;

    broker.restart(); // retained store is empty now
    let after = Observer::connect(broker.port, "#").await;
    let started = std::time::Instant::now();
    after
        .wait_for(10, "device config again", |r| r.topic == DEVICE)
        .await;
    after.wait_value("stromwart/status", "online").await;
    after
        .wait_value("stromwart/grid/energy_import", "10793.8987")
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    // The restarted broker knew no subscriptions; the bridge made them again, so Home
    // Assistant's birth message still reaches it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    after.clear();
    after.send("homeassistant/status", "online").await;
    after
        .wait_for(5, "republish after birth", |r| {
            r.topic == DEVICE && !r.retain
        })
        .await;
    bridge.stop().await.unwrap();
}

#[tokio::test]
async fn home_assistant_birth_triggers_a_republish() {
    let broker = Mosquitto::start();
    // A slow replay: after the first telegram nothing changes for a while.
    let bridge = Bridge::start(&replay_config(broker.port, "holley-dtz541-1", 30.0, ""));
    let obs = Observer::connect(broker.port, "#").await;
    obs.wait_for(10, "device config", |r| r.topic == DEVICE)
        .await;
    obs.wait_value("stromwart/grid/power", "188").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    obs.clear();

    obs.send("homeassistant/status", "online").await;
    obs.wait_for(5, "config after birth", |r| r.topic == DEVICE)
        .await;
    obs.wait_value("stromwart/grid/power", "188").await;
    // States come once more after Home Assistant has had time to subscribe.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while obs.on("stromwart/grid/power").len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            obs.on("stromwart/grid/power")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bridge.stop().await.unwrap();
}

#[tokio::test]
async fn refused_credentials_are_explained_and_the_bridge_keeps_trying() {
    let broker = Mosquitto::with_password("stromwart", "right");
    let dir = scratch_dir("creds");
    let config = dir.join("stromwart.yaml");
    let mqtt = "  username: stromwart\n  password: wrong\n";
    std::fs::write(
        &config,
        replay_config(broker.port, "iskra-mt691-1", 0.5, mqtt),
    )
    .unwrap();
    let log = dir.join("log");
    let mut child = spawn_process(&["run"], &config, &log);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("refused the credentials") || std::time::Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        text.contains("the broker refused the credentials; check mqtt.username and mqtt.password"),
        "{text}"
    );
    assert!(child.is_running(), "the bridge keeps running: {text}");
    assert!(!text.contains("panicked"), "{text}");
}

#[tokio::test]
async fn component_mode_publishes_one_retained_config_per_entity_for_openhab() {
    let broker = Mosquitto::start();
    let mqtt = "  discovery_mode: component\n";
    let bridge = Bridge::start(&replay_config(broker.port, "iskra-mt691-1", 0.5, mqtt));
    let live = Observer::connect(broker.port, "stromwart/#").await;
    live.wait_value("stromwart/grid/power", "26").await;
    let late = Observer::connect(broker.port, "homeassistant/#").await;
    let topic = "homeassistant/sensor/stromwart_0a0149534b0004325ec5/power/config";
    let config = late.wait_for(5, "power config", |r| r.topic == topic).await;
    assert!(config.retain && config.qos == 1);
    let json: serde_json::Value = serde_json::from_str(&config.payload).unwrap();
    assert_eq!(json["state_topic"], "stromwart/grid/power");
    assert_eq!(json["unit_of_measurement"], "W");
    assert_eq!(json["availability_topic"], "stromwart/status");
    assert_eq!(
        json["device"]["identifiers"][0],
        "stromwart_0a0149534b0004325ec5"
    );
    let energy = "homeassistant/sensor/stromwart_0a0149534b0004325ec5/energy_import/config";
    late.wait_for(5, "energy config", |r| r.topic == energy)
        .await;
    assert!(late.all().iter().all(|r| !r.topic.contains("/device/")));
    bridge.stop().await.unwrap();
}
