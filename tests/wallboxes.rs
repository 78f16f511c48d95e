//! A wallbox against a loopback server that answers like a go-eCharger (HTTP API v2): commands
//! as Home Assistant sends them, states from what the charger reports.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::bridge::Bridge;
use common::broker::{Mosquitto, scratch_dir};
use common::goe::{Charger, go_e};
use common::http::{Response, serve};
use common::observer::Observer;

async fn set(obs: &Observer, key: &str, payload: &str) {
    obs.send(&format!("stromwart/garage/{key}/set"), payload)
        .await;
}

/// A go-e charging at 16 A on a loopback port, and a config for it as `garage` with `extra`
/// keys.
async fn charging(broker: &Mosquitto, extra: &str) -> (Arc<Mutex<Charger>>, String) {
    let charger = Arc::new(Mutex::new(Charger {
        amp: 16,
        frc: 0,
        psm: 0,
        sets: Vec::new(),
    }));
    let port = go_e(charger.clone()).await;
    let yaml = format!(
        "data_dir: {}\nmqtt:\n  host: 127.0.0.1\n  port: {}\nwallboxes:\n  - id: garage\n    address: http://127.0.0.1:{port}\n{extra}",
        scratch_dir("wallbox").display(),
        broker.port
    );
    (charger, yaml)
}

#[tokio::test]
async fn a_go_e_charger_is_steered_and_reports_back() {
    let broker = Mosquitto::start();
    let (charger, yaml) = charging(
        &broker,
        "    name: Garage\n    max_current: 16\n    poll_interval: 0.5\n    min_change_interval: 0\n",
    )
    .await;
    let bridge = Bridge::start(&yaml);
    let obs = Observer::connect(broker.port, "#").await;
    obs.wait_value("stromwart/garage/charging", "ON").await;
    obs.wait_value("stromwart/garage/power", "11040").await;
    obs.wait_value("stromwart/garage/energy_total", "1234.57")
        .await;
    obs.wait_value("stromwart/garage/status", "charging").await;
    let config = obs
        .wait_for(5, "wallbox config", |r| {
            r.topic == "homeassistant/device/stromwart_wallbox_stromwart_garage/config"
        })
        .await;
    let json: serde_json::Value = serde_json::from_str(&config.payload).unwrap();
    let current = &json["components"]["current_limit"];
    assert_eq!(
        (
            current["platform"].as_str(),
            current["min"].as_f64(),
            current["max"].as_f64()
        ),
        (Some("number"), Some(0.0), Some(16.0))
    );
    assert_eq!(current["unit_of_measurement"], "A");
    assert_eq!(
        json["components"]["phases"]["options"],
        serde_json::json!(["auto", "1", "3"])
    );
    assert_eq!(json["components"]["status"]["device_class"], "enum");

    set(&obs, "current_limit", "10").await;
    obs.wait_value("stromwart/garage/current_limit", "10").await;
    obs.wait_value("stromwart/garage/power", "6900").await;
    set(&obs, "phases", "1").await;
    obs.wait_value("stromwart/garage/phases", "1").await;
    obs.wait_value("stromwart/garage/power", "2300").await;
    // 0 A stops charging; the charger says so.
    set(&obs, "current_limit", "0").await;
    obs.wait_value("stromwart/garage/charging", "OFF").await;
    obs.wait_value("stromwart/garage/status", "complete").await;
    obs.clear();
    set(&obs, "charging", "ON").await;
    obs.wait_value("stromwart/garage/charging", "ON").await;

    // Out of range, below what a car needs, or nonsense: refused, the charger untouched.
    let before = charger.lock().unwrap().sets.len();
    for (key, payload) in [
        ("current_limit", "32"),
        ("current_limit", "3"),
        ("phases", "2"),
        ("charging", "yes"),
    ] {
        set(&obs, key, payload).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sets = charger.lock().unwrap().sets.clone();
    assert_eq!(sets.len(), before, "{sets:?}");
    assert_eq!(sets, vec!["amp=10", "frc=0", "psm=1", "frc=1", "frc=0"]);
    bridge.stop().await.unwrap();
}

/// A charger answering nonsense and one that times out are reported in the log by name, their
/// commands are refused, and a third charger keeps working.
#[tokio::test]
async fn broken_chargers_are_named_in_the_log_and_the_others_keep_working() {
    use common::bridge::spawn_process;
    use common::modbus_sim::Sim;

    let broker = Mosquitto::start();
    let good = go_e(Arc::new(Mutex::new(Charger {
        amp: 16,
        frc: 0,
        psm: 0,
        sets: Vec::new(),
    })))
    .await;
    let (garbage, _server) = serve(|_| Response::json("200 OK", "<html>login</html>")).await;
    let slow = Sim::tcp().await;
    slow.fill(1, 3, 306, 72);
    slow.set_delay(Duration::from_secs(3));
    let dir = scratch_dir("broken-chargers");
    let config = dir.join("stromwart.yaml");
    std::fs::write(
        &config,
        format!(
            "data_dir: {}\nmqtt:\n  host: 127.0.0.1\n  port: {}\nwallboxes:\n  - {{ id: garage, address: 'http://127.0.0.1:{good}', poll_interval: 0.5 }}\n  - {{ id: shed, address: 'http://127.0.0.1:{garbage}', poll_interval: 0.5 }}\n  - {{ id: barn, driver: modbus, profile: alfen, address: '{}', timeout: 0.3, poll_interval: 0.5 }}\n",
            dir.display(),
            broker.port,
            slow.url("tcp")
        ),
    )
    .unwrap();
    let log = dir.join("log");
    let _daemon = spawn_process(&["run"], &config, &log);
    let obs = Observer::connect(broker.port, "stromwart/#").await;
    obs.wait_value("stromwart/garage/charging", "ON").await;
    obs.send("stromwart/shed/current_limit/set", "10").await;
    let wanted = [
        "device=shed",
        "The wallbox answers, but not as expected",
        "device=barn",
        "The wallbox does not answer",
        "no answer within 300ms",
        "Rejected a command: the wallbox gives no usable answer",
    ];
    let mut text = String::new();
    for _ in 0..100 {
        text = std::fs::read_to_string(&log).unwrap_or_default();
        if wanted.iter().all(|w| text.contains(w)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for w in wanted {
        assert!(text.contains(w), "the log lacks {w:?}:\n{text}");
    }
    assert!(!text.contains("panicked"), "{text}");
    // The good one still follows its commands.
    obs.send("stromwart/garage/current_limit/set", "10").await;
    obs.wait_value("stromwart/garage/current_limit", "10").await;
}

#[tokio::test]
async fn a_charger_is_left_at_its_safe_current_when_the_bridge_stops() {
    let broker = Mosquitto::start();
    // No on_stop: the default is the safe current, 6 A unless set otherwise.
    let (charger, yaml) = charging(&broker, "    poll_interval: 0.5\n").await;
    let bridge = Bridge::start(&yaml);
    let obs = Observer::connect(broker.port, "stromwart/garage/current_limit").await;
    obs.wait_value("stromwart/garage/current_limit", "16").await;
    bridge.stop().await.unwrap();
    let c = charger.lock().unwrap();
    assert_eq!(c.amp, 6, "{:?}", c.sets);
    assert!(c.sets.iter().any(|s| s == "amp=6"), "{:?}", c.sets);
}
