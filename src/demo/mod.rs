//! `stromwart demo`: the whole bridge on a machine with nothing installed.
//!
//! An embedded MQTT broker on loopback, two real meter captures replayed as live meters, the
//! bridge publishing discovery and states to that broker, and a terminal view that reads them
//! back like Home Assistant would. Any MQTT client (or Home Assistant) can connect meanwhile.

mod broker;
pub(crate) mod day;
mod inverter;
mod modbus;
mod view;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;

use crate::config::Config;
use crate::sink::Clock;
pub use day::Options as DayOptions;

/// Real captures from the test fixtures: a two-way meter on a house with PV, and a meter with
/// per-phase power. A simulated inverter adds the PV side.
const CAPTURES: [(&str, &str, &str, &str); 2] = [
    (
        "grid",
        "Grid meter",
        "grid",
        include_str!("../../tests/fixtures/sml/dzg-dwsb20-1.hex"),
    ),
    (
        "heatpump",
        "Heat pump meter",
        "consumer",
        include_str!("../../tests/fixtures/sml/emh-mme40-1.hex"),
    ),
];

#[derive(Debug, Clone)]
pub struct Options {
    /// Broker port; when taken, a free one is used instead.
    pub port: u16,
    /// Where the broker listens: loopback, or every interface for a Home Assistant elsewhere.
    pub listen: IpAddr,
    /// Every entity rather than the one-screen summary.
    pub full: bool,
    pub duration: Option<Duration>,
    /// A simulated day instead of the captures.
    pub day: Option<DayOptions>,
}

pub async fn run(opts: Options, ctrl_c: impl Future<Output = ()>) -> Result<(), String> {
    let port = broker_port(opts.listen, opts.port)?;
    broker::start(SocketAddr::new(opts.listen, port))?;
    // The bridge and the view are on this machine: loopback, unless the broker listens on one
    // address only.
    let host = if opts.listen.is_unspecified() {
        IpAddr::from([127, 0, 0, 1])
    } else {
        opts.listen
    };
    wait_for_broker(host, port).await?;
    let (config, clock, layout, tasks) = match opts.day {
        Some(day) => {
            let day = day::start(host, port, day).await?;
            (day.config, day.clock, day.layout, day.tasks)
        }
        None => {
            let modbus = TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| format!("cannot open a port: {e}"))?;
            let modbus_port = modbus.local_addr().map_err(|e| e.to_string())?.port();
            let inverter = tokio::spawn(inverter::serve(modbus));
            let config = demo_config(host, port, modbus_port)?;
            (config, Clock::start(), layout(), vec![inverter])
        }
    };
    let view = tokio::spawn(view::run(host, port, opts.full, layout));
    let duration = opts.duration;
    let stop = async move {
        match duration {
            Some(d) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = tokio::time::sleep(d) => {}
                }
            }
            None => ctrl_c.await,
        }
    };
    let result = crate::app::run_with_clock(config, clock, stop, None).await;
    view.abort();
    for task in tasks {
        task.abort();
    }
    result
}

/// The summary screen of the demo with captures.
pub(crate) fn layout() -> view::Layout {
    use view::{Row, field};
    let heard = |device: &str, verb| Some((format!("stromwart/{device}"), verb));
    view::Layout {
        flow: vec![vec![
            field("grid", "grid/power"),
            field("PV", "pv/power"),
            field("house", "site/house_power"),
            field("surplus", "site/surplus_power"),
        ]],
        devices: vec![
            Row {
                label: "Grid meter",
                fields: vec![field("", "grid/power"), field("", "grid/energy_import")],
                heard: heard("grid", "last telegram"),
            },
            Row {
                label: "Heat pump meter",
                fields: vec![
                    field("", "heatpump/power"),
                    field("", "heatpump/energy_import"),
                ],
                heard: heard("heatpump", "last telegram"),
            },
            Row {
                label: "PV inverter",
                fields: vec![field("", "pv/power"), field("", "pv/energy_production")],
                heard: heard("pv", "last read"),
            },
            Row {
                label: "Home battery",
                fields: vec![
                    field("mode", "battery/mode"),
                    field("", "battery/battery_soc"),
                    field("limit", "battery/charge_limit"),
                ],
                heard: None,
            },
        ],
        events_also: Vec::new(),
        hint: "-t stromwart/battery/mode/set -m charge".into(),
        day: None,
    }
}

/// The port asked for, or a free one when it is taken (or 0).
fn broker_port(listen: IpAddr, port: u16) -> Result<u16, String> {
    let free = || {
        std::net::TcpListener::bind((listen, 0))
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| format!("cannot open a port on {listen}: {e}"))
    };
    if port == 0 {
        return free();
    }
    match std::net::TcpListener::bind((listen, port)) {
        Ok(_) => Ok(port),
        Err(e) => {
            eprintln!("Port {port} is taken ({e}); using a free port instead.");
            free()
        }
    }
}

/// The broker binds in its own thread; the bridge and the view connect once it accepts.
async fn wait_for_broker(host: IpAddr, port: u16) -> Result<(), String> {
    let until = Instant::now() + Duration::from_secs(5);
    while tokio::net::TcpStream::connect((host, port)).await.is_err() {
        if Instant::now() > until {
            return Err(format!("the embedded broker did not start on port {port}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

fn demo_config(host: IpAddr, port: u16, modbus_port: u16) -> Result<Config, String> {
    let dir = std::env::temp_dir().join(format!("stromwart-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut yaml = format!(
        "mqtt:\n  host: {host}\n  port: {port}\ndata_dir: {}\nmeters:\n",
        dir.display()
    );
    for (id, name, role, hex) in CAPTURES {
        let path: PathBuf = dir.join(format!("{id}.sml"));
        let bytes = whole_frames(&crate::sml::decode::parse_hex(hex)?);
        std::fs::write(&path, bytes)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        yaml.push_str(&format!(
            "  - id: {id}\n    name: {name}\n    role: {role}\n    file: {}\n    repeat: true\n    replay_interval: 1\n    min_interval: 0\n",
            path.display()
        ));
    }
    // A simulated SunSpec hybrid inverter over Modbus TCP, so the site view has PV to show,
    // and its battery to steer: try `stromwart/battery/mode/set` with `charge`.
    yaml.push_str(&format!(
        "devices:\n  - id: pv\n    name: PV inverter\n    role: pv\n    profile: sunspec\n    address: tcp://127.0.0.1:{modbus_port}\n    poll_interval: 1\n    min_interval: 0\n\
batteries:\n  - id: battery\n    name: Home battery\n    profile: sunspec\n    address: tcp://127.0.0.1:{modbus_port}\n    poll_interval: 1\n    min_change_interval: 0\n"
    ));
    Config::from_yaml(&yaml).map_err(|e| format!("demo config: {e:?}"))
}

/// The captures are serial dumps that start and end inside a frame; a looping demo shows whole
/// frames only, so it does not report the same cut-off bytes as errors every round.
fn whole_frames(bytes: &[u8]) -> Vec<u8> {
    const START: [u8; 8] = [0x1b, 0x1b, 0x1b, 0x1b, 0x01, 0x01, 0x01, 0x01];
    const END: [u8; 5] = [0x1b, 0x1b, 0x1b, 0x1b, 0x1a];
    let first = bytes.windows(8).position(|w| w == START).unwrap_or(0);
    let last = bytes
        .windows(5)
        .rposition(|w| w == END)
        .map_or(bytes.len(), |p| (p + 8).min(bytes.len()));
    bytes[first..last.max(first)].to_vec()
}
