//! The site's lifetime energies for the Energy dashboard: counted from the powers, published as
//! `total_increasing` kWh, and carried across a restart through the data directory. A replayed
//! meter feeds the real bridge, which publishes to a real mosquitto.

mod common;

use common::bridge::{Bridge, fixture};
use common::broker::{Mosquitto, scratch_dir};
use common::observer::Observer;

#[tokio::test]
async fn lifetime_energies_continue_after_a_restart() {
    let broker = Mosquitto::start();
    let data = scratch_dir("totals");
    // What an earlier run saved.
    std::fs::write(
        data.join("energy-totals.json"),
        r#"{"house_wh": 12345.0, "pv_self_wh": 0.0, "grid_import_wh": 0.0, "grid_export_wh": 0.0}"#,
    )
    .unwrap();
    let yaml = format!(
        "data_dir: {}\nmqtt:\n  host: 127.0.0.1\n  port: {}\nmeters:\n  - id: grid\n    file: {}\n    hex: true\n    repeat: true\n    replay_interval: 0.5\n",
        data.display(),
        broker.port,
        fixture("holley-dtz541-1")
    );
    let obs = Observer::connect(broker.port, "#").await;
    let bridge = Bridge::start(&yaml);
    let first = obs
        .wait_for(10, "the house energy", |r| {
            r.topic == "stromwart/site/house_energy"
        })
        .await;
    let kwh: f64 = first.payload.parse().unwrap();
    assert!((12.345..12.36).contains(&kwh), "{kwh}");
    let config = obs
        .all()
        .into_iter()
        .rfind(|r| r.topic == "homeassistant/device/stromwart_site_stromwart/config")
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(&config.payload).unwrap();
    let house = &json["components"]["house_energy"];
    assert_eq!(
        (
            &house["device_class"],
            &house["unit_of_measurement"],
            &house["state_class"]
        ),
        (&"energy".into(), &"kWh".into(), &"total_increasing".into())
    );
    // The meter counts the grid itself, so the site does not count it twice.
    assert!(json["components"].get("grid_import_energy").is_none());
    // A few seconds of the house drawing power, then a stop.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    bridge.stop().await.unwrap();

    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("energy-totals.json")).unwrap())
            .unwrap();
    let wh = saved["house_wh"].as_f64().unwrap();
    assert!(wh > 12345.0, "saved at stop, grown by the run: {wh}");
}
