//! Decisions that use the prices, through the whole bridge: a load's daily runtime goes to
//! the cheapest quarter hours before its deadline, and a wallbox's charge plan charges the car
//! at full power in the cheapest slots. The prices come from a loopback Energy-Charts whose
//! slots are priced relative to the quarter hour the test runs in; the grid meter is an
//! SDM630 on an in-process Modbus TCP server that shows no surplus, so nothing runs on sun.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::bridge::Bridge;
use common::broker::{Mosquitto, scratch_dir};
use common::goe::{Charger, go_e};
use common::http::{Response, serve};
use common::modbus_sim::Sim;
use common::observer::Observer;

fn berlin() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get("Europe/Berlin").unwrap()
}

fn unix_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Waits, if need be, so that the test has the rest of a quarter hour (at least `secs`) and
/// the next quarter hour before local midnight, when runtimes start again. Returns the start
/// of the quarter hour the test runs in.
async fn quarter_with_room(secs: i64) -> i64 {
    loop {
        let now = unix_s();
        let local = jiff::Timestamp::from_second(now)
            .unwrap()
            .to_zoned_datetime(berlin());
        let before_midnight = local.hour() < 23 || local.minute() < 30;
        if now % 900 < 900 - secs && before_midnight {
            return now - now % 900;
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

/// Energy-Charts with every quarter hour of the asked days at 300 EUR/MWh, but those given
/// (counted from `quarter`) at their own price.
fn energy_charts(quarter: i64, cheap: &'static [(i64, f64)]) -> impl Fn(&str) -> Response {
    move |head: &str| {
        let date = |key: &str| {
            head.split(['?', '&', ' '])
                .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
                .and_then(|d| d.parse::<jiff::civil::Date>().ok())
        };
        let (Some(from), Some(to)) = (date("start"), date("end")) else {
            return Response::json("400 Bad Request", "{}");
        };
        let midnight = |d: jiff::civil::Date| {
            d.to_zoned_datetime(berlin())
                .unwrap()
                .timestamp()
                .as_second()
        };
        let starts: Vec<i64> = (midnight(from)..midnight(to.tomorrow().unwrap()))
            .step_by(900)
            .collect();
        let prices: Vec<f64> = starts
            .iter()
            .map(|s| {
                cheap
                    .iter()
                    .find(|(k, _)| quarter + k * 900 == *s)
                    .map_or(300.0, |(_, p)| *p)
            })
            .collect();
        let body = serde_json::json!({
            "license_info": "CC BY 4.0", "unix_seconds": starts, "price": prices, "unit": "EUR / MWh"
        });
        Response::json("200 OK", &body.to_string())
    }
}

/// An SDM630 on the grid connection of a house without sun: 300 W, plus the plugs last
/// switched on (by `cmnd/<id>/POWER`) and the car.
async fn grid_meter(
    broker_port: u16,
    plugs: &'static [(&'static str, f64)],
    car: Option<Arc<Mutex<Charger>>>,
) -> (Sim, tokio::task::JoinHandle<()>) {
    let sim = Sim::tcp().await;
    sim.fill(1, 4, 0, 76);
    sim.fill(1, 4, 342, 16);
    sim.fill(1, 3, 64512, 2);
    let commands = Observer::connect(broker_port, "cmnd/#").await;
    let meter = sim.clone();
    let task = tokio::spawn(async move {
        loop {
            let seen = commands.all();
            let on = |id: &str| {
                let topic = format!("cmnd/{id}/POWER");
                seen.iter()
                    .rev()
                    .find(|r| r.topic == topic)
                    .is_some_and(|r| r.payload == "ON")
            };
            let plugs: f64 = plugs.iter().filter(|(id, _)| on(id)).map(|(_, w)| w).sum();
            let car = car.as_ref().map_or(0.0, |c| c.lock().unwrap().power());
            meter.set_f32(1, 4, 52, (300.0 + plugs + car) as f32);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    (sim, task)
}

#[tokio::test]
async fn a_loads_runtime_goes_to_the_cheapest_quarter_hours_before_its_deadline() {
    let quarter = quarter_with_room(60).await;
    let broker = Mosquitto::start();
    let (meter, _house) =
        grid_meter(broker.port, &[("boiler", 2000.0), ("dryer", 1000.0)], None).await;
    // This quarter hour at 100 EUR/MWh, the next at 50, the rest of the day at 300.
    let (port, _server) = serve(energy_charts(quarter, &[(0, 100.0), (1, 50.0)])).await;
    let plug = |id: &str| {
        format!("  - id: {id}\n    driver: tasmota\n    topic: {id}\n    min_switch_interval: 0\n")
    };
    let yaml = format!(
        "data_dir: {}\nmqtt:\n  host: 127.0.0.1\n  port: {}\n\
         devices:\n  - id: grid\n    profile: sdm630\n    role: grid\n    address: {}\n    poll_interval: 0.5\n\
         plugs:\n{}{}\
         prices:\n  source: energy-charts\n  url: http://127.0.0.1:{port}\n\
         loads:\n  - plug: boiler\n    power: 2000\n    runtime: 30m\n    deadline: \"24:00\"\n\
         \x20 - plug: dryer\n    power: 1000\n    runtime: 15m\n    deadline: \"24:00\"\n",
        scratch_dir("plans-runtime").display(),
        broker.port,
        meter.url("tcp"),
        plug("boiler"),
        plug("dryer"),
    );
    let devices = Observer::connect(broker.port, "cmnd/#").await;
    let obs = Observer::connect(broker.port, "stromwart/#").await;
    let bridge = Bridge::start(&yaml);
    // The boiler's half hour takes this quarter and the next, the two cheapest of the day.
    obs.wait_for(10, "the boiler in the cheapest slots", |r| {
        r.topic == "stromwart/boiler/load_reason"
            && r.payload.starts_with("on: ")
            && r.payload
                .ends_with("of 30 min left before 24:00, in the cheapest slots")
    })
    .await;
    devices.wait_value("cmnd/boiler/POWER", "ON").await;
    // The dryer's quarter hour is the next one, cheaper than this.
    obs.wait_for(10, "the dryer waiting", |r| {
        r.topic == "stromwart/dryer/load_reason" && r.payload.starts_with("off: ")
    })
    .await;
    assert!(
        !devices
            .all()
            .iter()
            .any(|r| r.topic == "cmnd/dryer/POWER" && r.payload == "ON"),
        "the dryer waits for the cheaper quarter hour"
    );

    // The deadline is a setting too; one the runtime does not fit before is refused.
    obs.wait_value("stromwart/boiler/load_deadline", "24:00")
        .await;
    obs.clear();
    obs.send("stromwart/boiler/load_deadline/set", "00:10")
        .await;
    obs.wait_value("stromwart/boiler/load_deadline", "24:00")
        .await;
    obs.send("stromwart/boiler/load_deadline/set", "23:45")
        .await;
    obs.wait_value("stromwart/boiler/load_deadline", "23:45")
        .await;
    bridge.stop().await.unwrap();
}

/// Local `HH:MM`, `hours` from now.
fn clock_in(hours: i64) -> String {
    let at = jiff::Timestamp::from_second(unix_s() + hours * 3600)
        .unwrap()
        .to_zoned_datetime(berlin());
    format!("{:02}:{:02}", at.hour(), at.minute())
}

#[tokio::test]
async fn a_charge_plan_charges_the_car_at_full_power_in_the_cheapest_slots() {
    let quarter = quarter_with_room(60).await;
    let broker = Mosquitto::start();
    let charger = Arc::new(Mutex::new(Charger {
        amp: 6,
        frc: 1,
        psm: 0,
        sets: Vec::new(),
    }));
    let (meter, _house) = grid_meter(broker.port, &[], Some(charger.clone())).await;
    let goe = go_e(charger.clone()).await;
    // This quarter hour is the cheapest before the deadline.
    let (port, _server) = serve(energy_charts(quarter, &[(0, 50.0)])).await;
    let data = scratch_dir("plans-car");
    let yaml = format!(
        "data_dir: {}\nmqtt:\n  host: 127.0.0.1\n  port: {}\n\
         devices:\n  - id: grid\n    profile: sdm630\n    role: grid\n    address: {}\n    poll_interval: 0.5\n\
         wallboxes:\n  - id: garage\n    address: http://127.0.0.1:{goe}\n    max_current: 16\n    poll_interval: 0.5\n    min_change_interval: 0\n\
         prices:\n  source: energy-charts\n  url: http://127.0.0.1:{port}\n\
         loads:\n  - wallbox: garage\n    mode: pv\n",
        data.display(),
        broker.port,
        meter.url("tcp"),
    );
    let obs = Observer::connect(broker.port, "stromwart/#").await;
    let bridge = Bridge::start(&yaml);
    obs.wait_value("stromwart/garage/charge_plan_energy", "0")
        .await;
    obs.wait_value("stromwart/garage/charge_plan_time", "07:00")
        .await;
    obs.wait_for(10, "no sun, no plan", |r| {
        r.topic == "stromwart/garage/load_reason" && r.payload.starts_with("off: ")
    })
    .await;

    // A time that is not one is refused: the setting in force is confirmed.
    obs.clear();
    obs.send("stromwart/garage/charge_plan_time/set", "25:99")
        .await;
    obs.wait_value("stromwart/garage/charge_plan_time", "07:00")
        .await;

    let by = clock_in(3);
    obs.send("stromwart/garage/charge_plan_time/set", &by).await;
    obs.wait_value("stromwart/garage/charge_plan_time", &by)
        .await;
    obs.send("stromwart/garage/charge_plan_energy/set", "2")
        .await;
    obs.wait_value("stromwart/garage/charge_plan_energy", "2")
        .await;
    obs.wait_value(
        "stromwart/garage/load_reason",
        &format!("charging at 16 A: plan: 2.0 kWh left before {by}, in the cheapest slots"),
    )
    .await;
    charging_at(&charger, 16).await;

    // Saved: after a restart the plan is still in force.
    bridge.stop().await.unwrap();
    obs.clear();
    let bridge = Bridge::start(&yaml);
    obs.wait_value("stromwart/garage/charge_plan_energy", "2")
        .await;
    obs.wait_for(10, "the plan after the restart", |r| {
        r.topic == "stromwart/garage/load_reason" && r.payload.contains("plan: ")
    })
    .await;

    // No plan: the car is back in pv mode, with its delays.
    obs.clear();
    obs.send("stromwart/garage/charge_plan_energy/set", "0")
        .await;
    obs.wait_for(10, "back to pv", |r| {
        r.topic == "stromwart/garage/load_reason" && !r.payload.contains("plan")
    })
    .await;
    bridge.stop().await.unwrap();
}

/// Waits until the go-e charges at `amps` (0: stopped).
async fn charging_at(charger: &Arc<Mutex<Charger>>, amps: u8) {
    for _ in 0..100 {
        {
            let c = charger.lock().unwrap();
            let now = if c.frc == 1 { 0 } else { c.amp };
            if now == amps {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the charger never charged at {amps} A");
}
