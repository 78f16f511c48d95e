//! What other clients on the broker can do to the bridge: a huge retained message on a topic it
//! subscribes to, and a second bridge with the same client id. The real binary, a real
//! mosquitto, and the bridge's own log.

mod common;

use std::time::Duration;

use common::bridge::{fixture, spawn_process};
use common::broker::{Mosquitto, scratch_dir};
use common::observer::Observer;
use rumqttc::QoS;

fn config(port: u16, data: &std::path::Path) -> String {
    format!(
        "data_dir: {}\nmqtt:\n  host: 127.0.0.1\n  port: {port}\nmeters:\n  - id: grid\n    file: {}\n    hex: true\n",
        data.display(),
        fixture("holley-dtz541-1")
    )
}

fn lines(log: &std::path::Path, what: &str) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(what))
        .map(String::from)
        .collect()
}

#[tokio::test]
async fn an_oversized_retained_message_is_dropped_and_costs_no_connection() {
    let broker = Mosquitto::start();
    let obs = Observer::connect(broker.port, "stromwart/bridge/surplus_on").await;
    // Another integration's discovery config of 300 KiB, retained where the bridge looks at
    // start-up.
    obs.client
        .publish(
            "homeassistant/device/huge/config",
            QoS::AtLeastOnce,
            true,
            vec![b'x'; 300 * 1024],
        )
        .await
        .unwrap();
    let data = scratch_dir("oversized");
    let path = data.join("stromwart.yaml");
    std::fs::write(&path, config(broker.port, &data)).unwrap();
    let log = data.join("log");
    let _daemon = spawn_process(&["run"], &path, &log);
    obs.wait_value("stromwart/bridge/surplus_on", "500").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    obs.send("stromwart/bridge/surplus_on/set", "800").await;
    obs.wait_value("stromwart/bridge/surplus_on", "800").await;

    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        lines(&log, "Connected to the MQTT broker").len(),
        1,
        "{text}"
    );
    assert!(lines(&log, "MQTT connection failed").is_empty(), "{text}");
    let dropped = lines(&log, "Dropped a message of 300 KiB");
    assert_eq!(dropped.len(), 1, "{text}");
    assert!(
        dropped[0].contains("homeassistant/device/huge/config"),
        "{text}"
    );
}

#[tokio::test]
async fn two_bridges_with_one_client_id_are_told_what_to_change() {
    let broker = Mosquitto::start();
    let mut logs = Vec::new();
    let mut daemons = Vec::new();
    for _ in 0..2 {
        let data = scratch_dir("twins");
        let path = data.join("stromwart.yaml");
        std::fs::write(&path, config(broker.port, &data)).unwrap();
        let log = data.join("log");
        daemons.push(spawn_process(&["run"], &path, &log));
        logs.push(log);
    }
    let hint = "another client uses the same client id";
    for _ in 0..150 {
        if logs.iter().any(|l| !lines(l, hint).is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Said once per bridge, however long they keep pushing each other off.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let said: Vec<Vec<String>> = logs.iter().map(|l| lines(l, hint)).collect();
    assert!(said.iter().any(|s| s.len() == 1), "{said:?}");
    assert!(said.iter().all(|s| s.len() <= 1), "{said:?}");
    assert!(
        said.iter().flatten().all(|l| l.contains("mqtt.client_id")),
        "{said:?}"
    );
}
