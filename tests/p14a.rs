//! §14a dimming through the whole bridge: the control box's contact arrives on an MQTT topic
//! (a Shelly input wired to it), and a Modbus wallbox and a Modbus battery, each an in-process
//! Modbus TCP server, are limited to the site's minimum power and set back when it ends.

mod common;

use common::bridge::Bridge;
use common::broker::{Mosquitto, scratch_dir};
use common::modbus_sim::{Sim, heidelberg, holds, huawei};
use common::observer::Observer;

/// Heidelberg: the current limit in tenths of an ampere.
const CURRENT: u16 = 261;
/// Huawei LUNA2000: the charge limit in W, two registers.
const CHARGE_LIMIT: u16 = 47075;

fn yaml(data: &std::path::Path, port: u16, wallbox: &Sim, battery: &Sim) -> String {
    format!(
        "data_dir: {}\nmqtt:\n  host: 127.0.0.1\n  port: {port}\n\
         wallboxes:\n  - id: garage\n    driver: modbus\n    profile: heidelberg\n    address: {}\n    min_change_interval: 0\n    poll_interval: 0.5\n\
         batteries:\n  - id: luna\n    profile: huawei-luna2000\n    address: {}\n    connect_delay: 0\n    max_charge_power: 5000\n    min_change_interval: 0\n    poll_interval: 0.5\n\
         p14a:\n  network_price: 8.62\n  signals:\n    - name: box\n      mqtt: box/input/0\n      availability: box/online\n      online: \"true\"\n      debounce: 0\n\
         \x20 devices:\n    - kind: wallbox\n      rated_power: 11\n      wallbox: garage\n      priority: 1\n    - kind: battery\n      rated_power: 5\n      battery: luna\n",
        data.display(),
        wallbox.url("tcp"),
        battery.url("tcp"),
    )
}

#[tokio::test]
async fn the_signal_limits_a_wallbox_and_a_battery_and_its_end_sets_them_back() {
    let broker = Mosquitto::start();
    let (wallbox, battery) = (Sim::tcp().await, Sim::tcp().await);
    heidelberg(&wallbox);
    huawei(&battery);
    let obs = Observer::connect(broker.port, "stromwart/#").await;
    let data = scratch_dir("p14a");
    let bridge = Bridge::start(&yaml(&data, broker.port, &wallbox, &battery));
    obs.wait_value("stromwart/site/p14a_minimum_power", "7560")
        .await;
    obs.wait_value("stromwart/site/p14a_rebate", "131.88").await;
    obs.wait_value("stromwart/garage/availability", "online")
        .await;
    obs.send("stromwart/garage/current_limit/set", "16").await;
    holds(
        &wallbox,
        CURRENT,
        &[160],
        "the current set from Home Assistant",
    )
    .await;
    // What the wallbox reports is what comes back after the dimming.
    obs.wait_value("stromwart/garage/current_limit", "16").await;
    holds(
        &battery,
        CHARGE_LIMIT,
        &[0, 5000],
        "the configured charge limit",
    )
    .await;
    obs.send("box/online", "true").await;

    // The box dims: 7,560 W for a wallbox and a battery under an energy manager. The wallbox
    // comes first and gets 10 A on three phases; nothing is left for charging the battery.
    obs.send("box/input/0", "on").await;
    holds(&wallbox, CURRENT, &[100], "the dimmed current").await;
    holds(&battery, CHARGE_LIMIT, &[0, 0], "the dimmed charge limit").await;
    obs.wait_value("stromwart/site/p14a_dimmed", "ON").await;
    obs.wait_value("stromwart/site/p14a_allowed_power", "7560")
        .await;

    // A payload that means nothing changes nothing.
    obs.send("box/input/0", "maybe").await;
    obs.send("box/input/0", "off").await;
    holds(&wallbox, CURRENT, &[160], "the current from before").await;
    holds(&battery, CHARGE_LIMIT, &[0, 5000], "the limit from before").await;
    obs.wait_value("stromwart/site/p14a_dimmed", "OFF").await;

    // The Shelly goes offline: a broken link never releases the devices.
    obs.send("box/online", "false").await;
    holds(
        &wallbox,
        CURRENT,
        &[100],
        "dimmed while the sender is offline",
    )
    .await;
    obs.wait_value("stromwart/site/p14a_dimmed", "ON").await;
    bridge.stop().await.unwrap();

    // Restarted while dimmed, the bridge is dimmed until a source says otherwise.
    battery.set(1, 3, CHARGE_LIMIT, &[0, 5000]);
    obs.clear();
    let bridge = Bridge::start(&yaml(&data, broker.port, &wallbox, &battery));
    obs.wait_value("stromwart/site/p14a_dimmed", "ON").await;
    holds(&battery, CHARGE_LIMIT, &[0, 0], "dimmed after the restart").await;
    obs.send("box/online", "true").await;
    obs.send("box/input/0", "off").await;
    obs.wait_value("stromwart/site/p14a_dimmed", "OFF").await;
    bridge.stop().await.unwrap();
}

#[tokio::test]
async fn a_shelly_input_is_polled_and_its_silence_dims() {
    use common::http::{Response, serve};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let broker = Mosquitto::start();
    let contact = Arc::new(AtomicBool::new(true));
    let closed = contact.clone();
    let (port, shelly) = serve(move |head| {
        assert!(head.starts_with("get /rpc/input.getstatus?id=2 "), "{head}");
        let state = closed.load(Ordering::SeqCst);
        Response::json("200 OK", &format!("{{\"id\":2,\"state\":{state}}}"))
    })
    .await;
    let yaml = format!(
        "data_dir: {}\nmqtt:\n  host: 127.0.0.1\n  port: {}\n\
         meters:\n  - id: grid\n    file: {}\n    hex: true\n\
         p14a:\n  signals:\n    - shelly: http://127.0.0.1:{port}\n      input: 2\n      interval: 1\n      debounce: 0\n\
         \x20 devices:\n    - kind: heat_pump\n      rated_power: 16\n",
        scratch_dir("p14a-shelly").display(),
        broker.port,
        common::bridge::fixture("iskra-mt691-1"),
    );
    let obs = Observer::connect(broker.port, "stromwart/site/#").await;
    let bridge = Bridge::start(&yaml);
    obs.wait_value("stromwart/site/p14a_dimmed", "ON").await;
    obs.wait_value("stromwart/site/p14a_allowed_power", "6400")
        .await;
    contact.store(false, Ordering::SeqCst);
    obs.wait_value("stromwart/site/p14a_dimmed", "OFF").await;
    // The Shelly stops answering: after three missed polls the site is dimmed.
    shelly.abort();
    obs.clear();
    obs.wait_value("stromwart/site/p14a_dimmed", "ON").await;
    bridge.stop().await.unwrap();
}

#[tokio::test]
async fn killed_while_dimmed_the_bridge_comes_back_dimmed_and_its_proof_log_reads() {
    use common::bridge::{binary, spawn_process};
    let broker = Mosquitto::start();
    let (wallbox, battery) = (Sim::tcp().await, Sim::tcp().await);
    heidelberg(&wallbox);
    huawei(&battery);
    let data = scratch_dir("p14a-kill");
    let config = data.join("stromwart.yaml");
    std::fs::write(&config, yaml(&data, broker.port, &wallbox, &battery)).unwrap();
    let obs = Observer::connect(broker.port, "stromwart/site/#").await;
    let mut daemon = spawn_process(&["run"], &config, &data.join("log1"));
    obs.wait_value("stromwart/site/p14a_dimmed", "OFF").await;
    obs.send("box/input/0", "on").await;
    obs.wait_value("stromwart/site/p14a_dimmed", "ON").await;
    daemon.kill(); // SIGKILL: no goodbye, no saving at stop

    battery.set(1, 3, CHARGE_LIMIT, &[0, 5000]);
    obs.clear();
    let _daemon = spawn_process(&["run"], &config, &data.join("log2"));
    obs.wait_value("stromwart/site/p14a_dimmed", "ON").await;
    holds(&battery, CHARGE_LIMIT, &[0, 0], "dimmed after the restart").await;

    let out = std::process::Command::new(binary())
        .args(["p14a", "log", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "no torn lines: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let events: Vec<&str> = lines.iter().filter_map(|l| l["event"].as_str()).collect();
    assert_eq!(events[..3], ["start", "setpoints", "start"], "{lines:?}");
    assert_eq!(lines[0]["why"], "signal box");
    assert_eq!(lines[2]["why"], "dimmed when the bridge stopped");
    assert_eq!(lines.last().unwrap()["summary"]["dimmings"], 2);
}

#[tokio::test]
async fn a_test_from_home_assistant_dims_until_it_is_switched_off() {
    let broker = Mosquitto::start();
    let (wallbox, battery) = (Sim::tcp().await, Sim::tcp().await);
    heidelberg(&wallbox);
    huawei(&battery);
    let data = scratch_dir("p14a-test");
    let obs = Observer::connect(broker.port, "stromwart/#").await;
    let bridge = Bridge::start(&yaml(&data, broker.port, &wallbox, &battery));
    obs.wait_value("stromwart/bridge/p14a_test", "OFF").await;
    let discovery = Observer::connect(broker.port, "homeassistant/#").await;
    let bridge_device = discovery
        .wait_for(5, "bridge config", |r| {
            r.topic.ends_with("/config") && r.payload.contains("p14a_test")
        })
        .await;
    let json: serde_json::Value = serde_json::from_str(&bridge_device.payload).unwrap();
    assert_eq!(json["components"]["p14a_test"]["platform"], "switch");
    assert_eq!(json["components"]["p14a_control"]["platform"], "select");
    assert_eq!(json["components"]["p14a_override"]["platform"], "number");

    // The control mode and the operator's figure are settings; a figure below 4.2 kW is refused.
    obs.wait_value("stromwart/bridge/p14a_control", "ems").await;
    obs.send("stromwart/bridge/p14a_control/set", "direct")
        .await;
    obs.wait_value("stromwart/site/p14a_minimum_power", "8400")
        .await;
    obs.send("stromwart/bridge/p14a_override/set", "3000").await;
    obs.send("stromwart/bridge/p14a_override/set", "9000").await;
    obs.wait_value("stromwart/site/p14a_minimum_power", "9000")
        .await;
    obs.wait_value("stromwart/bridge/p14a_override", "9000")
        .await;
    assert!(
        !obs.all()
            .iter()
            .any(|r| r.topic == "stromwart/site/p14a_minimum_power" && r.payload == "3000"),
        "3000 W is below what §14a allows"
    );
    obs.send("stromwart/bridge/p14a_override/set", "0").await;
    obs.send("stromwart/bridge/p14a_control/set", "ems").await;
    obs.clear();
    obs.wait_value("stromwart/site/p14a_minimum_power", "7560")
        .await;
    obs.send("box/input/0", "off").await;
    obs.wait_value("stromwart/site/p14a_dimmed", "OFF").await;

    obs.send("stromwart/bridge/p14a_test/set", "ON").await;
    obs.wait_value("stromwart/bridge/p14a_test", "ON").await;
    obs.wait_value("stromwart/site/p14a_dimmed", "ON").await;
    holds(&battery, CHARGE_LIMIT, &[0, 0], "limited during the test").await;
    obs.send("stromwart/bridge/p14a_test/set", "OFF").await;
    obs.wait_value("stromwart/site/p14a_dimmed", "OFF").await;
    holds(&battery, CHARGE_LIMIT, &[0, 5000], "back after the test").await;
    bridge.stop().await.unwrap();
    let (records, _) = stromwart::journal::read(&data.join("p14a-log.jsonl")).unwrap();
    assert_eq!(records[0]["test"], true, "{records:?}");
    assert_eq!(records[0]["why"], "a test");
}

/// An I/O module: the box's W4 contact on discrete input 0, its W3 feed-in contact on coil 0.
fn io_module(sim: &Sim) {
    sim.set(1, 2, 0, &[0]);
    sim.set(1, 1, 0, &[0]);
}

#[tokio::test]
async fn a_modbus_input_dims_commands_stay_within_the_limit_and_the_wish_returns_after() {
    let broker = Mosquitto::start();
    let (io, wallbox) = (Sim::tcp().await, Sim::tcp().await);
    io_module(&io);
    heidelberg(&wallbox);
    let registers = "      blocks:\n        - { fc: 2, start: 0, count: 1 }\n        - { fc: 1, start: 0, count: 1 }\n      points:\n        - { quantity: input_1, fc: 2, address: 0 }\n        - { quantity: input_2, fc: 1, address: 0 }\n";
    let yaml = format!(
        "data_dir: {}\nmqtt:\n  host: 127.0.0.1\n  port: {}\n\
         devices:\n  - id: io\n    address: {}\n    poll_interval: 0.5\n    registers:\n{registers}\
         wallboxes:\n  - id: garage\n    driver: modbus\n    profile: heidelberg\n    address: {}\n    min_change_interval: 0\n    poll_interval: 0.5\n\
         p14a:\n  signals:\n    - name: box\n      modbus: io\n      timeout: 3\n      debounce: 0\n\
         \x20   - name: W3\n      modbus: io\n      value: input_2\n      contact: W3\n      debounce: 0\n\
         \x20 devices:\n    - kind: wallbox\n      rated_power: 11\n      wallbox: garage\n",
        scratch_dir("p14a-modbus").display(),
        broker.port,
        io.url("tcp"),
        wallbox.url("tcp"),
    );
    let obs = Observer::connect(broker.port, "stromwart/#").await;
    let bridge = Bridge::start(&yaml);
    obs.wait_value("stromwart/site/p14a_dimmed", "OFF").await;
    obs.wait_value("stromwart/site/p14a_feed_in_limit", "100")
        .await;
    obs.wait_value("stromwart/site/p14a_signal_reachable", "ON")
        .await;
    obs.wait_value("stromwart/garage/p14a_allowed_power", "11000")
        .await;
    obs.wait_value("stromwart/garage/availability", "online")
        .await;
    obs.send("stromwart/garage/current_limit/set", "16").await;
    holds(&wallbox, CURRENT, &[160], "the current before").await;
    obs.wait_value("stromwart/garage/current_limit", "16").await;

    // The contact closes: one wallbox alone keeps 4.2 kW, 6 A on three phases.
    obs.clear();
    io.set(1, 2, 0, &[1]);
    holds(&wallbox, CURRENT, &[60], "the dimmed current").await;
    obs.wait_value("stromwart/site/p14a_dimmed", "ON").await;
    obs.wait_value("stromwart/site/p14a_reason", "signal box")
        .await;
    obs.wait_value("stromwart/garage/p14a_allowed_power", "4200")
        .await;
    obs.wait_value("stromwart/site/p14a_events_year", "1").await;
    obs.wait_value("stromwart/garage/p14a_followed", "ON").await;

    // Home Assistant asks for more than the limit: the wallbox stays within it, and the wish
    // is what comes back when the dimming ends.
    obs.send("stromwart/garage/current_limit/set", "13").await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    holds(&wallbox, CURRENT, &[60], "still within the limit").await;

    // A feed-in contact is shown and does not dim.
    io.set(1, 1, 0, &[1]);
    obs.wait_value("stromwart/site/p14a_feed_in_limit", "0")
        .await;

    obs.clear();
    io.set(1, 2, 0, &[0]);
    holds(
        &wallbox,
        CURRENT,
        &[130],
        "the wish from during the dimming",
    )
    .await;
    obs.wait_value("stromwart/site/p14a_dimmed", "OFF").await;
    obs.wait_value("stromwart/site/p14a_reason", "released")
        .await;

    // The module stops answering: dimmed after the source's timeout, and shown unreachable.
    obs.clear();
    io.remove(1, 2, 0);
    io.remove(1, 1, 0);
    obs.wait_value("stromwart/site/p14a_signal_reachable", "OFF")
        .await;
    obs.wait_value("stromwart/site/p14a_dimmed", "ON").await;
    holds(
        &wallbox,
        CURRENT,
        &[60],
        "dimmed while the module is silent",
    )
    .await;
    obs.wait_value(
        "stromwart/site/p14a_reason",
        "signal box silent, failing safe",
    )
    .await;
    bridge.stop().await.unwrap();
}

#[tokio::test]
async fn a_heat_pump_is_limited_through_its_power_limit_register_never_to_zero() {
    let broker = Mosquitto::start();
    let heat_pump = Sim::tcp().await;
    // Power on holding register 0, the power limit in W on register 1.
    heat_pump.set(1, 3, 0, &[5200, 16000]);
    let profile = "      blocks:\n        - { fc: 3, start: 0, count: 1 }\n      points:\n        - { quantity: power, fc: 3, address: 0 }\n      controls:\n        power_limit: { address: 1, type: u16, min: 0, max: 16000 }\n";
    let data = scratch_dir("p14a-heat-pump");
    let yaml = format!(
        "data_dir: {}\nmqtt:\n  host: 127.0.0.1\n  port: {}\n\
         devices:\n  - id: hp\n    name: Heat pump\n    address: {}\n    poll_interval: 0.5\n    registers:\n{profile}\
         p14a:\n  signals:\n    - name: box\n      mqtt: box/input/0\n      debounce: 0\n\
         \x20 devices:\n    - kind: heat_pump\n      rated_power: 16\n      modbus: hp\n",
        data.display(),
        broker.port,
        heat_pump.url("tcp"),
    );
    let obs = Observer::connect(broker.port, "stromwart/#").await;
    let bridge = Bridge::start(&yaml);
    obs.wait_value("stromwart/hp/power", "5200").await;
    obs.wait_value("stromwart/hp/p14a_allowed_power", "16000")
        .await;

    // A 16 kW heat pump alone keeps 0.4 × 16 kW: 6.4 kW, written to its register.
    obs.send("box/input/0", "on").await;
    holds(&heat_pump, 1, &[6400], "the heat pump's dimmed limit").await;
    obs.wait_value("stromwart/hp/p14a_allowed_power", "6400")
        .await;
    obs.wait_value("stromwart/hp/p14a_followed", "ON").await;

    obs.send("box/input/0", "off").await;
    holds(&heat_pump, 1, &[16000], "the limit's maximum again").await;
    bridge.stop().await.unwrap();
}

#[tokio::test]
async fn a_relay_on_a_tasmota_plug_closes_while_dimmed() {
    let broker = Mosquitto::start();
    let device = Observer::connect(broker.port, "cmnd/hp_relay/#").await;
    let yaml = format!(
        "data_dir: {}\nmqtt:\n  host: 127.0.0.1\n  port: {}\n\
         plugs:\n  - id: hp_sg\n    driver: tasmota\n    topic: hp_relay\n    min_switch_interval: 0\n\
         p14a:\n  signals:\n    - mqtt: box/input/0\n      debounce: 0\n\
         \x20 devices:\n    - kind: heat_pump\n      rated_power: 9\n      relay: hp_sg\n",
        scratch_dir("p14a-tasmota").display(),
        broker.port,
    );
    let obs = Observer::connect(broker.port, "stromwart/#").await;
    let bridge = Bridge::start(&yaml);
    obs.wait_value("stromwart/site/p14a_dimmed", "OFF").await;
    obs.send("box/input/0", "on").await;
    device
        .wait_for(5, "the relay switched on", |r| {
            r.topic == "cmnd/hp_relay/POWER" && r.payload == "ON"
        })
        .await;
    obs.send("box/input/0", "off").await;
    device
        .wait_for(5, "the relay switched off", |r| {
            r.topic == "cmnd/hp_relay/POWER" && r.payload == "OFF"
        })
        .await;
    bridge.stop().await.unwrap();
}
