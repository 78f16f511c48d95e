//! Modbus devices through the whole bridge: a simulated Fronius inverter and its smart meter on
//! one Modbus TCP connection, and a SolarEdge-style inverter with its meter on one unit,
//! published to a real mosquitto as Home Assistant entities.

mod common;

use common::bridge::Bridge;
use common::broker::{Mosquitto, free_port, scratch_dir};
use common::modbus_sim::Sim;
use common::observer::Observer;

fn device(id: &str, name: &str, role: &str, address: &str, unit: u8) -> String {
    format!(
        "  - id: {id}\n    name: {name}\n    role: {role}\n    profile: sunspec\n    address: {address}\n    unit: {unit}\n    poll_interval: 0.3\n    min_interval: 0\n"
    )
}

#[tokio::test]
async fn an_inverter_and_a_meter_over_modbus_reach_home_assistant() {
    let broker = Mosquitto::start();
    let sim = Sim::tcp().await;
    sim.fronius_image();
    let address = sim.url("tcp");
    let yaml = format!(
        "data_dir: {}\nmqtt:\n  host: 127.0.0.1\n  port: {}\ndevices:\n{}{}",
        scratch_dir("data").display(),
        broker.port,
        device("inverter", "Inverter", "pv", &address, 1),
        device("grid", "Grid meter", "grid", &address, 200),
    );
    let bridge = Bridge::start(&yaml);
    let obs = Observer::connect(broker.port, "#").await;
    obs.wait_value("stromwart/inverter/power", "4567").await;
    obs.wait_value("stromwart/inverter/energy_production", "123456.78")
        .await;
    obs.wait_value("stromwart/inverter/battery_soc", "65.5")
        .await;
    obs.wait_value("stromwart/grid/power", "-850.5").await;
    obs.wait_value("stromwart/grid/energy_import", "5000").await;

    let late = Observer::connect(broker.port, "homeassistant/#").await;
    let topic = "homeassistant/device/stromwart_sunspec_34112233/config";
    let config = late
        .wait_for(5, "inverter config", |r| r.topic == topic)
        .await;
    assert!(config.retain && config.qos == 1);
    let json: serde_json::Value = serde_json::from_str(&config.payload).unwrap();
    assert_eq!(
        json["device"],
        serde_json::json!({
            "identifiers": ["stromwart_sunspec_34112233"],
            "name": "Inverter",
            "manufacturer": "Fronius",
            "model": "Symo GEN24 10.0",
            "serial_number": "34112233",
            "sw_version": "1.28.7-1"
        })
    );
    let power = &json["components"]["power"];
    assert_eq!(power["unique_id"], "stromwart_sunspec_34112233_power");
    assert_eq!(power["state_topic"], "stromwart/inverter/power");
    assert_eq!(
        (
            power["device_class"].as_str(),
            power["unit_of_measurement"].as_str()
        ),
        (Some("power"), Some("W"))
    );
    assert_eq!(
        json["components"]["energy_production"]["state_class"],
        "total_increasing"
    );
    assert_eq!(json["components"]["battery_soc"]["device_class"], "battery");
    assert_eq!(
        json["components"]["requests"]["entity_category"],
        "diagnostic"
    );
    assert!(
        json["components"].get("battery_voltage").is_none(),
        "a sentinel never becomes an entity"
    );
    late.wait_for(5, "meter config", |r| {
        r.topic == "homeassistant/device/stromwart_sunspec_m0123/config"
    })
    .await;
    assert_eq!(sim.connections(), 1, "both devices share the connection");

    // The site view: the house uses what the grid and the panels deliver.
    obs.wait_value("stromwart/site/house_power", "3716.5").await;
    obs.wait_value("stromwart/site/grid_export_power", "850.5")
        .await;
    obs.wait_value("stromwart/site/surplus_available", "ON")
        .await;
    let site = late
        .wait_for(5, "site config with today's figures", |r| {
            // The day's ratios join the site once energy has been counted.
            r.topic == "homeassistant/device/stromwart_site_stromwart/config"
                && r.payload.contains("autarky_today")
        })
        .await;
    let json: serde_json::Value = serde_json::from_str(&site.payload).unwrap();
    let available = &json["components"]["surplus_available"];
    assert_eq!(available["platform"], "binary_sensor");
    assert_eq!(
        available["default_entity_id"],
        "binary_sensor.stromwart_site_surplus_available"
    );
    assert_eq!(
        json["components"]["autarky_today"]["unit_of_measurement"],
        "%"
    );
    bridge.stop().await.unwrap();
}

#[tokio::test]
async fn an_unreachable_device_does_not_hold_up_the_others_or_the_start() {
    let broker = Mosquitto::start();
    let sim = Sim::tcp().await;
    sim.fronius_image();
    let yaml = format!(
        "data_dir: {}\nmqtt:\n  host: 127.0.0.1\n  port: {}\ndevices:\n{}{}",
        scratch_dir("data").display(),
        broker.port,
        device(
            "gone",
            "Gone",
            "consumer",
            &format!("tcp://127.0.0.1:{}", free_port()),
            1
        ),
        device("inverter", "Inverter", "pv", &sim.url("tcp"), 1),
    );
    let bridge = Bridge::start(&yaml);
    let obs = Observer::connect(broker.port, "#").await;
    obs.wait_value("stromwart/status", "online").await;
    obs.wait_value("stromwart/inverter/power", "4567").await;
    assert!(
        obs.all()
            .iter()
            .all(|r| !r.topic.starts_with("stromwart/gone/"))
    );
    bridge.stop().await.unwrap();
}

#[tokio::test]
async fn a_meter_behind_an_inverter_on_its_unit_is_a_device_of_its_own() {
    let broker = Mosquitto::start();
    let sim = Sim::tcp().await;
    sim.inverter_with_meter_image();
    let yaml = format!(
        "data_dir: {}\nmqtt:\n  host: 127.0.0.1\n  port: {}\ndevices:\n{}",
        scratch_dir("data").display(),
        broker.port,
        device("inverter", "Inverter", "pv", &sim.url("tcp"), 1),
    );
    let bridge = Bridge::start(&yaml);
    let obs = Observer::connect(broker.port, "#").await;
    obs.wait_value("stromwart/inverter/power", "4567").await;
    // The meter's values are its own device's, under its own id and role (grid by default).
    obs.wait_value("stromwart/inverter_meter/power", "-850")
        .await;
    obs.wait_value("stromwart/inverter_meter/energy_import", "5000")
        .await;
    obs.wait_value("stromwart/inverter_meter/energy_export", "2000")
        .await;
    obs.wait_value("stromwart/inverter_meter/voltage_l1", "231.2")
        .await;
    // The site counts the inverter as PV and its meter as the grid.
    obs.wait_value("stromwart/site/house_power", "3717").await;
    obs.wait_value("stromwart/site/grid_export_power", "850")
        .await;

    let late = Observer::connect(broker.port, "homeassistant/#").await;
    let inverter = late
        .wait_for(5, "inverter config", |r| {
            r.topic == "homeassistant/device/stromwart_sunspec_7e123456/config"
        })
        .await;
    let json: serde_json::Value = serde_json::from_str(&inverter.payload).unwrap();
    assert_eq!(json["device"]["model"], "SE10K");
    assert_eq!(json["device"]["serial_number"], "7E123456");
    for key in ["energy_import", "energy_export"] {
        assert!(
            json["components"].get(key).is_none(),
            "the meter's {key} is not the inverter's"
        );
    }
    let meter = late
        .wait_for(5, "meter config", |r| {
            r.topic == "homeassistant/device/stromwart_sunspec_606123/config"
        })
        .await;
    let json: serde_json::Value = serde_json::from_str(&meter.payload).unwrap();
    assert_eq!(
        json["device"],
        serde_json::json!({
            "identifiers": ["stromwart_sunspec_606123"],
            "name": "Inverter meter",
            "manufacturer": "SolarEdge",
            "model": "SE-MTR-3Y",
            "serial_number": "606123"
        })
    );
    let power = &json["components"]["power"];
    assert_eq!(power["state_topic"], "stromwart/inverter_meter/power");
    assert_eq!(
        json["components"]["energy_import"]["state_class"],
        "total_increasing"
    );
    assert!(
        json["components"].get("requests").is_none(),
        "the bus counters stay with the inverter"
    );
    assert_eq!(sim.connections(), 1);
    bridge.stop().await.unwrap();
}
