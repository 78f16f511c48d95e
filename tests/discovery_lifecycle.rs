//! The discovery lifecycle on a real broker: at start the bridge removes its own configs of
//! devices no longer configured, migrates configs of the other discovery mode, and leaves
//! everything of other programs and other Stromwart instances alone.

mod common;

use std::time::Duration;

use common::bridge::{Bridge, replay_config};
use common::broker::Mosquitto;
use common::observer::Observer;
use rumqttc::QoS;

const GRID: &str = "stromwart_0a01484c5902000159bb";

/// Retained configs as earlier runs, another instance and another program left them.
async fn seed(obs: &Observer) {
    let configs = [
        // Ours, for a meter removed from the config: to be removed.
        (
            "homeassistant/device/stromwart_0a0100000000000000aa/config",
            r#"{"availability_topic":"stromwart/status","components":{"power":{"platform":"sensor","unique_id":"u1","state_topic":"stromwart/old/power"}}}"#,
        ),
        // Ours, per component, for the configured meter: the old form, to be migrated.
        (
            &format!("homeassistant/sensor/{GRID}/power/config") as &str,
            r#"{"availability_topic":"stromwart/status","unique_id":"u2","state_topic":"stromwart/grid/power"}"#,
        ),
        // Ours, for a wallbox removed from the config, with its own availability: to be removed.
        (
            "homeassistant/device/stromwart_wallbox_stromwart_oldbox/config",
            r#"{"availability":[{"topic":"stromwart/status"},{"topic":"stromwart/oldbox/availability"}],"availability_mode":"all","components":{"charging":{"platform":"switch","unique_id":"u5","state_topic":"stromwart/oldbox/charging"}}}"#,
        ),
        // Another Stromwart instance (other base topic): untouched.
        (
            "homeassistant/device/stromwart_0a0100000000000000bb/config",
            r#"{"availability_topic":"house2/status","components":{"power":{"platform":"sensor","unique_id":"u3","state_topic":"house2/old/power"}}}"#,
        ),
        // Another program entirely: untouched.
        (
            "homeassistant/sensor/plug_1234/power/config",
            r#"{"availability_topic":"zigbee2mqtt/bridge/state","unique_id":"u4","state_topic":"zigbee2mqtt/plug"}"#,
        ),
    ];
    for (topic, payload) in configs {
        obs.client
            .publish(topic, QoS::AtLeastOnce, true, payload)
            .await
            .unwrap();
    }
}

/// The retained configs now on the broker, by topic.
async fn retained(port: u16) -> Vec<(String, String)> {
    let late = Observer::connect(port, "homeassistant/#").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut all: Vec<(String, String)> = late
        .all()
        .into_iter()
        .filter(|r| r.retain)
        .map(|r| (r.topic, r.payload))
        .collect();
    all.sort();
    all
}

#[tokio::test]
async fn stale_configs_go_others_stay_and_the_old_form_migrates() {
    let broker = Mosquitto::start();
    let obs = Observer::connect(broker.port, "homeassistant/#").await;
    seed(&obs).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mqtt = "  cleanup_delay: 1\n";
    let bridge = Bridge::start(&replay_config(broker.port, "holley-dtz541-1", 0.5, mqtt));
    // The old-form config is marked for migration, then cleared once the device config is out.
    obs.wait_for(10, "migration marker", |r| {
        r.topic == format!("homeassistant/sensor/{GRID}/power/config")
            && r.payload == r#"{"migrate_discovery":true}"#
    })
    .await;
    obs.wait_for(10, "old form cleared", |r| {
        r.topic == format!("homeassistant/sensor/{GRID}/power/config") && r.payload.is_empty()
    })
    .await;
    obs.wait_for(10, "stale config cleared", |r| {
        r.topic == "homeassistant/device/stromwart_0a0100000000000000aa/config"
            && r.payload.is_empty()
    })
    .await;
    obs.wait_for(10, "stale wallbox config cleared", |r| {
        r.topic == "homeassistant/device/stromwart_wallbox_stromwart_oldbox/config"
            && r.payload.is_empty()
    })
    .await;

    let topics: Vec<String> = retained(broker.port)
        .await
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    assert_eq!(
        topics,
        vec![
            "homeassistant/device/stromwart_0a0100000000000000bb/config".to_string(),
            format!("homeassistant/device/{GRID}/config"),
            "homeassistant/device/stromwart_bridge_stromwart/config".to_string(),
            "homeassistant/device/stromwart_site_stromwart/config".to_string(),
            "homeassistant/sensor/plug_1234/power/config".to_string(),
        ]
    );
    bridge.stop().await.unwrap();
}

#[tokio::test]
async fn a_restarted_bridge_keeps_its_entities_and_a_second_instance_coexists() {
    let broker = Mosquitto::start();
    let first = Bridge::start(&replay_config(
        broker.port,
        "holley-dtz541-1",
        0.5,
        "  cleanup_delay: 1\n",
    ));
    // A second instance: its own client id, base topic and meter.
    let house2 = "  client_id: house2\n  base_topic: house2\n  cleanup_delay: 1\n";
    let other = replay_config(broker.port, "iskra-mt691-1", 0.5, house2);
    let second = Bridge::start(&other);
    let obs = Observer::connect(broker.port, "#").await;
    obs.wait_value("stromwart/grid/power", "188").await;
    obs.wait_value("house2/grid/power", "26").await;

    // Restart the first; after its cleanup delay nothing of either is gone.
    first.stop().await.unwrap();
    let again = Bridge::start(&replay_config(
        broker.port,
        "holley-dtz541-1",
        0.5,
        "  cleanup_delay: 1\n",
    ));
    obs.wait_value("stromwart/status", "online").await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        obs.all()
            .iter()
            .all(|r| !(r.topic.ends_with("/config") && r.payload.is_empty())),
        "nothing was removed"
    );
    let topics: Vec<String> = retained(broker.port)
        .await
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    for t in [
        format!("homeassistant/device/{GRID}/config"),
        "homeassistant/device/stromwart_0a0149534b0004325ec5/config".into(),
        "homeassistant/device/stromwart_site_stromwart/config".into(),
        "homeassistant/device/stromwart_site_house2/config".into(),
    ] {
        assert!(topics.contains(&t), "{t} missing from {topics:?}");
    }
    again.stop().await.unwrap();
    second.stop().await.unwrap();
}
