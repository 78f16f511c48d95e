//! `stromwart demo --day`: every controller acts on the simulated day, seen from outside as Home
//! Assistant would see it, through the demo's own broker. Three parts of the day, each started
//! where it happens (`--start`), at half a minute per hour.

mod common;

use std::process::{Command, Stdio};

use common::bridge::{Process, binary};
use common::broker::free_port;
use common::observer::{Observer, Received};

/// The demo's day from `start`, and an observer of everything Stromwart publishes.
async fn day_from(start: &str) -> (Process, Observer) {
    let port = free_port();
    let demo = Process(
        Command::new(binary())
            .args(["demo", "--day", "--hour", "30", "--start", start])
            .args(["--port", &port.to_string(), "--duration", "90"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let obs = Observer::connect(port, "stromwart/#").await;
    (demo, obs)
}

fn number(r: &Received) -> f64 {
    r.payload.parse().unwrap_or(f64::NAN)
}

#[tokio::test(flavor = "multi_thread")]
async fn in_the_cheap_night_the_battery_charges_from_the_grid() {
    let (_demo, obs) = day_from("04:00").await;
    obs.wait_for(30, "the Modul 3 low-fee window", |r| {
        r.topic == "stromwart/site/price_band" && r.payload == "nt"
    })
    .await;
    obs.wait_for(30, "grid charging", |r| {
        r.topic == "stromwart/site/grid_charging" && r.payload == "ON"
    })
    .await;
    obs.wait_for(30, "the battery in mode charge", |r| {
        r.topic == "stromwart/battery/mode" && r.payload == "charge"
    })
    .await;
    obs.wait_for(30, "its state of charge rising", |r| {
        r.topic == "stromwart/battery/battery_soc" && number(r) > 30.0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn at_midday_the_loads_start_by_priority_and_a_cloud_sheds_the_lowest_first() {
    let (_demo, obs) = day_from("13:30").await;
    let on = |topic: &'static str| move |r: &Received| r.topic == topic && r.payload == "ON";
    let ebike_on = obs
        .wait_for(40, "the e-bike charger on", on("stromwart/ebike/switch"))
        .await;
    let boiler_on = obs
        .wait_for(40, "the boiler on", on("stromwart/boiler/switch"))
        .await;
    obs.wait_for(40, "the car charging in pv mode", |r| {
        r.topic == "stromwart/car/current_limit" && number(r) >= 6.0
    })
    .await;
    let mode = obs.on("stromwart/car/charge_mode");
    assert_eq!(mode.last().map(|r| r.payload.as_str()), Some("pv"));
    let all = obs.all();
    let at = |x: &Received| all.iter().position(|r| r == x).unwrap();
    assert!(
        at(&ebike_on) < at(&boiler_on),
        "the e-bike charger starts first"
    );
    obs.clear();
    // The cloud at 14:00 leaves too little for the car and the boiler; the e-bike charger, of
    // the highest priority, goes last if at all.
    obs.wait_for(40, "the car stopped by the cloud", |r| {
        r.topic == "stromwart/car/current_limit" && r.payload == "0"
    })
    .await;
    let boiler_off = obs
        .wait_for(40, "the boiler off", |r| {
            r.topic == "stromwart/boiler/switch" && r.payload == "OFF"
        })
        .await;
    let all = obs.all();
    let at = |x: &Received| all.iter().position(|r| r == x).unwrap();
    let ebike_off = all
        .iter()
        .position(|r| r.topic == "stromwart/ebike/switch" && r.payload == "OFF");
    assert!(
        ebike_off.is_none_or(|e| e > at(&boiler_off)),
        "the e-bike charger goes last: {:?}",
        all.iter()
            .filter(|r| r.topic.ends_with("/switch") || r.topic.ends_with("current_limit"))
            .map(|r| format!("{} {}", r.topic, r.payload))
            .collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn in_the_evening_the_grid_operator_dims_the_car_and_the_battery() {
    let (_demo, obs) = day_from("18:20").await;
    // 18:30: the car is set to charge now, at its full 16 A.
    obs.wait_value("stromwart/car/charge_mode", "now").await;
    obs.wait_for(30, "the car at 16 A", |r| {
        r.topic == "stromwart/car/current_limit" && r.payload == "16"
    })
    .await;
    // The home battery holds meanwhile, so the car does not empty it.
    obs.wait_value("stromwart/battery/mode", "hold").await;
    // 19:00: the control box dims. 7.56 kW for the two: the car keeps 8 A (5.85 kW), the
    // battery charges at up to 1.71 kW.
    obs.wait_for(40, "the dimming", |r| {
        r.topic == "stromwart/site/p14a_dimmed" && r.payload == "ON"
    })
    .await;
    obs.wait_for(30, "the car at 8 A", |r| {
        r.topic == "stromwart/car/current_limit" && r.payload == "8"
    })
    .await;
    obs.wait_for(30, "the battery's charge limit lowered", |r| {
        r.topic == "stromwart/battery/charge_limit" && r.payload == "1710"
    })
    .await;
    obs.wait_for(10, "the high-fee window", |r| {
        r.topic == "stromwart/site/price_band" && r.payload == "ht"
    })
    .await;
}
