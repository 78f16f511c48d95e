//! The site view when its grid meter falls silent: derived values stop being presented as live.
//! A TCP meter feeds the real bridge, which publishes to a real mosquitto.

mod common;

use std::time::Duration;

use common::bridge::Bridge;
use common::broker::Mosquitto;
use common::fixtures::capture;
use common::observer::Observer;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

#[tokio::test]
async fn a_silent_grid_meter_turns_the_surplus_off_and_withdraws_the_derived_values() {
    let broker = Mosquitto::start();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let obs = Observer::connect(broker.port, "#").await;
    // The meter's values count as current for 4 s after each reading.
    let bridge = Bridge::start(&format!(
        "mqtt:\n  port: {}\nmeters:\n  - id: grid\n    tcp: 127.0.0.1:{port}\n    heartbeat: 2\n    expire_after: 4\n",
        broker.port
    ));
    let (mut meter, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
        .await
        .unwrap()
        .unwrap();
    // One reading: 4308 W exported. Then the meter says nothing more, the connection open.
    meter
        .write_all(&capture("iskra-mt175-1")[..])
        .await
        .unwrap();
    obs.wait_value("stromwart/site/surplus_available", "ON")
        .await;
    let discovery = obs
        .all()
        .into_iter()
        .rfind(|r| r.topic.starts_with("homeassistant/device/stromwart_site_"))
        .expect("the site's discovery");
    let config: serde_json::Value = serde_json::from_str(&discovery.payload).unwrap();
    let expire = config["components"]["house_power"]["expire_after"]
        .as_u64()
        .unwrap_or_else(|| panic!("{config:#}"));
    assert!(expire <= 30, "derived values expire within 30 s: {expire}");

    obs.wait_value("stromwart/site/surplus_available", "OFF")
        .await;
    // The powers are withdrawn: their retained states are cleared, so a client that subscribes
    // now (Home Assistant after a restart) finds only the surplus switched off.
    for key in ["grid_export_power", "house_power", "surplus_power"] {
        let topic = format!("stromwart/site/{key}");
        obs.wait_for(5, "the retained state cleared", |r| {
            r.topic == topic && r.payload.is_empty()
        })
        .await;
    }
    let late = Observer::connect(broker.port, "stromwart/site/#").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let retained: Vec<(String, String)> = late
        .all()
        .into_iter()
        .filter(|r| r.retain)
        .map(|r| (r.topic, r.payload))
        .collect();
    assert_eq!(
        retained,
        [
            (
                "stromwart/site/surplus_available".to_string(),
                "OFF".to_string()
            ),
            // Not derived from the meter: the bridge's own diagnostic stays.
            ("stromwart/site/storage".to_string(), "ok".to_string())
        ]
    );
    obs.clear();
    tokio::time::sleep(Duration::from_secs(12)).await;
    let resent: Vec<_> = obs
        .all()
        .into_iter()
        .filter(|r| {
            r.topic.starts_with("stromwart/site/")
                && r.topic != "stromwart/site/surplus_available"
                && r.topic != "stromwart/site/storage"
        })
        .collect();
    assert!(resent.is_empty(), "stale values sent again: {resent:?}");
    drop(meter);
    bridge.stop().await.unwrap();
}
