//! Fault injection: devices, services, the broker and the disk misbehave on purpose, and the
//! bridge loses nothing, hangs nowhere and never panics.

mod common;

use std::time::{Duration, Instant};

use common::faulty::{Fault, Faulty};
use common::modbus_sim::Sim;
use stromwart::bus::Bus;
use stromwart::bus::device::{Device, Setup};
use stromwart::modbus::Transport;
use stromwart::modbus::plan::Reading;
use stromwart::modbus::profile;

fn sunspec(unit: u8, timeout_ms: u64) -> Device {
    Device::new(Setup {
        index: 0,
        id: "inverter".into(),
        unit,
        timeout: Duration::from_millis(timeout_ms),
        pause: Duration::ZERO,
        interval: Duration::from_secs(1),
        profile: profile::built_in("sunspec").unwrap(),
    })
}

fn power(poll: &stromwart::modbus::Poll) -> Option<f64> {
    poll.values.readings.iter().find_map(|(q, r)| match r {
        Reading::Number(n) if q.key == "power" => Some(*n),
        _ => None,
    })
}

#[tokio::test]
async fn a_device_that_answers_garbage_half_the_time_is_still_discovered_and_read() {
    let sim = Sim::tcp().await;
    sim.fronius_image();
    let proxy = Faulty::start(sim.addr, Fault::GarbageEveryOther).await;
    let mut bus = Bus::new(Transport::parse(&proxy.url()).unwrap());
    let mut inverter = sunspec(1, 1000);
    // Each poll is what the bridge does once per interval: the first one finds the models
    // and reads the values, however the garbage falls.
    for attempt in 1..=3 {
        let poll = inverter.poll(&mut bus).await;
        assert_eq!(power(&poll), Some(4567.0), "poll {attempt}: {poll:?}");
    }
    assert!(proxy.answers() > 6, "the garbage was really sent");
}

#[tokio::test]
async fn a_device_that_never_answers_or_stops_mid_answer_costs_one_timeout_per_poll() {
    for fault in [Fault::Silent, Fault::HalfAnswer] {
        let sim = Sim::tcp().await;
        sim.fronius_image();
        let proxy = Faulty::start(sim.addr, fault).await;
        let mut bus = Bus::new(Transport::parse(&proxy.url()).unwrap());
        let mut inverter = sunspec(1, 200);
        for _ in 0..3 {
            let started = Instant::now();
            let poll = inverter.poll(&mut bus).await;
            assert!(!poll.ok(), "{fault:?}");
            let problem = poll.problem.unwrap_or_default();
            assert!(
                problem.contains("no answer within 200ms"),
                "{fault:?}: {problem}"
            );
            assert!(
                started.elapsed() < Duration::from_millis(1500),
                "{fault:?}: a poll waits out one timeout, not one per register"
            );
        }
    }
}

/// A go-e that answers after `delay`, with `status` and `headers`.
async fn charger(
    delay: Duration,
    status: &'static str,
    headers: &'static str,
) -> (u16, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                tokio::time::sleep(delay).await;
                let body = r#"{"amp":16,"frc":0,"psm":2,"car":2,"nrg":[],"eto":1}"#;
                let answer = format!(
                    "HTTP/1.1 {status}\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(answer.as_bytes()).await;
            });
        }
    });
    (port, task)
}

#[tokio::test]
async fn an_http_device_that_is_slow_fails_or_redirects_in_a_loop_is_named_and_never_hangs() {
    use stromwart::drivers::Wallbox;
    use stromwart::drivers::goe::GoE;
    let cases = [
        (Duration::from_secs(60), "200 OK", "", "no answer in time"),
        (
            Duration::ZERO,
            "500 Internal Server Error",
            "",
            "500 Internal Server Error from http://127.0.0.1",
        ),
        (
            Duration::ZERO,
            "302 Found",
            "Location: /api/status\r\n",
            "redirects in a loop",
        ),
    ];
    for (delay, status, headers, says) in cases {
        let (port, _server) = charger(delay, status, headers).await;
        let mut goe = GoE::new(&format!("http://127.0.0.1:{port}")).unwrap();
        let started = Instant::now();
        let err = goe.state().await.unwrap_err().to_string();
        assert!(err.contains(says), "{status}: {err}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{status}: within the HTTP timeout"
        );
    }
}

#[tokio::test]
async fn a_full_disk_while_settings_are_written_keeps_the_old_file_and_says_so() {
    use common::bridge::Bridge;
    use common::broker::{Mosquitto, scratch_dir};
    use common::observer::Observer;
    let broker = Mosquitto::start();
    let data = scratch_dir("faults-enospc");
    let settings = data.join("settings.json");
    std::fs::write(&settings, "{\"site_name\": \"Before\"}").unwrap();
    // The file the settings are first written to is /dev/full: every write ends in ENOSPC,
    // as on a full disk.
    let tmp = data.join("settings.json.tmp");
    std::os::unix::fs::symlink("/dev/full", &tmp).unwrap();
    let yaml = format!(
        "data_dir: {}\nmqtt:\n  host: 127.0.0.1\n  port: {}\nmeters:\n  - id: grid\n    file: {}\n    hex: true\n    repeat: true\n",
        data.display(),
        broker.port,
        common::bridge::fixture("iskra-mt691-1"),
    );
    let obs = Observer::connect(broker.port, "stromwart/#").await;
    let bridge = Bridge::start(&yaml);
    obs.wait_value("stromwart/bridge/site_name", "Before").await;
    obs.send("stromwart/bridge/site_name/set", "After").await;
    obs.wait_value("stromwart/bridge/site_name", "After").await;
    let said = obs
        .wait_for(10, "the storage problem", |r| {
            r.topic == "stromwart/site/storage" && r.payload.starts_with("cannot save")
        })
        .await;
    assert!(
        said.payload.contains("No space left on device"),
        "{}",
        said.payload
    );
    let kept: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    assert_eq!(kept["site_name"], "Before", "the old file stays valid");

    // Space again: the settings are saved on the next try, and the entity says so.
    std::fs::remove_file(&tmp).unwrap();
    obs.wait_for(30, "saved again", |r| {
        r.topic == "stromwart/site/storage" && r.payload == "ok"
    })
    .await;
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    assert_eq!(saved["site_name"], "After", "nothing lost");
    bridge.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn every_command_the_broker_took_during_its_restart_is_carried_out_or_refused() {
    use common::bridge::spawn_process;
    use common::broker::{Mosquitto, scratch_dir};
    use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    let mut broker = Mosquitto::persistent();
    let data = scratch_dir("faults-burst");
    let config = data.join("stromwart.yaml");
    std::fs::write(
        &config,
        format!(
            "data_dir: {}\nmqtt:\n  host: 127.0.0.1\n  port: {}\nmeters:\n  - id: grid\n    file: {}\n    hex: true\n    repeat: true\n",
            data.display(),
            broker.port,
            common::bridge::fixture("iskra-mt691-1"),
        ),
    )
    .unwrap();
    let log = data.join("log");
    let _bridge = spawn_process(&["run"], &config, &log);
    let ready = Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("Connected to the MQTT broker")
    {
        assert!(
            ready.elapsed() < Duration::from_secs(10),
            "the bridge never connected"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A sender like Home Assistant's: QoS 1, its own persistent session. Which payload each
    // acknowledgement belongs to follows from the packet ids, in the order they went out.
    let mut opts = MqttOptions::new("burst-sender", "127.0.0.1", broker.port);
    opts.set_clean_session(false);
    let (client, mut eventloop) = AsyncClient::new(opts, 100);
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let acks = acked.clone();
    let events = tokio::spawn(async move {
        // Unacknowledged payloads by packet id; a packet id seen again before its
        // acknowledgement is the client sending it again after the reconnect.
        let mut by_pkid = BTreeMap::new();
        let mut next = 1000;
        loop {
            match eventloop.poll().await {
                Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                    by_pkid.entry(pkid).or_insert_with(|| {
                        next += 1;
                        next.to_string()
                    });
                }
                Ok(Event::Incoming(Packet::PubAck(ack))) => {
                    if let Some(p) = by_pkid.remove(&ack.pkid) {
                        acks.lock().unwrap().push(p);
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    for n in 1..=40u32 {
        client
            .publish(
                "stromwart/bridge/surplus_on/set",
                QoS::AtLeastOnce,
                false,
                (1000 + n).to_string(),
            )
            .await
            .unwrap();
        if n == 20 {
            broker.restart_gracefully();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let until = Instant::now() + Duration::from_secs(20);
    while acked.lock().unwrap().len() < 40 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let acked: Vec<String> = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 30,
        "most commands were acknowledged: {acked:?}"
    );

    // Each of them shows in the bridge's log, accepted (or refused), once the link is back.
    let until = Instant::now() + Duration::from_secs(30);
    let missing = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let missing: Vec<&String> = acked
            .iter()
            .filter(|n| {
                !text.lines().any(|l| {
                    (l.contains("Accepted a command") || l.contains("Rejected a command"))
                        && l.contains(&format!("payload={n}"))
                        && l.contains("surplus_on")
                })
            })
            .collect();
        if missing.is_empty() || Instant::now() > until {
            break missing.into_iter().cloned().collect::<Vec<_>>();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    events.abort();
    assert!(
        missing.is_empty(),
        "acknowledged by the broker but never carried out: {missing:?}"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("panicked"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_sml_source_that_floods_is_read_at_the_pace_of_publishing_and_commands_still_answer() {
    use common::bridge::Bridge;
    use common::broker::Mosquitto;
    use common::fixtures::frames_of;
    use common::observer::Observer;
    use tokio::io::AsyncWriteExt;

    let broker = Mosquitto::start();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let frames = frames_of("iskra-mt175-1");
    // A reading head gone wild: frames back to back, as fast as the socket takes them, for
    // four seconds.
    let flood = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let until = Instant::now() + Duration::from_secs(4);
        let mut sent = 0u64;
        while Instant::now() < until {
            for f in &frames {
                if s.write_all(f).await.is_err() {
                    return sent;
                }
                sent += 1;
            }
        }
        sent
    });
    let obs = Observer::connect(broker.port, "stromwart/#").await;
    let bridge = Bridge::start(&format!(
        "mqtt:\n  port: {}\nmeters:\n  - id: grid\n    tcp: 127.0.0.1:{port}\n",
        broker.port
    ));
    obs.wait_for(10, "the first reading", |r| {
        r.topic == "stromwart/grid/power"
    })
    .await;
    // Mid-flood, a command from Home Assistant is answered at once.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let asked = Instant::now();
    obs.send("stromwart/bridge/site_name/set", "Flooded").await;
    obs.wait_value("stromwart/bridge/site_name", "Flooded")
        .await;
    let answered = asked.elapsed();
    let sent = flood.await.unwrap();
    assert!(sent > 10_000, "a real flood: {sent} frames");
    assert!(
        answered < Duration::from_secs(5),
        "a command waited {answered:?} behind the flood"
    );
    // Published at most once a second, however fast the frames came.
    let powers = obs
        .all()
        .into_iter()
        .filter(|r| r.topic == "stromwart/grid/power")
        .count();
    assert!(powers <= 8, "{powers} power states in about 5 s");
    let frames_ok = obs
        .wait_for(10, "the frame count", |r| {
            r.topic == "stromwart/grid/frames_ok"
                && r.payload.parse::<u64>().is_ok_and(|n| n > 1000)
        })
        .await;
    assert!(frames_ok.payload.parse::<u64>().unwrap() <= sent);
    bridge.stop().await.unwrap();
}
