//! `stromwart demo`: the whole bridge on a machine with nothing installed.
//!
//! An embedded MQTT broker on loopback, two real meter captures replayed as live meters, the
//! bridge publishing discovery and states to that broker, and a terminal view that reads them
//! back like Home Assistant would. Any MQTT client (or Home Assistant) can connect meanwhile.

mod broker;
mod inverter;
mod view;

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use tokio::net::TcpListener;

pub use broker::Broker;

use crate::config::Config;

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
    pub duration: Option<Duration>,
}

pub async fn run(opts: Options, ctrl_c: impl Future<Output = ()>) -> Result<(), String> {
    let listener = match TcpListener::bind(("127.0.0.1", opts.port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "Port {} is taken ({e}); using a free port instead.",
                opts.port
            );
            TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| format!("cannot open a port: {e}"))?
        }
    };
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let broker = tokio::spawn(Broker::default().serve(listener));
    let modbus = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot open a port: {e}"))?;
    let modbus_port = modbus.local_addr().map_err(|e| e.to_string())?.port();
    let inverter = tokio::spawn(inverter::serve(modbus));
    let config = demo_config(port, modbus_port)?;
    let view = tokio::spawn(view::run(port));
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
    let result = crate::app::run(config, stop, None).await;
    view.abort();
    broker.abort();
    inverter.abort();
    result
}

fn demo_config(port: u16, modbus_port: u16) -> Result<Config, String> {
    let dir = std::env::temp_dir().join(format!("stromwart-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut yaml = format!(
        "mqtt:\n  host: 127.0.0.1\n  port: {port}\ndata_dir: {}\nmeters:\n",
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
