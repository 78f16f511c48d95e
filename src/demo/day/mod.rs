//! `stromwart demo --day`: a summer day in fast motion, a minute per hour unless told
//! otherwise. The bridge runs as it does at home, on a clock that runs faster: every delay,
//! minimum time and deadline of the controllers passes in simulated time. Around it a house
//! (`house`) drives simulated devices over their real protocols: a grid meter, an inverter, a
//! battery and a wallbox over Modbus TCP, two Tasmota plugs and a §14a control box over MQTT,
//! and a price service over HTTP.
//!
//! The story, from 04:00: the battery charges from the grid in the cheap night (Modul 3 NT);
//! the sun rises, the e-bike charger and the boiler start by priority and the car charges in pv
//! mode; a cloud after lunch sheds them in reverse order; at 18:30 the car is set to `now` and
//! the battery holds, so that the car does not empty it; at 19:00 the grid operator dims the
//! wallbox and the battery until 21:00.

mod devices;
mod house;
mod prices;

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::modbus::{self, Registers};
use super::view::{Field, Layout, Row, field};
use crate::config::Config;
use crate::sink::Clock;
use house::{Battery, Car};

/// How the day runs: the real time a simulated hour takes, and the local time it starts at.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub hour: Duration,
    pub start_minute: u32,
}
/// The plugs: Tasmota topic, what the device draws when on (W).
const PLUGS: [(&str, f64); 2] = [("demo_ebike", 300.0), ("demo_boiler", 2_000.0)];
/// The script: at these local hours the house does what a person or the grid operator would.
const SCRIPT: [(f64, &str, &str); 3] = [
    (18.5, "stromwart/car/charge_mode/set", "now"),
    (19.0, P14A_TOPIC, "on"),
    (21.0, P14A_TOPIC, "off"),
];
const P14A_TOPIC: &str = "demo/p14a";
/// Real time between two steps of the house.
const STEP: Duration = Duration::from_millis(100);

/// What the day needs besides the broker: the bridge's config and clock, the screen, and the
/// simulations to stop with the demo.
pub struct Day {
    pub config: Config,
    pub clock: Clock,
    pub layout: Layout,
    pub tasks: Vec<JoinHandle<()>>,
}

/// Starts the day's devices.
pub async fn start(host: IpAddr, port: u16, opts: Options) -> Result<Day, String> {
    let speed = (3_600_000.0 / opts.hour.as_millis().max(1) as f64)
        .round()
        .max(1.0) as u32;
    let midnight_ms = local_midnight_ms()?;
    let clock = Clock::fast(midnight_ms + i64::from(opts.start_minute) * 60_000, speed);
    let bind = || async {
        TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("cannot open a port: {e}"))
    };
    let (modbus_listener, price_listener) = (bind().await?, bind().await?);
    let port_of = |l: &TcpListener| l.local_addr().map(|a| a.port()).map_err(|e| e.to_string());
    let (modbus_port, price_port) = (port_of(&modbus_listener)?, port_of(&price_listener)?);
    let regs = Registers::default();
    devices::init(&mut regs.lock());
    let plugs: Plugs = Arc::default();
    let tasks = vec![
        tokio::spawn(modbus::serve(
            modbus_listener,
            regs.clone(),
            devices::writable,
        )),
        tokio::spawn(prices::serve(price_listener)),
        tokio::spawn(simulate(regs, plugs.clone(), clock, midnight_ms)),
        tokio::spawn(mqtt_side(host, port, plugs, clock, midnight_ms)),
    ];
    let config = config(host, port, modbus_port, price_port, speed)?;
    Ok(Day {
        config,
        clock,
        layout: layout(clock, midnight_ms),
        tasks,
    })
}

/// Today's local midnight in Germany, as Unix ms: the day's prices are today's.
fn local_midnight_ms() -> Result<i64, String> {
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(crate::control::prices::berlin())
        .date();
    today
        .to_zoned_datetime(crate::control::prices::berlin())
        .map(|z| z.timestamp().as_millisecond())
        .map_err(|e| format!("no local midnight today: {e}"))
}

fn hour_of(clock: &Clock, midnight_ms: i64) -> f64 {
    (clock.now().unix_ms - midnight_ms) as f64 / 3_600_000.0
}

/// Which plugs are on, as the MQTT side heard it from the bridge.
type Plugs = Arc<Mutex<[bool; 2]>>;

/// The house, a step at a time: what the devices were told comes from their registers and
/// the plugs, what they do goes back into the registers.
async fn simulate(regs: Registers, plugs: Plugs, clock: Clock, midnight_ms: i64) {
    // Nearly empty before dawn; later in the day, as a sunny morning leaves it.
    let soc = if hour_of(&clock, midnight_ms) < 6.0 {
        25.0
    } else {
        70.0
    };
    let mut battery = Battery::new(10_000.0, soc);
    let mut car = Car {
        wanted_wh: 40_000.0,
        power_w: 0.0,
        charged_wh: 0.0,
    };
    let (mut import_wh, mut export_wh, mut pv_wh) = (7_341_200.0, 2_209_800.0, 8_123_400.0);
    let mut last = clock.now().mono_ms;
    loop {
        tokio::time::sleep(STEP).await;
        let now = clock.now().mono_ms;
        let dt_s = (now - last) as f64 / 1000.0;
        last = now;
        let hour = hour_of(&clock, midnight_ms).rem_euclid(24.0);
        let on = *plugs.lock().unwrap_or_else(|p| p.into_inner());
        let plug_w: f64 = PLUGS
            .iter()
            .zip(on)
            .filter(|(_, on)| *on)
            .map(|((_, w), _)| w)
            .sum();
        let pv = house::pv_w(hour);
        let mut r = regs.lock();
        car.step(devices::wallbox_current(&r), dt_s);
        let excess = pv - house::household_w(hour) - plug_w - car.power_w;
        battery.step(devices::battery_mode(&r), excess, dt_s);
        let grid = battery.power_w - excess;
        let wh = grid * dt_s / 3600.0;
        if wh > 0.0 {
            import_wh += wh;
        } else {
            export_wh -= wh;
        }
        pv_wh += pv * dt_s / 3600.0;
        devices::grid_meter(&mut r, grid, import_wh, export_wh);
        super::inverter::pv(&mut r, devices::PV, pv, pv_wh as u64, false);
        devices::wallbox(&mut r, &car);
        devices::battery(&mut r, &battery);
    }
}

/// The house's MQTT side: two Tasmota plugs that do what `cmnd/<topic>/POWER` says and report
/// their power, and the script (the car's mode, the control box's contact).
async fn mqtt_side(host: IpAddr, port: u16, plugs: Plugs, clock: Clock, midnight_ms: i64) {
    let mut opts = MqttOptions::new("stromwart-demo-house", host.to_string(), port);
    opts.set_keep_alive(Duration::from_secs(30));
    let (client, mut el) = AsyncClient::new(opts, 64);
    let mut report = tokio::time::interval(Duration::from_secs(1));
    // The script starts once the bridge listens, with what happened before the start of the
    // day shown (a day started at 20:00 has the car in `now` and the dimming on).
    let mut next = 0;
    let mut bridge_online = false;
    loop {
        tokio::select! {
            ev = el.poll() => match ev {
                Ok(Event::Incoming(Packet::ConnAck(_))) => connected(&client, &plugs),
                Ok(Event::Incoming(Packet::Publish(p))) if p.topic == "stromwart/status" => {
                    bridge_online = &p.payload[..] == b"online";
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    switch(&client, &plugs, &p.topic, &String::from_utf8_lossy(&p.payload));
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            },
            _ = report.tick() => {
                sensors(&client, &plugs);
                let hour = hour_of(&clock, midnight_ms);
                while let Some((_, topic, payload)) = SCRIPT
                    .get(next)
                    .filter(|(at, _, _)| bridge_online && *at <= hour)
                {
                    let retain = *topic == P14A_TOPIC;
                    let _ = client.try_publish(*topic, QoS::AtLeastOnce, retain, *payload);
                    next += 1;
                }
            }
        }
    }
}

fn on_off(on: bool) -> &'static str {
    if on { "ON" } else { "OFF" }
}

/// As Tasmota does when it connects: its relays' states. The control box's contact is open
/// at the start of the day.
fn connected(client: &AsyncClient, plugs: &Plugs) {
    let on = *plugs.lock().unwrap_or_else(|p| p.into_inner());
    let _ = client.try_subscribe("stromwart/status", QoS::AtLeastOnce);
    for ((topic, _), on) in PLUGS.iter().zip(on) {
        let _ = client.try_subscribe(format!("cmnd/{topic}/POWER"), QoS::AtLeastOnce);
        let stat = format!("stat/{topic}/POWER");
        let _ = client.try_publish(stat, QoS::AtLeastOnce, false, on_off(on));
    }
    let _ = client.try_publish(P14A_TOPIC, QoS::AtLeastOnce, true, "off");
}

/// A plug told to switch does, and says so.
fn switch(client: &AsyncClient, plugs: &Plugs, topic: &str, payload: &str) {
    let Some(i) = PLUGS
        .iter()
        .position(|(t, _)| topic == format!("cmnd/{t}/POWER"))
    else {
        return;
    };
    let mut on = plugs.lock().unwrap_or_else(|p| p.into_inner());
    on[i] = match payload.trim() {
        "ON" | "1" => true,
        "OFF" | "0" => false,
        "TOGGLE" => !on[i],
        _ => on[i],
    };
    let stat = format!("stat/{}/POWER", PLUGS[i].0);
    let _ = client.try_publish(stat, QoS::AtLeastOnce, false, on_off(on[i]));
}

/// What each plug measures, as Tasmota's telemetry.
fn sensors(client: &AsyncClient, plugs: &Plugs) {
    let on = *plugs.lock().unwrap_or_else(|p| p.into_inner());
    for ((topic, watts), on) in PLUGS.iter().zip(on) {
        let power = if on { *watts } else { 0.0 };
        let sensor = serde_json::json!({"ENERGY": {"Power": power}}).to_string();
        let tele = format!("tele/{topic}/SENSOR");
        let _ = client.try_publish(tele, QoS::AtMostOnce, false, sensor);
    }
}

/// The bridge's config for the day. Every time in it is simulated time; the ones that guard
/// against silence (a stale meter) are stretched so that the real seconds between two polls
/// never look like an outage, however fast the day runs. The devices are polled often and
/// without the pauses an RS-485 line needs, so that a command's read-back arrives within the
/// allocator's grace time (15 s of the day) and is not taken for a change by hand.
fn config(
    host: IpAddr,
    port: u16,
    modbus_port: u16,
    price_port: u16,
    speed: u32,
) -> Result<Config, String> {
    let dir = std::env::temp_dir().join(format!("stromwart-day-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let address = format!("tcp://127.0.0.1:{modbus_port}");
    let stale_after = (u64::from(speed) * 10).clamp(60, 3600);
    let windows = "NT 00:00-06:00, HT 17:00-21:00";
    let yaml = format!(
        r"mqtt: {{ host: '{host}', port: {port} }}
data_dir: '{dir}'
devices:
  - {{ id: grid, name: Grid meter, role: grid, profile: sdm630, address: '{address}', unit: {grid}, poll_interval: 0.1, min_interval: 0, expire_after: {stale_after} }}
  - {{ id: pv, name: PV inverter, role: pv, profile: sunspec, address: '{address}', unit: {pv}, poll_interval: 0.5, min_interval: 0, expire_after: {stale_after} }}
batteries:
  - {{ id: battery, name: Home battery, profile: huawei-luna2000, address: '{address}', unit: {battery}, connect_delay: 0, pause: 0, poll_interval: 0.5, min_change_interval: 0, expire_after: {stale_after} }}
wallboxes:
  - {{ id: car, name: Wallbox, driver: modbus, profile: heidelberg, address: '{address}', unit: {wallbox}, poll_interval: 0.5, pause: 0 }}
plugs:
  - {{ id: ebike, name: E-bike charger, driver: tasmota, topic: {ebike} }}
  - {{ id: boiler, name: Boiler, driver: tasmota, topic: {boiler} }}
surplus: {{ stale_after: {stale_after}, start_average: 60, hold_battery: true }}
loads:
  - {{ plug: ebike, power: 300, priority: 3 }}
  - {{ plug: boiler, power: 2000, priority: 2, min_on: 15m }}
  - {{ wallbox: car, priority: 1, mode: pv }}
p14a:
  signals:
    - {{ name: control box, mqtt: {P14A_TOPIC}, debounce: 0 }}
  devices:
    - {{ kind: wallbox, rated_power: 11, wallbox: car }}
    - {{ kind: battery, rated_power: 5, battery: battery }}
prices:
  source: energy-charts
  url: http://127.0.0.1:{price_port}
  surcharge: 1.5
  levies: 3
  modul3: {{ nt: 2, st: 8, ht: 12, q1: '{windows}', q2: '{windows}', q3: '{windows}', q4: '{windows}' }}
  grid_charge: {{ battery: battery, below: 16, target: 80 }}
",
        dir = dir.display(),
        grid = devices::GRID,
        pv = devices::PV,
        battery = devices::BATTERY,
        wallbox = devices::WALLBOX,
        ebike = PLUGS[0].0,
        boiler = PLUGS[1].0,
    );
    Config::from_yaml(&yaml).map_err(|e| format!("demo day config: {e:?}"))
}

/// The day's screen.
pub(crate) fn layout(clock: Clock, midnight_ms: i64) -> Layout {
    let heard = |device: &str, verb| Some((format!("stromwart/{device}"), verb));
    let row = |label, fields: Vec<Field>| Row {
        label,
        fields,
        heard: None,
    };
    Layout {
        flow: vec![
            vec![
                field("grid", "grid/power"),
                field("PV", "pv/power"),
                field("house", "site/house_power"),
                field("surplus", "site/surplus_power"),
            ],
            vec![
                field("price", "site/price_now"),
                field("Modul 3", "site/price_band"),
                field("§14a", "site/p14a_dimmed"),
                field("grid charge", "site/grid_charging"),
            ],
        ],
        devices: vec![
            Row {
                label: "Grid meter",
                fields: vec![field("", "grid/power"), field("", "grid/energy_import")],
                heard: heard("grid", "last read"),
            },
            row(
                "PV inverter",
                vec![field("", "pv/power"), field("", "pv/energy_production")],
            ),
            row(
                "Home battery",
                vec![
                    field("mode", "battery/mode"),
                    field("", "battery/battery_soc"),
                    field("limit", "battery/charge_limit"),
                ],
            ),
            row(
                "E-bike (prio 3)",
                vec![field("", "ebike/switch"), field("", "ebike/power")],
            ),
            row(
                "Boiler (prio 2)",
                vec![field("", "boiler/switch"), field("", "boiler/power")],
            ),
            row(
                "Car (prio 1)",
                vec![
                    field("mode", "car/charge_mode"),
                    field("", "car/current_limit"),
                    field("", "car/power"),
                ],
            ),
        ],
        events_also: vec!["stromwart/car/current_limit".into()],
        hint: "-t stromwart/car/charge_mode/set -m now".into(),
        day: Some((clock, midnight_ms)),
    }
}
