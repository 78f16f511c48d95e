//! Command to device, per driver: a command published as Home Assistant publishes it, through a
//! real mosquitto and the release bridge, until the device's peer on loopback receives the
//! request that carries it out ("at the device"), and until the bridge publishes the state it
//! read back ("confirmed"). One bridge drives a Shelly Gen1 and a Gen2 plug and a go-eCharger
//! (stateful HTTP servers), a Tasmota plug (answered on the broker), a Heidelberg wallbox and a
//! Huawei battery (an in-process Modbus TCP server). Skipped without mosquitto. Percentiles per
//! driver are printed after the criterion run.

#[path = "../tests/common/http.rs"]
#[allow(dead_code)]
mod http;
#[path = "../tests/common/modbus_sim.rs"]
#[allow(dead_code)]
mod modbus_sim;
#[path = "support.rs"]
mod support;

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use http::{Response, serve};
use modbus_sim::Sim;
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// An HTTP device: a command sets `key` from its query (and is reported as a hit), status
/// requests answer from the value last set.
struct HttpDevice {
    marker: &'static str,
    key: &'static str,
    initial: &'static str,
    reply: fn(&str) -> String,
    status: fn(&str) -> String,
}

async fn http_peer(hits: UnboundedSender<String>, d: HttpDevice) -> u16 {
    let value = std::sync::Mutex::new(d.initial.to_string());
    let (port, task) = serve(move |head| {
        let line = head.lines().next().unwrap_or_default();
        let mut v = value.lock().unwrap();
        if line.contains(d.marker) {
            let _ = hits.send(line.to_string());
            let set = line
                .split(['?', '&', ' '])
                .find_map(|kv| kv.strip_prefix(&format!("{}=", d.key)));
            if let Some(set) = set {
                *v = set.to_string();
            }
            return Response::json("200 OK", &(d.reply)(&v));
        }
        Response::json("200 OK", &(d.status)(&v))
    })
    .await;
    // The server runs for the whole bench.
    std::mem::forget(task);
    port
}

/// One driver under test: the command topic, two payloads to alternate, and what the device
/// sees for each.
struct Case {
    name: &'static str,
    /// `<id>/<key>`: commands go to `stromwart/<id>/<key>/set`, states come back on
    /// `stromwart/<id>/<key>`.
    entity: &'static str,
    payloads: [&'static str; 2],
    seen: [&'static str; 2],
}

const CASES: [Case; 6] = [
    Case {
        name: "shelly gen1 (HTTP)",
        entity: "boiler/switch",
        payloads: ["ON", "OFF"],
        seen: ["turn=on", "turn=off"],
    },
    Case {
        name: "shelly gen2 (HTTP RPC)",
        entity: "heater/switch",
        payloads: ["ON", "OFF"],
        seen: ["on=true", "on=false"],
    },
    Case {
        name: "tasmota (MQTT)",
        entity: "bike/switch",
        payloads: ["ON", "OFF"],
        seen: ["tasmota:ON", "tasmota:OFF"],
    },
    Case {
        name: "go-eCharger (HTTP API v2)",
        entity: "garage/current_limit",
        payloads: ["10", "11"],
        seen: ["amp=10", "amp=11"],
    },
    Case {
        name: "Heidelberg wallbox (Modbus)",
        entity: "carport/current_limit",
        payloads: ["10", "11"],
        seen: ["1:261:[100]", "1:261:[110]"],
    },
    Case {
        name: "Huawei battery (Modbus)",
        entity: "luna/charge_limit",
        payloads: ["4000", "4500"],
        seen: ["2:47075:[0, 4000]", "2:47075:[0, 4500]"],
    },
];

struct Rig {
    client: AsyncClient,
    hits: UnboundedReceiver<String>,
    states: UnboundedReceiver<(String, String)>,
    round: usize,
}

impl Rig {
    /// Publishes the next command of `case`; returns when its device had it and when the
    /// bridge confirmed the new state.
    async fn sample(&mut self, case: &Case) -> (Duration, Duration) {
        self.round += 1;
        let i = self.round % 2;
        while self.hits.try_recv().is_ok() {}
        while self.states.try_recv().is_ok() {}
        let topic = format!("stromwart/{}", case.entity);
        self.client
            .publish(
                format!("{topic}/set"),
                QoS::AtMostOnce,
                false,
                case.payloads[i],
            )
            .await
            .unwrap();
        let sent = Instant::now();
        while let Some(hit) = self.hits.recv().await {
            if hit.contains(case.seen[i]) {
                break;
            }
        }
        let at_device = sent.elapsed();
        while let Some((t, payload)) = self.states.recv().await {
            if t == topic && payload == case.payloads[i] {
                break;
            }
        }
        (at_device, sent.elapsed())
    }
}

/// The MQTT side, in a task of its own so that no poll is ever cut short: plays the Tasmota
/// plug (answers each command with its new state) and passes the bridge's states on.
async fn mqtt_side(
    client: AsyncClient,
    mut el: EventLoop,
    hits: UnboundedSender<String>,
    states: UnboundedSender<(String, String)>,
) {
    loop {
        let Ok(Event::Incoming(Packet::Publish(p))) = el.poll().await else {
            continue;
        };
        let payload = String::from_utf8_lossy(&p.payload).to_string();
        if p.topic == "cmnd/tasmota_bench/POWER" {
            let state = payload.to_uppercase();
            let _ = hits.send(format!("tasmota:{state}"));
            let _ = client
                .publish("stat/tasmota_bench/POWER", QoS::AtMostOnce, false, state)
                .await;
        } else {
            let _ = states.send((p.topic, payload));
        }
    }
}

/// The value at a share of sorted samples.
fn pct(samples: &[Duration], p: f64) -> Duration {
    samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)]
}

fn command_to_device(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("stromwart-commands-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let Some((_broker, broker_port)) = support::mosquitto(&dir, "command_to_device", true) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let (hits_tx, hits) = unbounded_channel();
    let (shelly1, shelly2, goe, sim) = rt.block_on(async {
        let shelly1 = http_peer(
            hits_tx.clone(),
            HttpDevice {
                marker: "turn=",
                key: "turn",
                initial: "off",
                reply: |v| format!(r#"{{"ison":{}}}"#, v == "on"),
                status: |v| {
                    format!(
                        r#"{{"relays":[{{"ison":{}}}],"meters":[{{"power":5.0}}]}}"#,
                        v == "on"
                    )
                },
            },
        )
        .await;
        let shelly2 = http_peer(
            hits_tx.clone(),
            HttpDevice {
                marker: "switch.set",
                key: "on",
                initial: "false",
                reply: |_| r#"{"was_on":false}"#.into(),
                status: |v| format!(r#"{{"id":0,"output":{v},"apower":5.0}}"#),
            },
        )
        .await;
        let goe = http_peer(
            hits_tx.clone(),
            HttpDevice {
                marker: "/api/set",
                key: "amp",
                initial: "16",
                reply: |_| r#"{"amp":true,"frc":true}"#.into(),
                status: |v| {
                    format!(r#"{{"amp":{v},"frc":0,"psm":0,"car":2,"nrg":[],"eto":1000.0}}"#)
                },
            },
        )
        .await;
        let sim = Sim::tcp().await;
        modbus_sim::wallbox_and_battery(&sim);
        (shelly1, shelly2, goe, sim)
    });
    // Modbus writes arrive on their own channel; fold them into the hits.
    let mut writes = sim.report_writes();
    let forward = hits_tx.clone();
    rt.spawn(async move {
        while let Some(w) = writes.recv().await {
            let _ = forward.send(w);
        }
    });
    let modbus = sim.url("tcp");
    let config = dir.join("stromwart.yaml");
    let lines = [
        format!("data_dir: {}", dir.display()),
        format!("mqtt:\n  port: {broker_port}"),
        "log_level: error".into(),
        "plugs:".into(),
        format!(
            "  - {{ id: boiler, driver: shelly1, address: 'http://127.0.0.1:{shelly1}', min_switch_interval: 0 }}"
        ),
        format!(
            "  - {{ id: heater, driver: shelly2, address: 'http://127.0.0.1:{shelly2}', min_switch_interval: 0 }}"
        ),
        "  - { id: bike, driver: tasmota, topic: tasmota_bench, min_switch_interval: 0 }".into(),
        "wallboxes:".into(),
        format!("  - {{ id: garage, address: 'http://127.0.0.1:{goe}', min_change_interval: 0 }}"),
        format!(
            "  - {{ id: carport, driver: modbus, profile: heidelberg, address: '{modbus}', min_change_interval: 0 }}"
        ),
        "batteries:".into(),
        format!(
            "  - {{ id: luna, profile: huawei-luna2000, address: '{modbus}', unit: 2, connect_delay: 0, min_change_interval: 0 }}"
        ),
    ];
    std::fs::write(&config, lines.join("\n") + "\n").unwrap();
    let mut bridge = support::bridge(env!("CARGO_BIN_EXE_stromwart"), &config);
    let (client, el) = AsyncClient::new(MqttOptions::new("bench", "127.0.0.1", broker_port), 64);
    let mut net = rumqttc::NetworkOptions::new();
    net.set_tcp_nodelay(true);
    let mut el = el;
    el.set_network_options(net);
    let (states_tx, states) = unbounded_channel();
    rt.spawn(mqtt_side(client.clone(), el, hits_tx, states_tx));
    let mut rig = Rig {
        client,
        hits,
        states,
        round: 0,
    };
    rt.block_on(async {
        rig.client
            .subscribe("cmnd/tasmota_bench/POWER", QoS::AtMostOnce)
            .await
            .unwrap();
        rig.client
            .subscribe("stromwart/+/+", QoS::AtMostOnce)
            .await
            .unwrap();
        // Let every device answer once (the bridge commands none that has not) and discovery
        // settle, while Tasmota reports its state.
        for _ in 0..15 {
            rig.client
                .publish("stat/tasmota_bench/POWER", QoS::AtMostOnce, false, "OFF")
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    if let Ok(Some(status)) = bridge.0.try_wait() {
        panic!("the bridge ended ({status}); its error is above");
    }

    let mut report = Vec::new();
    for case in &CASES {
        c.bench_function(&format!("command to device: {}", case.name), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| rt.block_on(rig.sample(case)).0).sum());
        });
        let (mut device, mut confirmed): (Vec<_>, Vec<_>) =
            (0..300).map(|_| rt.block_on(rig.sample(case))).unzip();
        device.sort();
        confirmed.sort();
        report.push(format!(
            "{:<28} at the device p50 {:>9.3?} p99 {:>9.3?} | confirmed p50 {:>9.3?} p99 {:>9.3?}",
            case.name,
            pct(&device, 0.5),
            pct(&device, 0.99),
            pct(&confirmed, 0.5),
            pct(&confirmed, 0.99),
        ));
    }
    println!("command to device over 300 commands each:");
    for line in report {
        println!("  {line}");
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(3));
    targets = command_to_device
}
criterion_main!(benches);
