//! The PV surplus allocator through the whole bridge: a grid meter (an SDM630 on an in-process
//! Modbus TCP server) whose power follows a small house model, and Tasmota plugs on a real
//! mosquitto that switch when told and say so, as the real ones do.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::bridge::Bridge;
use common::broker::{Mosquitto, scratch_dir};
use common::goe::{Charger, go_e};
use common::modbus_sim::Sim;
use common::observer::Observer;
use rumqttc::QoS;

/// SDM630: total power, float32 on input register 52.
const POWER: u16 = 52;

/// The house: what it uses and makes, and which plug loads are on.
struct House {
    base_w: f64,
    pv_w: f64,
    /// Tasmota topic to (on, power when on).
    plugs: BTreeMap<String, (bool, f64)>,
    /// Stop updating the meter (it still answers with its last value).
    frozen: bool,
    charger: Option<Arc<Mutex<Charger>>>,
    /// A heating rod whose power is a holding register (W) of a Modbus device.
    rod: Option<(Sim, u16)>,
}

impl House {
    fn new(pv_w: f64, plugs: &[(&str, f64)]) -> Self {
        Self {
            base_w: 300.0,
            pv_w,
            plugs: plugs
                .iter()
                .map(|(t, w)| (t.to_string(), (false, *w)))
                .collect(),
            frozen: false,
            charger: None,
            rod: None,
        }
    }

    fn grid(&self) -> f64 {
        let on = self.plugs.values().filter(|(on, _)| *on);
        let loads: f64 = on.map(|(_, w)| w).sum();
        let car = self
            .charger
            .as_ref()
            .map_or(0.0, |c| c.lock().unwrap().power());
        let rod = self
            .rod
            .as_ref()
            .and_then(|(sim, at)| sim.get(1, *at))
            .map_or(0.0, f64::from);
        self.base_w + loads + car + rod - self.pv_w
    }
}

fn meter(sim: &Sim) {
    sim.fill(1, 4, 0, 76);
    sim.fill(1, 4, 342, 16);
    sim.fill(1, 3, 64512, 2);
}

/// Plays the plugs and the meter: a command to a plug switches it and is answered on its
/// result topic; every 100 ms the meter shows the house's grid power.
fn run_house(house: Arc<Mutex<House>>, devices: Observer, sim: Sim) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut handled = 0;
        loop {
            let seen = devices.all();
            for r in &seen[handled..] {
                let Some(topic) = r
                    .topic
                    .strip_prefix("cmnd/")
                    .and_then(|t| t.strip_suffix("/POWER"))
                else {
                    continue;
                };
                let on = match r.payload.as_str() {
                    "ON" => true,
                    "OFF" => false,
                    _ => house.lock().unwrap().plugs.get(topic).is_some_and(|p| p.0),
                };
                if let Some(p) = house.lock().unwrap().plugs.get_mut(topic) {
                    p.0 = on;
                }
                let state = if on { "ON" } else { "OFF" };
                let result = format!("{{\"POWER\":\"{state}\"}}");
                let _ = devices
                    .client
                    .publish(
                        format!("stat/{topic}/RESULT"),
                        QoS::AtLeastOnce,
                        false,
                        result,
                    )
                    .await;
            }
            handled = seen.len();
            let (frozen, grid) = {
                let h = house.lock().unwrap();
                (h.frozen, h.grid())
            };
            if !frozen {
                sim.set_f32(1, 4, POWER, grid as f32);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

/// Waits until the charger charges at `amps` (0: stopped), as its HTTP API was told.
async fn charged(charger: &Arc<Mutex<Charger>>, amps: u8) {
    for _ in 0..100 {
        {
            let c = charger.lock().unwrap();
            if (amps == 0 && c.frc == 1) || (c.frc != 1 && c.amp == amps) {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let c = charger.lock().unwrap();
    panic!(
        "the charger is at {} A, frc {}; sets: {:?}",
        c.amp, c.frc, c.sets
    );
}

fn plug(id: &str) -> String {
    format!("  - id: {id}\n    driver: tasmota\n    topic: {id}\n    min_switch_interval: 0\n")
}

#[tokio::test]
async fn plugs_follow_the_surplus_by_priority_and_a_hand_on_the_switch_wins() {
    let broker = Mosquitto::start();
    let sim = Sim::tcp().await;
    meter(&sim);
    let house = Arc::new(Mutex::new(House::new(
        0.0,
        &[("boiler", 2000.0), ("bike", 500.0)],
    )));
    let devices = Observer::connect(broker.port, "cmnd/#").await;
    let _house = run_house(house.clone(), devices, sim.clone());
    let data = scratch_dir("surplus");
    let yaml = format!(
        "data_dir: {}\nmqtt:\n  host: 127.0.0.1\n  port: {}\n\
         devices:\n  - id: grid\n    profile: sdm630\n    role: grid\n    address: {}\n    poll_interval: 0.2\n\
         plugs:\n{}{}\
         surplus:\n  stale_after: 5\n  start_average: 0\n\
         loads:\n  - plug: boiler\n    power: 2000\n    priority: 10\n    on_delay: 1\n    off_delay: 2\n    min_on: 3\n\
         \x20 - plug: bike\n    power: 500\n    priority: 5\n    on_delay: 1\n    off_delay: 2\n",
        data.display(),
        broker.port,
        sim.url("tcp"),
        plug("boiler"),
        plug("bike"),
    );
    let obs = Observer::connect(broker.port, "stromwart/#").await;
    let bridge = Bridge::start(&yaml);
    obs.wait_value("stromwart/boiler/load_reason", "off: 2300 W short")
        .await;
    obs.wait_value("stromwart/boiler/load_mode", "auto").await;

    // The sun comes out: 2.2 kW of export is enough for the boiler, not also for the bike.
    house.lock().unwrap().pv_w = 2500.0;
    obs.wait_value("stromwart/boiler/switch", "ON").await;
    obs.wait_for(5, "the bike waiting", |r| {
        r.topic == "stromwart/bike/load_reason" && r.payload == "off: 300 W short"
    })
    .await;
    // More sun: the bike follows.
    house.lock().unwrap().pv_w = 3400.0;
    obs.wait_value("stromwart/bike/switch", "ON").await;
    obs.wait_value("stromwart/site/surplus_allocated", "2500")
        .await;

    // A cloud: the bike goes first, the boiler keeps its power.
    obs.clear();
    house.lock().unwrap().pv_w = 2400.0;
    obs.wait_value("stromwart/bike/switch", "OFF").await;
    assert!(
        !obs.all()
            .iter()
            .any(|r| r.topic == "stromwart/boiler/switch" && r.payload == "OFF"),
        "the boiler has priority"
    );

    // Someone switches the boiler off from Home Assistant: it stays off in the sun.
    obs.send("stromwart/boiler/switch/set", "OFF").await;
    obs.wait_value("stromwart/boiler/switch", "OFF").await;
    obs.wait_value("stromwart/boiler/load_reason", "manual until 00:00")
        .await;
    house.lock().unwrap().pv_w = 5000.0;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!house.lock().unwrap().plugs["boiler"].0, "never fought");
    // The bike takes the surplus the boiler leaves.
    obs.wait_value("stromwart/bike/switch", "ON").await;

    // The meter stops answering: after 5 s the bike is in its safe state, off.
    obs.clear();
    house.lock().unwrap().frozen = true;
    sim.remove(1, 4, POWER);
    obs.wait_for(10, "the bike off", |r| {
        r.topic == "stromwart/bike/switch" && r.payload == "OFF"
    })
    .await;
    obs.wait_for(5, "the reason", |r| {
        r.topic == "stromwart/bike/load_reason" && r.payload.starts_with("off: no meter reading")
    })
    .await;

    // Priority and minimum times are settings too, shown and saved.
    obs.send("stromwart/bike/load_priority/set", "20").await;
    obs.wait_value("stromwart/bike/load_priority", "20").await;
    obs.send("stromwart/bike/load_min_on/set", "7").await;
    obs.wait_value("stromwart/bike/load_min_on", "7").await;

    // The mode select is a setting: "on" holds the bike on whatever the meter says.
    obs.send("stromwart/bike/load_mode/set", "on").await;
    obs.wait_value("stromwart/bike/load_mode", "on").await;
    obs.wait_value("stromwart/bike/switch", "ON").await;
    bridge.stop().await.unwrap();
    let saved = std::fs::read_to_string(data.join("settings.json")).unwrap();
    let saved: serde_json::Value = serde_json::from_str(&saved).unwrap();
    assert_eq!(
        saved["loads"]["bike"],
        serde_json::json!({"mode": "on", "priority": 20.0, "min_on": 7.0})
    );
}

#[tokio::test]
async fn a_wallbox_in_pv_mode_follows_the_surplus_with_its_delays() {
    let broker = Mosquitto::start();
    let sim = Sim::tcp().await;
    meter(&sim);
    let charger = Arc::new(Mutex::new(Charger {
        amp: 16,
        frc: 1,
        psm: 0,
        sets: Vec::new(),
    }));
    let port = go_e(charger.clone()).await;
    let mut model = House::new(0.0, &[]);
    model.charger = Some(charger.clone());
    let house = Arc::new(Mutex::new(model));
    let devices = Observer::connect(broker.port, "cmnd/#").await;
    let _house = run_house(house.clone(), devices, sim.clone());
    let yaml = format!(
        "data_dir: {}\nmqtt:\n  host: 127.0.0.1\n  port: {}\n\
         devices:\n  - id: grid\n    profile: sdm630\n    role: grid\n    address: {}\n    poll_interval: 0.2\n\
         wallboxes:\n  - id: garage\n    address: http://127.0.0.1:{port}\n    max_current: 16\n    poll_interval: 0.5\n    min_change_interval: 0\n\
         surplus:\n  start_average: 0\n\
         loads:\n  - wallbox: garage\n    mode: pv\n    on_delay: 2\n    off_delay: 3\n",
        scratch_dir("surplus-wallbox").display(),
        broker.port,
        sim.url("tcp"),
    );
    let obs = Observer::connect(broker.port, "stromwart/#").await;
    let bridge = Bridge::start(&yaml);
    obs.wait_value("stromwart/garage/charge_mode", "pv").await;
    obs.wait_for(10, "waiting for surplus", |r| {
        r.topic == "stromwart/garage/load_reason" && r.payload == "off: 4440 W short"
    })
    .await;

    // 7 A worth of export on three phases (4830 W): it starts after its 2 s, at 7 A.
    let started = std::time::Instant::now();
    house.lock().unwrap().pv_w = 300.0 + 4830.0;
    obs.wait_value(
        "stromwart/garage/load_reason",
        "charging at 7 A: 4830 W of surplus",
    )
    .await;
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "the enable delay"
    );
    charged(&charger, 7).await;

    // More sun: the current follows without a delay.
    house.lock().unwrap().pv_w = 300.0 + 6900.0;
    obs.wait_for(10, "10 A", |r| {
        r.topic == "stromwart/garage/load_reason" && r.payload.starts_with("charging at 10 A")
    })
    .await;
    charged(&charger, 10).await;

    // Less than 6 A: it holds 6 A for its 3 s, then stops.
    house.lock().unwrap().pv_w = 300.0 + 2000.0;
    obs.wait_for(10, "waiting to stop", |r| {
        r.topic == "stromwart/garage/load_reason" && r.payload.starts_with("waiting: ")
    })
    .await;
    obs.wait_for(10, "stopped", |r| {
        r.topic == "stromwart/garage/load_reason" && r.payload.starts_with("off: ")
    })
    .await;
    charged(&charger, 0).await;

    // "now" from Home Assistant: full current at once.
    obs.send("stromwart/garage/charge_mode/set", "now").await;
    obs.wait_value("stromwart/garage/charge_mode", "now").await;
    obs.wait_value(
        "stromwart/garage/load_reason",
        "charging at 16 A: charge mode now",
    )
    .await;
    charged(&charger, 16).await;
    bridge.stop().await.unwrap();
}

#[tokio::test]
async fn below_its_priority_soc_the_battery_charges_first() {
    use common::modbus_sim::huawei;
    let broker = Mosquitto::start();
    let (meter_sim, battery) = (Sim::tcp().await, Sim::tcp().await);
    meter(&meter_sim);
    huawei(&battery);
    battery.set(1, 3, 37760, &[400]); // 40 %
    battery.set(1, 3, 37765, &[0, 2500]); // charging at 2500 W
    // The battery takes 2.5 kW of the 2.8 kW PV; 300 W go to the house: the meter shows 0.
    let house = Arc::new(Mutex::new(House::new(
        2800.0 - 2500.0,
        &[("boiler", 2000.0)],
    )));
    let devices = Observer::connect(broker.port, "cmnd/#").await;
    let _house = run_house(house.clone(), devices, meter_sim.clone());
    let yaml = format!(
        "data_dir: {}\nmqtt:\n  host: 127.0.0.1\n  port: {}\n\
         devices:\n  - id: grid\n    profile: sdm630\n    role: grid\n    address: {}\n    poll_interval: 0.2\n\
         batteries:\n  - id: luna\n    profile: huawei-luna2000\n    address: {}\n    connect_delay: 0\n    poll_interval: 0.5\n\
         plugs:\n{}\
         surplus:\n  priority_soc: 50\n  start_average: 0\n\
         loads:\n  - plug: boiler\n    power: 2000\n    on_delay: 1\n",
        scratch_dir("surplus-battery").display(),
        broker.port,
        meter_sim.url("tcp"),
        battery.url("tcp"),
        plug("boiler"),
    );
    let obs = Observer::connect(broker.port, "stromwart/#").await;
    let bridge = Bridge::start(&yaml);
    obs.wait_value("stromwart/luna/battery_soc", "40").await;
    obs.wait_value("stromwart/boiler/load_reason", "off: 2000 W short")
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !house.lock().unwrap().plugs["boiler"].0,
        "the battery first"
    );
    // At 60 % its charging is offered: the boiler takes it.
    battery.set(1, 3, 37760, &[600]);
    obs.wait_value("stromwart/boiler/switch", "ON").await;
    bridge.stop().await.unwrap();
}

#[tokio::test]
async fn no_switch_inside_the_minimum_on_and_off_times() {
    let broker = Mosquitto::start();
    let sim = Sim::tcp().await;
    meter(&sim);
    let house = Arc::new(Mutex::new(House::new(0.0, &[("heater", 1000.0)])));
    let devices = Observer::connect(broker.port, "cmnd/#").await;
    let _house = run_house(house.clone(), devices, sim.clone());
    let yaml = format!(
        "data_dir: {}\nmqtt:\n  host: 127.0.0.1\n  port: {}\n\
         devices:\n  - id: grid\n    profile: sdm630\n    role: grid\n    address: {}\n    poll_interval: 0.2\n\
         plugs:\n{}\
         surplus:\n  start_average: 0\n\
         loads:\n  - plug: heater\n    power: 1000\n    on_delay: 0\n    off_delay: 0\n    min_on: 4\n    min_off: 4\n",
        scratch_dir("surplus-min-times").display(),
        broker.port,
        sim.url("tcp"),
        plug("heater"),
    );
    let obs = Observer::connect(broker.port, "stromwart/heater/switch").await;
    let bridge = Bridge::start(&yaml);
    let heater = || house.lock().unwrap().plugs["heater"].0;
    let until = |want: bool| async move {
        for _ in 0..200 {
            if heater() == want {
                return std::time::Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "the heater did not switch {}",
            if want { "on" } else { "off" }
        );
    };
    obs.wait_value("stromwart/heater/switch", "OFF").await;
    house.lock().unwrap().pv_w = 1500.0;
    let on = until(true).await;
    // The sun goes at once: the heater stays on for its minimum on time (4 s here).
    house.lock().unwrap().pv_w = 0.0;
    let off = until(false).await;
    assert!(
        off - on >= Duration::from_millis(3800),
        "on for {:?}",
        off - on
    );
    house.lock().unwrap().pv_w = 1500.0;
    let on_again = until(true).await;
    assert!(
        on_again - off >= Duration::from_millis(3800),
        "off for {:?}",
        on_again - off
    );
    bridge.stop().await.unwrap();
}

#[tokio::test]
async fn a_heating_rod_set_by_a_number_takes_the_steps_that_fit() {
    let broker = Mosquitto::start();
    let (meter_sim, rod) = (Sim::tcp().await, Sim::tcp().await);
    meter(&meter_sim);
    rod.set(1, 3, 0, &[0]);
    let mut model = House::new(300.0 + 2300.0, &[]);
    model.rod = Some((rod.clone(), 0));
    let house = Arc::new(Mutex::new(model));
    let devices = Observer::connect(broker.port, "cmnd/#").await;
    let _house = run_house(house.clone(), devices, meter_sim.clone());
    let profile = "      blocks:\n        - { fc: 3, start: 0, count: 1 }\n      points:\n        - { quantity: power, fc: 3, address: 0 }\n      controls:\n        power_limit: { address: 0, type: u16, min: 0, max: 3000 }\n";
    let yaml = format!(
        "data_dir: {}\nmqtt:\n  host: 127.0.0.1\n  port: {}\n\
         devices:\n  - id: grid\n    profile: sdm630\n    role: grid\n    address: {}\n    poll_interval: 0.2\n\
         \x20 - id: rod\n    address: {}\n    poll_interval: 0.5\n    registers:\n{profile}\
         surplus:\n  start_average: 0\n\
         loads:\n  - modbus: rod\n    steps: [1000, 1000, 1000]\n    on_delay: 0\n    off_delay: 0\n",
        scratch_dir("surplus-rod").display(),
        broker.port,
        meter_sim.url("tcp"),
        rod.url("tcp"),
    );
    let obs = Observer::connect(broker.port, "stromwart/#").await;
    let bridge = Bridge::start(&yaml);
    // 2.3 kW of export: two steps, written to the register.
    common::modbus_sim::holds(&rod, 0, &[2000], "two steps").await;
    obs.wait_value(
        "stromwart/rod/load_reason",
        "step 2 of 3: 2300 W of surplus",
    )
    .await;
    house.lock().unwrap().pv_w = 300.0 + 900.0;
    common::modbus_sim::holds(&rod, 0, &[0], "too little for a step").await;
    bridge.stop().await.unwrap();
}
