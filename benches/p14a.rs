//! §14a signal edge to the last device write: the control box's contact published on its topic,
//! through a real mosquitto and the release bridge, until the Modbus wallbox and battery (an
//! in-process Modbus TCP server) have received their limits; and the same for the end of the
//! dimming, until both have their earlier setpoints back. Skipped without mosquitto.
//!
//!     cargo bench --bench p14a                          (the profiles' own request gaps)
//!     STROMWART_BENCH_PAUSE=0 cargo bench --bench p14a  (none: Stromwart's own share)
//!
//! STROMWART_BENCH_EDGES sets the number of dimming periods (default 50).

#[path = "../tests/common/modbus_sim.rs"]
#[allow(dead_code)]
mod modbus_sim;
#[path = "support.rs"]
mod support;

use std::time::{Duration, Instant};

use modbus_sim::Sim;
use rumqttc::{AsyncClient, MqttOptions, QoS};

/// What the devices receive when dimmed (10 A; no charging) and after (16 A; 5 kW).
const DIMMED: [&str; 2] = ["1:261:[100]", "2:47075:[0, 0]"];
const RELEASED: [&str; 2] = ["1:261:[160]", "2:47075:[0, 5000]"];

fn main() {
    let dir = std::env::temp_dir().join(format!("stromwart-p14a-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let Some((_broker, port)) = support::mosquitto(&dir, "p14a", true) else {
        return;
    };
    let edges: usize = std::env::var("STROMWART_BENCH_EDGES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(50);
    // The profiles' gaps between requests (Heidelberg 0.1 s, Huawei 0.05 s) are what the
    // devices need; without them, what is left is Stromwart's own time.
    let pause = std::env::var("STROMWART_BENCH_PAUSE")
        .map(|p| format!(", pause: {p}"))
        .unwrap_or_default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sim = rt.block_on(async {
        let sim = Sim::tcp().await;
        modbus_sim::wallbox_and_battery(&sim);
        sim.set(1, 3, 261, &[160]);
        sim.set(2, 3, 47075, &[0, 5000]);
        sim
    });
    let mut writes = sim.report_writes();
    let modbus = sim.url("tcp");
    let config = dir.join("stromwart.yaml");
    let yaml = format!(
        "data_dir: {}\nmqtt:\n  port: {port}\nlog_level: error\n\
         wallboxes:\n  - {{ id: garage, driver: modbus, profile: heidelberg, address: '{modbus}', min_change_interval: 0, poll_interval: 0.5{pause} }}\n\
         batteries:\n  - {{ id: luna, profile: huawei-luna2000, address: '{modbus}', unit: 2, connect_delay: 0, min_change_interval: 0, max_charge_power: 5000, poll_interval: 0.5{pause} }}\n\
         p14a:\n  signals:\n    - {{ name: box, mqtt: bench/box, debounce: 0 }}\n\
         \x20 devices:\n    - {{ kind: wallbox, rated_power: 11, wallbox: garage, priority: 1 }}\n    - {{ kind: battery, rated_power: 5, battery: luna }}\n",
        dir.display()
    );
    std::fs::write(&config, yaml).unwrap();
    let mut bridge = support::bridge(env!("CARGO_BIN_EXE_stromwart"), &config);
    let (client, mut el) = AsyncClient::new(MqttOptions::new("p14a-bench", "127.0.0.1", port), 64);
    rt.spawn(async move { while el.poll().await.is_ok() {} });
    // The devices answer once; the wallbox is set to 16 A as from Home Assistant, and both
    // report their setpoints before the first edge.
    rt.block_on(async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        client
            .publish(
                "stromwart/garage/current_limit/set",
                QoS::AtLeastOnce,
                false,
                "16",
            )
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
    });
    if let Ok(Some(status)) = bridge.0.try_wait() {
        panic!("the bridge ended ({status}); its error is above");
    }
    let mut edge = |payload: &'static str, want: [&str; 2]| {
        rt.block_on(async {
            while writes.try_recv().is_ok() {}
            let start = Instant::now();
            client
                .publish("bench/box", QoS::AtMostOnce, false, payload)
                .await
                .unwrap();
            let mut missing: Vec<&str> = want.to_vec();
            while !missing.is_empty() {
                let w = tokio::time::timeout(Duration::from_secs(5), writes.recv())
                    .await
                    .unwrap_or_else(|_| panic!("{payload}: no write of {missing:?} within 5 s"))
                    .unwrap();
                missing.retain(|m| *m != w);
            }
            let took = start.elapsed();
            // The devices report their new setpoints before the next edge, as they would.
            tokio::time::sleep(Duration::from_millis(1200)).await;
            took
        })
    };
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for _ in 0..edges {
        on.push(edge("on", DIMMED));
        off.push(edge("off", RELEASED));
    }
    let pct = |v: &mut Vec<Duration>, p: f64| {
        v.sort();
        v[((v.len() as f64 * p) as usize).min(v.len() - 1)]
    };
    println!(
        "§14a signal on → last device write: p50 {:.3?} p99 {:.3?} max {:.3?} ({edges} edges)",
        pct(&mut on, 0.5),
        pct(&mut on, 0.99),
        pct(&mut on, 1.0)
    );
    println!(
        "§14a signal off → earlier setpoints written: p50 {:.3?} p99 {:.3?} max {:.3?}",
        pct(&mut off, 0.5),
        pct(&mut off, 0.99),
        pct(&mut off, 1.0)
    );
}
