//! Modbus devices against a real Modbus server in the test process: every built-in profile, SunSpec
//! discovery, word orders, sentinels, scale factors, exceptions, timeouts, dropped connections,
//! two unit ids on one connection, RTU-over-TCP framing and block splitting.

mod common;

use std::time::Duration;

use common::modbus_sim::Sim;
use stromwart::bus::Bus;
use stromwart::bus::device::{Device, Setup};
use stromwart::modbus::Poll;
use stromwart::modbus::Transport;
use stromwart::modbus::plan::Reading;
use stromwart::modbus::profile::{self, Profile, Target};
use stromwart::modbus::value::{self, DataType, Fc, Raw};

fn setup(profile: Profile, unit: u8, timeout_ms: u64) -> Setup {
    Setup {
        index: 0,
        id: profile.name.clone(),
        unit,
        timeout: Duration::from_millis(timeout_ms),
        pause: Duration::ZERO,
        interval: Duration::from_secs(1),
        profile,
    }
}

fn number(poll: &Poll, key: &str) -> Option<f64> {
    poll.values.readings.iter().find_map(|(q, r)| match r {
        Reading::Number(n) if q.key == key => Some(*n),
        _ => None,
    })
}

/// Writes a register image for `p` into the simulator: its blocks filled with zeros, then a
/// distinct raw value for every point. Returns (quantity, expected published value).
fn image(sim: &Sim, p: &Profile, unit: u8) -> Vec<(String, f64)> {
    for b in &p.blocks {
        sim.fill(unit, b.fc as u8, b.start, b.count);
    }
    let mut expected = Vec::new();
    for (i, point) in p.points.iter().enumerate() {
        let raw = match point.ty {
            DataType::F32 | DataType::F64 => Raw::Float(100.5 + i as f64),
            DataType::Str(_) => Raw::Text(format!("SN{i}")),
            _ => Raw::Int(100 + i as i128),
        };
        let words = value::encode(&raw, point.ty, point.order).expect("encodable");
        sim.set(unit, point.fc as u8, point.address, &words);
        if let Target::Value(q) = &point.target {
            let scale = value::Scale {
                exp: point.scale.exp + point.unit_exp,
                ..point.scale
            };
            let v = value::apply(&raw, scale).unwrap();
            expected.push((q.key.to_string(), if point.negate { -v } else { v }));
        }
    }
    expected
}

#[tokio::test]
async fn every_built_in_profile_reads_its_register_image() {
    let sim = Sim::tcp().await;
    for name in profile::built_in_names() {
        let p = profile::built_in(name).unwrap_or_else(|e| panic!("{e}"));
        if !p.sunspec.is_empty() {
            continue; // covered by the SunSpec tests below
        }
        let expected = image(&sim, &p, p.unit);
        let mut bus = Bus::new(Transport::parse(&sim.url("tcp")).unwrap());
        let unit = p.unit;
        let mut device = Device::new(setup(p, unit, 1000));
        let poll = device.poll(&mut bus).await;
        assert!(poll.problem.is_none(), "{name}: {:?}", poll.problem);
        for (key, want) in expected {
            let got = number(&poll, &key).unwrap_or_else(|| panic!("{name}: {key} missing"));
            assert!(
                (got - want).abs() < 1e-6 * want.abs().max(1.0),
                "{name}: {key} = {got}, expected {want}"
            );
        }
    }
}

#[test]
fn every_built_in_profile_loads_and_fits_its_blocks() {
    let names = profile::built_in_names();
    assert_eq!(names.len(), 12);
    for name in names {
        let p = profile::built_in(name).unwrap_or_else(|e| panic!("{e}"));
        assert!(!p.points.is_empty() || !p.sunspec.is_empty(), "{name}");
        assert!(
            p.blocks.iter().all(|b| b.count <= profile::MAX_BLOCK),
            "{name}"
        );
    }
}

#[tokio::test]
async fn sunspec_models_are_discovered_and_scale_factors_applied() {
    let sim = Sim::tcp().await;
    sim.fronius_image();
    let mut bus = Bus::new(Transport::parse(&sim.url("tcp")).unwrap());
    let mut inverter = Device::new(setup(profile::built_in("sunspec").unwrap(), 1, 1000));
    let poll = inverter.poll(&mut bus).await;
    assert_eq!(number(&poll, "current"), Some(12.34));
    assert_eq!(number(&poll, "voltage_l1"), Some(230.1));
    assert_eq!(number(&poll, "voltage_l3"), Some(229.9));
    assert_eq!(number(&poll, "power"), Some(4567.0));
    assert_eq!(number(&poll, "frequency"), Some(50.01));
    assert_eq!(
        number(&poll, "power_factor"),
        Some(0.998),
        "SunSpec's percent as a ratio"
    );
    assert_eq!(number(&poll, "energy_production"), Some(123_456.78));
    assert_eq!(number(&poll, "pv_power"), Some(4800.0));
    assert_eq!(number(&poll, "temperature"), Some(41.5));
    assert_eq!(number(&poll, "battery_soc"), Some(65.5));
    assert!(
        poll.values
            .unavailable
            .contains(&"battery_voltage".to_string()),
        "sentinel 0xFFFF"
    );
    assert_eq!(poll.values.manufacturer.as_deref(), Some("Fronius"));
    assert_eq!(poll.values.model.as_deref(), Some("Symo GEN24 10.0"));
    assert_eq!(poll.values.serial.as_deref(), Some("34112233"));
    assert_eq!(poll.values.sw_version.as_deref(), Some("1.28.7-1"));

    // The meter behind the same connection, on its own unit id.
    let mut meter = Device::new(setup(profile::built_in("sunspec").unwrap(), 200, 1000));
    let poll = meter.poll(&mut bus).await;
    assert_eq!(number(&poll, "power"), Some(-850.5));
    assert_eq!(number(&poll, "energy_import"), Some(5000.0));
    assert_eq!(number(&poll, "energy_export"), Some(2000.0));
    assert_eq!(
        number(&poll, "voltage_l1"),
        Some(231.2),
        "a float32 as the meter wrote it"
    );

    // Discovery happens once; later polls read one block per model chunk.
    sim.clear_log();
    inverter.poll(&mut bus).await;
    assert_eq!(sim.log().len(), inverter.planned_requests());
    assert_eq!(inverter.planned_requests(), 3, "{:?}", sim.log());
}

#[tokio::test]
async fn two_unit_ids_share_one_connection() {
    let sim = Sim::tcp().await;
    let p = profile::built_in("sdm630").unwrap();
    image(&sim, &p, 1);
    image(&sim, &p, 2);
    sim.set_f32(2, 4, 52, -1200.0);
    let mut bus = Bus::new(Transport::parse(&sim.url("tcp")).unwrap());
    let mut a = Device::new(setup(p.clone(), 1, 1000));
    let mut b = Device::new(setup(p, 2, 1000));
    let (pa, pb) = (a.poll(&mut bus).await, b.poll(&mut bus).await);
    assert_eq!(number(&pa, "power"), Some(112.5));
    assert_eq!(number(&pb, "power"), Some(-1200.0));
    assert_eq!(sim.connections(), 1);
    assert_eq!(
        sim.log().iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![1, 1, 1, 2, 2, 2]
    );
}

#[tokio::test]
async fn a_refused_block_is_split_and_the_split_remembered() {
    let sim = Sim::tcp().await;
    let p = profile::built_in("sdm630").unwrap();
    let expected = image(&sim, &p, 1);
    sim.remove(1, 4, 40); // a hole between the points, as real meters have
    let mut bus = Bus::new(Transport::parse(&sim.url("tcp")).unwrap());
    let mut d = Device::new(setup(p, 1, 1000));
    let poll = d.poll(&mut bus).await;
    for (key, want) in &expected {
        assert_eq!(number(&poll, key), Some(*want), "{key}");
    }
    assert!(poll.exceptions >= 1);
    let first = sim.requests();
    sim.clear_log();
    let again = d.poll(&mut bus).await;
    assert_eq!(
        again.exceptions,
        0,
        "the split is remembered: {:?}",
        sim.log()
    );
    assert!(
        sim.log()
            .iter()
            .all(|(_, _, start, count)| !(*start..start + count).contains(&40))
    );
    assert!(first > sim.log().len() as u64);
}

#[tokio::test]
async fn a_device_that_refuses_long_reads_is_read_in_smaller_blocks() {
    let sim = Sim::tcp().await;
    let p = profile::built_in("sdm72v2").unwrap();
    let expected = image(&sim, &p, 1);
    sim.set_max_read(Some(20));
    let mut bus = Bus::new(Transport::parse(&sim.url("tcp")).unwrap());
    let mut d = Device::new(setup(p, 1, 1000));
    let poll = d.poll(&mut bus).await;
    for (key, want) in &expected {
        assert_eq!(number(&poll, key), Some(*want), "{key}");
    }
    assert!(sim.log().iter().filter(|r| r.1 == 4).all(|r| r.3 <= 76));
}

#[tokio::test]
async fn a_slow_device_times_out_and_a_late_reply_is_never_taken_for_the_next() {
    let sim = Sim::tcp().await;
    let p = profile::built_in("sdm120").unwrap();
    let expected = image(&sim, &p, 1);
    sim.set_delay(Duration::from_millis(300));
    let mut bus = Bus::new(Transport::parse(&sim.url("tcp")).unwrap());
    let mut d = Device::new(setup(p, 1, 100));
    let poll = d.poll(&mut bus).await;
    assert_eq!((poll.timeouts, poll.ok()), (1, false));
    assert_eq!(
        poll.requests, 1,
        "after a timeout the other blocks are not tried"
    );
    assert!(poll.problem.unwrap().starts_with("no answer within"));
    sim.set_delay(Duration::ZERO);
    // The late answer to the first request arrives on the old connection, which is gone.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let poll = d.poll(&mut bus).await;
    for (key, want) in &expected {
        assert_eq!(number(&poll, key), Some(*want), "{key}");
    }
    assert_eq!(sim.connections(), 2);
}

#[tokio::test]
async fn a_dropped_connection_is_rebuilt() {
    let sim = Sim::tcp().await;
    let p = profile::built_in("sdm120").unwrap();
    image(&sim, &p, 1);
    let mut bus = Bus::new(Transport::parse(&sim.url("tcp")).unwrap());
    let mut d = Device::new(setup(p, 1, 1000));
    assert!(d.poll(&mut bus).await.ok());
    sim.drop_connections();
    let broken = d.poll(&mut bus).await;
    assert!(!broken.ok() && broken.failures == 1, "{broken:?}");
    assert!(d.poll(&mut bus).await.ok());
    assert_eq!(sim.connections(), 2);
}

#[tokio::test]
async fn exceptions_keep_the_connection() {
    let sim = Sim::tcp().await;
    let p = profile::built_in("sdm120").unwrap();
    image(&sim, &p, 1);
    let mut bus = Bus::new(Transport::parse(&sim.url("tcp")).unwrap());
    let mut wrong_unit = Device::new(setup(p.clone(), 9, 1000));
    let poll = wrong_unit.poll(&mut bus).await;
    assert!(!poll.ok());
    assert!(
        poll.problem
            .as_deref()
            .unwrap()
            .contains("GatewayTargetDevice"),
        "{:?}",
        poll.problem
    );
    let mut right = Device::new(setup(p, 1, 1000));
    assert!(right.poll(&mut bus).await.ok());
    assert_eq!(sim.connections(), 1);
}

#[tokio::test]
async fn sentinels_make_values_unavailable_not_numbers() {
    let sim = Sim::tcp().await;
    let p = profile::built_in("sma").unwrap();
    image(&sim, &p, 3);
    sim.set(3, 4, 30775, &[0x8000, 0x0000]); // SMA's NaN for S32
    let mut bus = Bus::new(Transport::parse(&sim.url("tcp")).unwrap());
    let mut d = Device::new(setup(p, 3, 1000));
    let poll = d.poll(&mut bus).await;
    assert_eq!(number(&poll, "power"), None);
    assert_eq!(poll.values.unavailable, vec!["power".to_string()]);
    assert!(number(&poll, "energy_production").is_some());
}

#[tokio::test]
async fn rtu_frames_over_tcp() {
    let sim = Sim::rtu_over_tcp().await;
    let p = profile::built_in("sdm630").unwrap();
    let expected = image(&sim, &p, 5);
    let json = stromwart::bus::read_once(p.clone(), &sim.url("rtuovertcp"), Some(5))
        .await
        .unwrap();
    let power = json["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["quantity"] == "power")
        .unwrap();
    let want = expected.iter().find(|(k, _)| k == "power").unwrap().1;
    assert_eq!(power["value"].as_f64(), Some(want));
    assert_eq!(json["identity"]["serial"], "123", "serial from the image");
    // The same gateway addressed as Modbus TCP gets nowhere, and says so.
    let err = stromwart::bus::read_once(p, &sim.url("tcp"), Some(5))
        .await
        .unwrap_err();
    assert!(
        err.starts_with("nothing could be read from unit 5 at tcp://"),
        "{err}"
    );
}

#[tokio::test]
async fn garbage_answers_and_unreachable_hosts_are_reported() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 256];
            let _ = s.read(&mut buf).await;
            let _ = s
                .write_all(b"HTTP/1.1 400 Bad Request\r\n\r\nthis is not modbus")
                .await;
        }
    });
    let p = profile::built_in("sdm120").unwrap();
    let err = stromwart::bus::read_once(p.clone(), &format!("tcp://127.0.0.1:{port}"), None)
        .await
        .unwrap_err();
    assert!(
        err.starts_with(&format!(
            "nothing could be read from unit 1 at tcp://127.0.0.1:{port}"
        )),
        "{err}"
    );
    let closed = common::broker::free_port();
    let err = stromwart::bus::read_once(p, &format!("tcp://127.0.0.1:{closed}"), None)
        .await
        .unwrap_err();
    assert!(err.contains("Connection refused"), "{err}");
}

#[test]
fn bad_profiles_name_every_problem() {
    let bad = serde_json::json!({
        "blocks": [
            {"fc": 4, "start": 0, "count": 200},
            {"fc": 4, "start": 10, "count": 10},
            {"fc": 3, "start": 100}
        ],
        "points": [
            {"quantity": "power", "fc": 4, "address": 500, "type": "f32"},
            {"quantity": "wattage", "address": 0},
            {"quantity": "power", "address": 0, "type": "f33"},
            {"quantity": "voltge_l1", "fc": 4, "address": 0}
        ]
    });
    let errors: Vec<String> = profile::from_value(&bad, "mine")
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errors,
        vec![
            "blocks[0].count: 200 registers in one block; Modbus allows at most 125",
            "blocks[2]: a block needs start and count",
            "points[1].quantity: unknown quantity 'wattage'; the known ones are listed in docs/adding-a-device.md",
            "points[2].type: 'f33' is not one of: u16, i16, u32, i32, u64, i64, f32, f64, str",
            "points[3].quantity: unknown quantity 'voltge_l1'; did you mean 'voltage_l1'?",
            "points[0]: register 500 (function code 4) is not inside any block; add it to blocks",
            "blocks: blocks at 0 and 10 (function code 4) overlap",
        ]
    );
    let _ = Fc::Holding;
}

#[tokio::test]
async fn the_command_line_reads_a_device_once() {
    let sim = Sim::tcp().await;
    let p = profile::built_in("sdm120").unwrap();
    image(&sim, &p, 7);
    let url = sim.url("tcp");
    let run = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_stromwart"))
                .args(&args)
                .output()
                .unwrap();
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        })
    };
    let args = |unit: &str| {
        vec![
            "modbus".into(),
            "read".into(),
            "--profile".into(),
            "sdm120".into(),
            "--address".into(),
            url.clone(),
            "--unit".into(),
            unit.into(),
        ]
    };
    let (code, out, err) = run(args("7")).await.unwrap();
    assert_eq!(code, Some(0), "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["unit"], 7);
    assert_eq!(
        json["values"][2],
        serde_json::json!({"quantity": "power", "value": 102.5, "unit": "W"})
    );
    assert_eq!(json["requests"], 3);
    let (code, _, err) = run(args("8")).await.unwrap();
    assert_eq!(code, Some(1));
    assert!(err.contains("nothing could be read from unit 8"), "{err}");
}

#[tokio::test]
async fn rtu_on_a_serial_line() {
    // An SDM120 on an RS-485 line: the test answers RTU frames on the master side of a
    // pseudo-terminal, the bridge opens the slave like a USB adapter.
    let pty = common::pty::pty();
    let p = profile::built_in("sdm120").unwrap();
    let mut regs = std::collections::HashMap::new();
    for b in &p.blocks {
        for a in b.start..b.start + b.count {
            regs.insert((b.fc as u8, a), 0u16);
        }
    }
    let power = 1234.5f32.to_bits();
    regs.insert((4, 12), (power >> 16) as u16);
    regs.insert((4, 13), power as u16);
    let regs = std::sync::Arc::new(std::sync::Mutex::new(regs));
    common::rtu::serve(pty.master.try_clone().unwrap(), 1, regs);
    let address = format!("rtu://{}?baud=9600&parity=N", pty.path);
    let mut bus = Bus::new(Transport::parse(&address).unwrap());
    let mut d = Device::new(setup(p, 1, 1000));
    let poll = d.poll(&mut bus).await;
    assert_eq!(number(&poll, "power"), Some(1234.5), "{:?}", poll.problem);
    assert_eq!(poll.requests, 3);
    // A unit that is not on the line: no answer, a timeout, and the bus goes on.
    let mut absent = Device::new(setup(profile::built_in("sdm120").unwrap(), 9, 200));
    assert_eq!(absent.poll(&mut bus).await.timeouts, 1);
    assert!(d.poll(&mut bus).await.ok());
}

#[tokio::test]
async fn a_float32_register_is_read_as_the_device_wrote_it() {
    let sim = Sim::tcp().await;
    let p = profile::built_in("sdm630").unwrap();
    for b in &p.blocks {
        sim.fill(1, b.fc as u8, b.start, b.count);
    }
    // 240.1 V in a float32 is 240.10000610351563 when widened bit for bit.
    sim.set_f32(1, 4, 0, 240.1);
    sim.set_f32(1, 4, 12, -1534.7);
    let mut bus = Bus::new(Transport::parse(&sim.url("tcp")).unwrap());
    let mut d = Device::new(setup(p, 1, 1000));
    let poll = d.poll(&mut bus).await;
    assert_eq!(number(&poll, "voltage_l1"), Some(240.1));
    assert_eq!(number(&poll, "power_l1"), Some(-1534.7));
    assert_eq!(format!("{}", number(&poll, "voltage_l1").unwrap()), "240.1");
}

#[tokio::test]
async fn profiles_publish_the_points_their_devices_document() {
    let sim = Sim::tcp().await;
    let keys = |p: &Profile| -> Vec<String> {
        p.points
            .iter()
            .filter_map(|pt| match &pt.target {
                Target::Value(q) => Some(q.key.to_string()),
                _ => None,
            })
            .chain(
                p.sunspec
                    .iter()
                    .filter(|(id, _)| *id == 103)
                    .flat_map(|(_, pts)| pts.iter())
                    .filter_map(|pt| match &pt.target {
                        Target::Value(q) => Some(q.key.to_string()),
                        _ => None,
                    }),
            )
            .collect()
    };
    let sdm = profile::built_in("sdm630").unwrap();
    let have = keys(&sdm);
    for k in [
        "energy_import_l1",
        "energy_import_l2",
        "energy_import_l3",
        "energy_export_l1",
        "energy_export_l2",
        "energy_export_l3",
    ] {
        assert!(have.iter().any(|h| h == k), "SDM630 lacks {k}");
    }
    let sunspec = profile::built_in("sunspec").unwrap();
    let have = keys(&sunspec);
    for k in [
        "current_l1",
        "current_l2",
        "current_l3",
        "voltage_l1_l2",
        "voltage_l2_l3",
        "voltage_l3_l1",
        "apparent_power",
        "reactive_power",
        "power_factor",
    ] {
        assert!(have.iter().any(|h| h == k), "SunSpec 103 lacks {k}");
    }
    // And they are read: the SDM630's per-phase energies come from its registers.
    let expected = image(&sim, &sdm, 1);
    let mut bus = Bus::new(Transport::parse(&sim.url("tcp")).unwrap());
    let poll = Device::new(setup(sdm, 1, 1000)).poll(&mut bus).await;
    for (key, value) in expected
        .iter()
        .filter(|(k, _)| k.starts_with("energy_export_l"))
    {
        assert_eq!(number(&poll, key), Some(*value), "{key}");
    }
}
