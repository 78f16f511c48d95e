//! Telegram in to MQTT message out.
//!
//! `core`: the pure path inside the bridge (bytes into the decoder, messages out of the core).
//! `end_to_end`: the release binary reading a meter over TCP and publishing to a real mosquitto,
//! measured from the frame's last byte written to the message arriving at a subscriber. It is
//! skipped when mosquitto is not installed. Percentiles are printed after the criterion run.

#[path = "support.rs"]
mod support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use stromwart::core::{Core, CoreConfig, DeviceSettings};
use stromwart::model::Now;
use stromwart::source::MeterDecoder;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

fn core_path(c: &mut Criterion) {
    let frames = support::frames("dzg-dwsb20-1");
    let grid = DeviceSettings::new("grid", "Grid meter", stromwart::model::Role::Grid);
    let mut core = Core::new(CoreConfig {
        meters: vec![grid],
        ..CoreConfig::default()
    });
    let mut decoder = MeterDecoder::new(0, "grid", Default::default());
    let mut events = Vec::new();
    let mut out = Vec::new();
    let mut i = 0u64;
    c.bench_function("core: frame bytes to MQTT messages", |b| {
        b.iter(|| {
            i += 1;
            let now = Now {
                mono_ms: i * 1000,
                unix_ms: 1_795_333_500_000 + i as i64 * 1000,
                utc_offset_s: 3600,
            };
            decoder.push(
                black_box(&frames[(i as usize) % frames.len()]),
                now,
                &mut events,
            );
            for e in events.drain(..) {
                core.handle(e, now, &mut out);
            }
            black_box(out.len());
            out.clear();
        });
    });
}

fn power_of(frame: &[u8]) -> String {
    let mut framer = stromwart::sml::Framer::new();
    let mut power = String::new();
    framer.push(frame, &mut |e| {
        if let stromwart::sml::FrameEvent::Frame(f) = e {
            let t = stromwart::sml::telegram::decode(&f.payload, None).unwrap();
            power = t.number("power").unwrap().to_string();
        }
    });
    power
}

/// A mosquitto, a TCP meter for the release bridge to read, and the bridge with `meter_extra`
/// added to its meter's config; `None` without mosquitto. Dropping it ends both processes.
struct Rig {
    rt: tokio::runtime::Runtime,
    dir: std::path::PathBuf,
    broker_port: u16,
    meter: TcpListener,
    _processes: (support::Kill, support::Kill),
}

fn rig(name: &str, meter_extra: &str) -> Option<Rig> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("stromwart-bench-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (broker, broker_port) = support::mosquitto(&dir, name, false)?;
    let meter = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let meter_port = meter.local_addr().unwrap().port();
    let config = dir.join("stromwart.yaml");
    std::fs::write(&config, format!(
        "data_dir: {}\nmqtt:\n  port: {broker_port}\nlog_level: error\nmeters:\n  - id: grid\n    tcp: 127.0.0.1:{meter_port}\n{meter_extra}",
        dir.display()
    )).unwrap();
    let bridge = support::bridge(env!("CARGO_BIN_EXE_stromwart"), &config);
    Some(Rig {
        rt,
        dir,
        broker_port,
        meter,
        _processes: (bridge, broker),
    })
}

fn end_to_end(c: &mut Criterion) {
    let Some(Rig {
        rt,
        dir,
        broker_port,
        meter,
        _processes,
    }) = rig("end_to_end", "    min_interval: 0\n")
    else {
        return;
    };

    let (mut sock, client, mut el) = rt.block_on(async {
        let (sock, _) = meter.accept().await.unwrap();
        let (client, el) =
            AsyncClient::new(MqttOptions::new("bench", "127.0.0.1", broker_port), 10);
        client
            .subscribe("stromwart/grid/power", QoS::AtMostOnce)
            .await
            .unwrap();
        (sock, client, el)
    });
    let _ = &client;
    // Two frames with different power, alternated, so every frame changes the published value.
    let all = support::frames("dzg-dwsb20-1");
    let pair = [all[0].clone(), all[1].clone()];
    let expected: Vec<String> = pair.iter().map(|f| power_of(f)).collect();
    assert_ne!(
        expected[0], expected[1],
        "the two frames must differ in power"
    );
    let mut round = 0usize;
    // Waits for this frame's own value, so a republish of an older one is never mistaken for it.
    let mut sample = |rt: &tokio::runtime::Runtime| -> Duration {
        round += 1;
        rt.block_on(async {
            let frame = &pair[round % 2];
            sock.write_all(frame).await.unwrap();
            let sent = Instant::now();
            loop {
                if let Ok(Event::Incoming(Packet::Publish(p))) = el.poll().await {
                    if p.payload.as_ref() == expected[round % 2].as_bytes() {
                        return sent.elapsed();
                    }
                }
            }
        })
    };
    // Let the bridge connect, announce and finish its settle republish before measuring.
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_secs(3) {
        sample(&rt);
    }
    c.bench_function("end_to_end: frame over TCP to message at subscriber", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| sample(&rt)).sum());
    });
    let mut samples: Vec<Duration> = (0..2000).map(|_| sample(&rt)).collect();
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!(
        "end_to_end over {} frames: p50 {:?}, p90 {:?}, p99 {:?}, max {:?}",
        samples.len(),
        pct(0.5),
        pct(0.9),
        pct(0.99),
        samples[samples.len() - 1]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A meter that sends once a second, as real ones do, with the default `min_interval: 1`: each
/// reading's delay from its last byte to the subscriber, and how many were never published.
/// The sends wander by a few milliseconds, as a meter's clock against the bridge's does.
fn one_per_second(_c: &mut Criterion) {
    let frames_total: usize = std::env::var("STROMWART_BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let Some(Rig {
        rt,
        dir,
        broker_port,
        meter,
        _processes,
    }) = rig("one_per_second", "")
    else {
        return;
    };
    // Only the chunks that hold a whole frame (the capture ends in a cut one).
    let all: Vec<Vec<u8>> = support::frames("dzg-dwsb20-1")
        .into_iter()
        .filter(|f| !power_of(f).is_empty())
        .collect();
    let values: Vec<String> = all.iter().map(|f| power_of(f)).collect();
    let (delays, lost) = rt.block_on(async {
        let (mut sock, _) = meter.accept().await.unwrap();
        let (client, mut el) =
            AsyncClient::new(MqttOptions::new("bench-1s", "127.0.0.1", broker_port), 10);
        client
            .subscribe("stromwart/grid/power", QoS::AtMostOnce)
            .await
            .unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                if let Ok(Event::Incoming(Packet::Publish(p))) = el.poll().await {
                    let _ = tx.send((
                        Instant::now(),
                        String::from_utf8_lossy(&p.payload).into_owned(),
                    ));
                }
            }
        });
        tokio::time::sleep(Duration::from_secs(3)).await;
        let jitter_ms = [0i64, -12, 7, -4, 15, -9, 3, -15, 10, -6];
        let start = tokio::time::Instant::now();
        let mut sent = Vec::new();
        for k in 0..frames_total {
            let at = 1000 * k as i64 + 20 + jitter_ms[k % jitter_ms.len()];
            tokio::time::sleep_until(start + Duration::from_millis(at as u64)).await;
            sock.write_all(&all[k % all.len()]).await.unwrap();
            sent.push((Instant::now(), values[k % values.len()].clone()));
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let mut got = Vec::new();
        while let Ok(m) = rx.try_recv() {
            got.push(m);
        }
        // A reading counts as published by the first message with its value after it was sent
        // and before the next reading was.
        let mut delays = Vec::new();
        let mut lost = Vec::new();
        for (i, (t, v)) in sent.iter().enumerate() {
            let until = sent
                .get(i + 1)
                .map(|(n, _)| *n + Duration::from_millis(1100));
            match got
                .iter()
                .find(|(at, p)| at >= t && p == v && until.is_none_or(|u| *at < u))
            {
                Some((at, _)) => delays.push(*at - *t),
                None => lost.push(i),
            }
        }
        (delays, lost)
    });
    let mut delays = delays;
    delays.sort();
    let pct = |p: f64| {
        delays
            .get(((delays.len() as f64 * p) as usize).min(delays.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "one_per_second over {frames_total} readings, min_interval 1 s (default): p50 {:?}, p90 {:?}, max {:?}, never published: {lost:?}",
        pct(0.5),
        pct(0.9),
        delays.last().copied().unwrap_or_default()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, core_path, end_to_end, one_per_second);
criterion_main!(benches);
