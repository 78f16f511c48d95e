//! Wallboxes and batteries on Modbus, against an in-process Modbus TCP server that plays the
//! device, its own fallback timer included: commands go in as Home Assistant sends them, states
//! come from the registers, and when the bridge stops the device falls back on its own.

mod common;

use std::time::Duration;

use common::bridge::Bridge;
use common::broker::{Mosquitto, scratch_dir};
use common::modbus_sim::{Sim, heidelberg, holds, huawei};
use common::observer::Observer;
use rumqttc::QoS;

fn bridge_yaml(tag: &str, port: u16, section: &str) -> String {
    format!(
        "data_dir: {}\nmqtt:\n  host: 127.0.0.1\n  port: {port}\n{section}",
        scratch_dir(tag).display()
    )
}

async fn discovery(obs: &Observer, device: &str) -> serde_json::Value {
    let topic = format!("homeassistant/device/{device}/config");
    let config = obs.wait_for(5, "discovery", |r| r.topic == topic).await;
    serde_json::from_str(&config.payload).unwrap()
}

#[tokio::test]
async fn a_heidelberg_wallbox_is_steered_and_falls_back_when_the_bridge_stops() {
    let broker = Mosquitto::start();
    let sim = Sim::tcp().await;
    heidelberg(&sim);
    let section = format!(
        "wallboxes:\n  - id: heidelberg\n    driver: modbus\n    profile: heidelberg\n    address: {}\n    safe_current: 8\n    watchdog: 2\n    min_change_interval: 0\n    poll_interval: 0.5\n",
        sim.url("tcp")
    );
    let bridge = Bridge::start(&bridge_yaml("heidelberg", broker.port, &section));
    let obs = Observer::connect(broker.port, "#").await;

    // At start: watchdog 2000 ms, standby off, FailSafe 8 A, and the safe current in force.
    holds(&sim, 257, &[2000, 4], "watchdog and standby").await;
    holds(&sim, 262, &[80], "FailSafe current").await;
    holds(&sim, 261, &[80], "current at start").await;
    obs.wait_value("stromwart/heidelberg/current_limit", "8")
        .await;
    obs.wait_value("stromwart/heidelberg/charging", "ON").await;
    obs.wait_value("stromwart/heidelberg/power", "5520").await;
    obs.wait_value("stromwart/heidelberg/current_l1", "8").await;
    obs.wait_value("stromwart/heidelberg/status", "charging")
        .await;
    obs.wait_value("stromwart/heidelberg/energy_total", "12.35")
        .await;
    let json = discovery(&obs, "stromwart_wallbox_stromwart_heidelberg").await;
    assert_eq!(
        json["device"]["model"], "Energy Control",
        "the profile's model"
    );
    let c = &json["components"];
    assert_eq!(
        (c["current_limit"]["max"].as_f64(), c["phases"].is_null()),
        (Some(16.0), true),
        "a Heidelberg cannot switch phases: {c}"
    );
    assert_eq!(json["device"]["manufacturer"], "Heidelberg");
    // Unavailable in Home Assistant when either the bridge or the charger is gone.
    assert_eq!(
        (&json["availability"], &json["availability_mode"]),
        (
            &serde_json::json!([
                {"topic": "stromwart/status"},
                {"topic": "stromwart/heidelberg/availability"}
            ]),
            &serde_json::json!("all")
        )
    );
    obs.wait_value("stromwart/heidelberg/availability", "online")
        .await;

    obs.send("stromwart/heidelberg/current_limit/set", "10")
        .await;
    holds(&sim, 261, &[100], "current after the command").await;
    obs.wait_value("stromwart/heidelberg/current_limit", "10")
        .await;
    obs.wait_value("stromwart/heidelberg/power", "6900").await;
    // Below what a car needs, above the charger's range, nonsense: never written.
    for bad in ["3", "20", "ten"] {
        obs.send("stromwart/heidelberg/current_limit/set", bad)
            .await;
    }
    // Longer than the watchdog: the rewrites keep the setpoint in force.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(sim.get(1, 261), Some(100));

    bridge.stop().await.unwrap();
    // Nobody asks any more: the charger's own watchdog drops to the FailSafe current.
    holds(&sim, 261, &[80], "current after the bridge stopped").await;
}

fn f32_at(r: &common::modbus_sim::Regs, address: u16) -> f32 {
    let (hi, lo) = (r.holding[&address], r.holding[&(address + 1)]);
    f32::from_bits((u32::from(hi) << 16) | u32::from(lo))
}

fn set_f32(r: &mut common::modbus_sim::Regs, address: u16, v: f32) {
    let bits = v.to_bits();
    r.holding.insert(address, (bits >> 16) as u16);
    r.holding.insert(address + 1, bits as u16);
}

/// An Alfen Eve: the setpoint in 1210 is valid for its validity time (1 s here); after that the
/// charger applies the safe current from 1212.
fn alfen(sim: &Sim) {
    sim.fill(1, 3, 306, 72);
    sim.fill(1, 3, 1200, 16);
    sim.set_str(1, 1201, "C2", 5);
    sim.set(1, 3, 1215, &[3]);
    sim.watchdog(
        1,
        Some(1210),
        |_| Some(Duration::from_secs(1)),
        |r, silent| {
            let applied = f32_at(r, if silent { 1212 } else { 1210 });
            set_f32(r, 1206, applied);
            let phases = f32::from(r.holding[&1215]);
            set_f32(r, 344, applied * 230.0 * phases);
        },
    );
}

#[tokio::test]
async fn an_alfen_wallbox_keeps_its_setpoint_valid_and_switches_phases() {
    let broker = Mosquitto::start();
    let sim = Sim::tcp().await;
    alfen(&sim);
    let section = format!(
        "wallboxes:\n  - id: alfen\n    driver: modbus\n    profile: alfen\n    address: {}\n    max_current: 16\n    safe_current: 6\n    rewrite_interval: 0.3\n    min_change_interval: 0\n    poll_interval: 0.5\n",
        sim.url("tcp")
    );
    let bridge = Bridge::start(&bridge_yaml("alfen", broker.port, &section));
    let obs = Observer::connect(broker.port, "#").await;
    obs.wait_value("stromwart/alfen/current_limit", "6").await;
    let json = discovery(&obs, "stromwart_wallbox_stromwart_alfen").await;
    assert_eq!(
        json["components"]["phases"]["options"],
        serde_json::json!(["1", "3"])
    );

    obs.send("stromwart/alfen/current_limit/set", "16").await;
    obs.wait_value("stromwart/alfen/current_applied", "16")
        .await;
    obs.wait_value("stromwart/alfen/power", "11040").await;
    obs.send("stromwart/alfen/phases/set", "1").await;
    obs.wait_value("stromwart/alfen/phases", "1").await;
    obs.wait_value("stromwart/alfen/power", "3680").await;
    // The phase register takes function code 6 only, as the profile says.
    assert!(sim.log().iter().any(|&(_, fc, a, _)| (fc, a) == (6, 1215)));
    // Well past the validity time: the rewrites keep 16 A applied.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let applied = sim
        .get(1, 1206)
        .map(|hi| f32::from_bits(u32::from(hi) << 16));
    assert_eq!(applied, Some(16.0));

    // 0 A stops charging; the charger's read-back says so.
    obs.send("stromwart/alfen/current_limit/set", "0").await;
    obs.wait_value("stromwart/alfen/charging", "OFF").await;
    obs.send("stromwart/alfen/current_limit/set", "16").await;
    obs.wait_value("stromwart/alfen/charging", "ON").await;

    bridge.stop().await.unwrap();
    // The setpoint runs out: the charger applies its safe current, 6 A.
    holds(
        &sim,
        1206,
        &[0x40c0, 0],
        "applied current after the bridge stopped",
    )
    .await;
}

/// A Huawei SUN2000 with a LUNA2000: a forced charge or discharge ends on its own once 47100
/// has not been written for a while (the forced period, 1 s here).
#[tokio::test]
async fn a_huawei_battery_is_forced_to_charge_and_ends_it_when_the_bridge_stops() {
    let broker = Mosquitto::start();
    let sim = Sim::tcp().await;
    huawei(&sim);
    let section = format!(
        "batteries:\n  - id: luna\n    profile: huawei-luna2000\n    address: {}\n    connect_delay: 0\n    max_charge_power: 5000\n    rewrite_interval: 0.3\n    min_change_interval: 0\n    poll_interval: 0.5\n",
        sim.url("tcp")
    );
    let obs = Observer::connect(broker.port, "#").await;
    // A command someone left retained: the broker hands it to the bridge when it subscribes.
    obs.client
        .publish(
            "stromwart/luna/mode/set",
            QoS::AtLeastOnce,
            true,
            "discharge",
        )
        .await
        .unwrap();
    let bridge = Bridge::start(&bridge_yaml("huawei", broker.port, &section));

    // At start: auto, with the configured limits.
    holds(&sim, 47075, &[0, 5000, 0, 5000], "limits at start").await;
    obs.wait_value("stromwart/luna/mode", "auto").await;
    obs.wait_value("stromwart/luna/charge_limit", "5000").await;
    obs.wait_value("stromwart/luna/battery_soc", "65.5").await;
    obs.wait_value("stromwart/luna/battery_power", "-1500")
        .await;
    let json = discovery(&obs, "stromwart_battery_stromwart_luna").await;
    let c = &json["components"];
    assert_eq!(
        c["mode"]["options"],
        serde_json::json!(["auto", "hold", "charge", "discharge"])
    );
    assert_eq!(
        (
            c["charge_limit"]["max"].as_f64(),
            c["charge_limit"]["unit_of_measurement"].as_str()
        ),
        (Some(5000.0), Some("W"))
    );

    obs.send("stromwart/luna/mode/set", "charge").await;
    holds(&sim, 47100, &[1], "forced charge").await;
    holds(&sim, 47246, &[0, 0, 5000], "target by time, charge power").await;
    assert_eq!(sim.get(1, 47083), Some(2), "forced period in minutes");
    obs.wait_value("stromwart/luna/mode", "charge").await;
    obs.send("stromwart/luna/charge_limit/set", "2500").await;
    holds(&sim, 47247, &[0, 2500], "charge power after the command").await;
    obs.wait_value("stromwart/luna/charge_limit", "2500").await;
    // Above the configured maximum: refused before it reaches the battery.
    obs.send("stromwart/luna/charge_limit/set", "6000").await;

    // The inverter refuses a register: the discharge never goes half in force.
    sim.remove(1, 3, 47249);
    obs.send("stromwart/luna/mode/set", "discharge").await;
    // Past the forced period: the rewrites keep the charge going.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sim.get(1, 47100), Some(1));
    assert_eq!(sim.get(1, 47248), Some(2500));
    let modes: Vec<String> = obs
        .on("stromwart/luna/mode")
        .into_iter()
        .map(|r| r.payload)
        .collect();
    assert!(!modes.contains(&"discharge".to_string()), "{modes:?}");
    // One attempt at the discharge power: the refused command. The retained one never came.
    let attempts = sim
        .log()
        .iter()
        .filter(|&&(_, fc, a, _)| (fc, a) == (16, 47249))
        .count();
    assert_eq!(attempts, 1);

    bridge.stop().await.unwrap();
    holds(&sim, 47100, &[0], "forced charge after the bridge stopped").await;
}

#[tokio::test]
async fn battery_limits_set_from_home_assistant_persist_and_modes_do_not() {
    let broker = Mosquitto::start();
    let sim = Sim::tcp().await;
    huawei(&sim);
    let yaml = bridge_yaml(
        "limits",
        broker.port,
        &format!(
            "batteries:\n  - id: luna\n    profile: huawei-luna2000\n    address: {}\n    connect_delay: 0\n    max_charge_power: 5000\n    min_change_interval: 0\n    poll_interval: 0.5\n",
            sim.url("tcp")
        ),
    );
    let obs = Observer::connect(broker.port, "stromwart/luna/#").await;
    let bridge = Bridge::start(&yaml);
    obs.wait_value("stromwart/luna/charge_limit", "5000").await;
    obs.send("stromwart/luna/charge_limit/set", "2500").await;
    holds(&sim, 47075, &[0, 2500], "the limit set from Home Assistant").await;
    obs.send("stromwart/luna/mode/set", "charge").await;
    obs.wait_value("stromwart/luna/mode", "charge").await;

    // The inverter restarts (its connection drops): the bridge starts it again in auto, with
    // the limit in force, not the configured one.
    sim.drop_connections();
    sim.set(1, 3, 47075, &[0, 5000]);
    holds(
        &sim,
        47075,
        &[0, 2500],
        "the limit after the inverter restarted",
    )
    .await;
    obs.wait_value("stromwart/luna/mode", "auto").await;
    bridge.stop().await.unwrap();

    // The bridge restarts: the limit is a setting and comes back; the mode was a command.
    sim.set(1, 3, 47075, &[0, 5000]);
    obs.clear();
    let bridge = Bridge::start(&yaml);
    obs.wait_value("stromwart/luna/mode", "auto").await;
    obs.wait_value("stromwart/luna/charge_limit", "2500").await;
    holds(
        &sim,
        47075,
        &[0, 2500],
        "the limit after the bridge restarted",
    )
    .await;
    bridge.stop().await.unwrap();
}

#[tokio::test]
async fn a_battery_is_put_in_auto_when_the_bridge_stops() {
    let broker = Mosquitto::start();
    let sim = Sim::tcp().await;
    // A Huawei without a fallback timer of its own: a forced charge would run on forever.
    sim.fill(1, 3, 37758, 26);
    sim.fill(1, 3, 47075, 4);
    sim.fill(1, 3, 47083, 1);
    sim.fill(1, 3, 47100, 1);
    sim.fill(1, 3, 47246, 5);
    let yaml = bridge_yaml(
        "battery-stop",
        broker.port,
        &format!(
            "batteries:\n  - id: luna\n    profile: huawei-luna2000\n    address: {}\n    connect_delay: 0\n    min_change_interval: 0\n    poll_interval: 0.5\n",
            sim.url("tcp")
        ),
    );
    let obs = Observer::connect(broker.port, "stromwart/luna/#").await;
    let bridge = Bridge::start(&yaml);
    obs.wait_value("stromwart/luna/mode", "auto").await;
    obs.send("stromwart/luna/mode/set", "charge").await;
    holds(&sim, 47100, &[1], "forced charge").await;
    bridge.stop().await.unwrap();
    // Written on the way out, not by a timer.
    assert_eq!(sim.get(1, 47100), Some(0), "forcible_mode after stop");
}

/// SunSpec storage control: rates are shares of WChaMax, written with the scale factor the
/// device reports (InOutWRte_SF = -2, so 100 % is 10000).
#[tokio::test]
async fn sunspec_storage_rates_are_written_as_scaled_shares_of_the_maximum() {
    let broker = Mosquitto::start();
    let sim = Sim::tcp().await;
    sim.fronius_image();
    let m124 = 40122;
    sim.set(1, 3, m124 + 2, &[5000]); // WChaMax
    sim.set(1, 3, m124 + 18, &[0]); // WChaMax_SF
    sim.set(1, 3, m124 + 25, &[(-2i16) as u16]); // InOutWRte_SF
    let section = format!(
        "batteries:\n  - id: gen24\n    profile: sunspec\n    address: {}\n    max_charge_power: 5000\n    min_change_interval: 0\n    poll_interval: 0.5\n",
        sim.url("tcp")
    );
    let bridge = Bridge::start(&bridge_yaml("sunspec-battery", broker.port, &section));
    let obs = Observer::connect(broker.port, "#").await;

    // Auto: both rates at 100 % (5000 W of 5000 W), limits active.
    holds(&sim, m124 + 12, &[10000, 10000], "rates at start").await;
    holds(&sim, m124 + 5, &[3], "limits active").await;
    obs.wait_value("stromwart/gen24/mode", "auto").await;
    obs.wait_value("stromwart/gen24/battery_soc", "65.5").await;
    // The inverter's own values (model 103) belong to the inverter, not to the battery.
    assert!(obs.on("stromwart/gen24/power").is_empty());

    obs.send("stromwart/gen24/charge_limit/set", "2500").await;
    obs.wait_value("stromwart/gen24/charge_limit", "2500").await;
    obs.send("stromwart/gen24/mode/set", "charge").await;
    // Charge from the grid at 2500 W: a discharge rate of -50 %, i.e. -5000 at SF -2.
    holds(
        &sim,
        m124 + 12,
        &[(-5000i16) as u16, 5000],
        "rates in charge",
    )
    .await;
    assert_eq!(sim.get(1, m124 + 17), Some(1), "grid charging allowed");
    obs.wait_value("stromwart/gen24/mode", "charge").await;
    bridge.stop().await.unwrap();
}

/// A charger that does not answer is reported, commands to it are refused, and the battery on
/// the other connection keeps working.
#[tokio::test]
async fn an_unreachable_charger_refuses_commands_and_the_battery_works_on() {
    let broker = Mosquitto::start();
    let sim = Sim::tcp().await;
    huawei(&sim);
    let closed = common::broker::free_port();
    let section = format!(
        "wallboxes:\n  - id: carport\n    driver: modbus\n    profile: alfen\n    address: tcp://127.0.0.1:{closed}\n    timeout: 0.2\n    min_change_interval: 0\n    poll_interval: 0.5\nbatteries:\n  - id: luna\n    profile: huawei-luna2000\n    address: {}\n    connect_delay: 0\n    min_change_interval: 0\n    poll_interval: 0.5\n",
        sim.url("tcp")
    );
    let bridge = Bridge::start(&bridge_yaml("unreachable", broker.port, &section));
    let obs = Observer::connect(broker.port, "#").await;
    obs.wait_value("stromwart/luna/mode", "auto").await;
    obs.wait_value("stromwart/carport/availability", "offline")
        .await;
    obs.send("stromwart/carport/current_limit/set", "10").await;
    obs.send("stromwart/luna/mode/set", "hold").await;
    holds(&sim, 47077, &[0, 0], "hold: no discharging").await;
    obs.wait_value("stromwart/luna/mode", "hold").await;
    // The charger's entities only ever show the value in force, never the refused 10 A.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let limits: Vec<String> = obs
        .on("stromwart/carport/current_limit")
        .into_iter()
        .map(|r| r.payload)
        .collect();
    assert!(!limits.contains(&"10".to_string()), "{limits:?}");
    bridge.stop().await.unwrap();
}

/// The SMA and Kostal battery profiles, driven straight through the driver: each mode's writes
/// land in the registers the profile names, in the device's encoding, and read back.
#[tokio::test]
async fn sma_and_kostal_modes_write_their_registers() {
    use stromwart::drivers::Battery;
    use stromwart::drivers::modbus_battery::{ModbusBattery, StartValues};
    use stromwart::drivers::modbus_link::Link;
    use stromwart::modbus::Transport;
    use stromwart::modbus::profile;
    use stromwart::model::BatteryCommand;

    let sim = Sim::tcp().await;
    let battery = |name: &str, unit: u8| {
        let mut p = profile::built_in(name).unwrap();
        p.pause_s = 0.0;
        for b in &p.blocks {
            sim.fill(unit, b.fc as u8, b.start, b.count);
        }
        for c in &p.controls.writable {
            sim.fill(unit, 3, c.reg.address, c.reg.ty.words());
        }
        let link = Link::new(name, p, Transport::parse(&sim.url("tcp")).unwrap(), unit);
        let start = StartValues {
            charge_limit_w: 4000.0,
            discharge_limit_w: 3000.0,
            rewrite_interval: Duration::from_secs(30),
        };
        ModbusBattery::new(link, start)
    };

    let mut sma = battery("sma", 3);
    let s = sma.state().await.unwrap();
    assert_eq!((s.mode, s.online), ("auto", true));
    let u32_at =
        |unit, a| (sim.get(unit, a).unwrap() as u32) << 16 | sim.get(unit, a + 1).unwrap() as u32;
    assert_eq!(u32_at(3, 40236), 2424);
    let s = sma.apply(BatteryCommand::Mode("charge")).await.unwrap();
    assert_eq!(s.mode, "charge");
    assert_eq!(
        [40236, 40793, 40795, 40797, 40799].map(|a| u32_at(3, a)),
        [2289, 4000, 4000, 0, 0]
    );

    let mut kostal = battery("kostal-plenticore", 71);
    kostal.state().await.unwrap();
    // Float32, low word first: -4000 W charges.
    let f32_cdab = |a| {
        let (lo, hi) = (sim.get(71, a).unwrap(), sim.get(71, a + 1).unwrap());
        f32::from_bits((u32::from(hi) << 16) | u32::from(lo))
    };
    assert_eq!((f32_cdab(1038), f32_cdab(1040)), (4000.0, 3000.0));
    let s = kostal.apply(BatteryCommand::Mode("charge")).await.unwrap();
    assert_eq!(s.mode, "charge");
    assert_eq!(f32_cdab(1034), -4000.0);
    let s = kostal
        .apply(BatteryCommand::DischargeLimit(2500.0))
        .await
        .unwrap();
    assert_eq!((s.mode, s.discharge_limit), ("charge", 2500.0));
    assert_eq!(f32_cdab(1040), 2500.0);
}

/// The Heidelberg as it is really connected: Modbus RTU at 19200 baud, even parity, over an
/// RS-485 line (a pseudo-terminal here), with its start values and a command written in RTU
/// frames (function code 16) and read back.
#[tokio::test]
async fn a_heidelberg_on_an_rs485_line_takes_its_writes() {
    let broker = Mosquitto::start();
    let pty = common::pty::pty();
    let mut map = std::collections::HashMap::new();
    for a in 5..=18 {
        map.insert((4, a), 0u16);
    }
    map.insert((4, 5), 4); // B1: a car is connected
    for a in 257..=262 {
        map.insert((3, a), 0u16);
    }
    let regs = std::sync::Arc::new(std::sync::Mutex::new(map));
    common::rtu::serve(pty.master.try_clone().unwrap(), 3, regs.clone());
    let section = format!(
        "wallboxes:\n  - id: heidelberg\n    driver: modbus\n    profile: heidelberg\n    address: rtu://{}?baud=19200&parity=E\n    unit: 3\n    pause: 0.01\n    safe_current: 6\n    min_change_interval: 0\n    poll_interval: 0.5\n",
        pty.path
    );
    let bridge = Bridge::start(&bridge_yaml("heidelberg-rtu", broker.port, &section));
    let obs = Observer::connect(broker.port, "#").await;
    obs.wait_value("stromwart/heidelberg/status", "waiting")
        .await;
    obs.wait_value("stromwart/heidelberg/current_limit", "6")
        .await;
    let held = |a: u16| regs.lock().unwrap().get(&(3, a)).copied();
    assert_eq!(
        [257, 258, 261, 262].map(held),
        [Some(60_000), Some(4), Some(60), Some(60)],
        "watchdog 60 s, standby off, 6 A in force and as FailSafe"
    );
    obs.send("stromwart/heidelberg/current_limit/set", "13")
        .await;
    obs.wait_value("stromwart/heidelberg/current_limit", "13")
        .await;
    assert_eq!(held(261), Some(130));
    bridge.stop().await.unwrap();
}
