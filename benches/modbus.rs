//! Modbus poll cycles for a realistic house: an SDM630 grid meter, a SunSpec inverter with
//! storage (Fronius-like, models 1, 103, 124) and a Huawei LUNA2000 battery, all behind one
//! Modbus TCP connection to an in-process server on loopback. Block reads against one request per
//! value (and per scale factor), as readers without block reads make them.

#[path = "../tests/common/modbus_sim.rs"]
#[allow(dead_code)]
mod modbus_sim;

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use modbus_sim::Sim;
use stromwart::bus::Bus;
use stromwart::bus::device::{Device, Setup};
use stromwart::modbus::Transport;
use stromwart::modbus::profile::{self, Profile};
use stromwart::modbus::value::{self, DataType, Raw};

fn setup(profile: Profile, unit: u8) -> Setup {
    Setup {
        index: 0,
        id: profile.name.clone(),
        unit,
        timeout: Duration::from_secs(1),
        pause: Duration::ZERO,
        interval: Duration::from_secs(1),
        profile,
    }
}

/// Register image for an explicit profile: blocks zero-filled, each point given a value.
fn image(sim: &Sim, p: &Profile, unit: u8) {
    for b in &p.blocks {
        sim.fill(unit, b.fc as u8, b.start, b.count);
    }
    for (i, point) in p.points.iter().enumerate() {
        let raw = match point.ty {
            DataType::F32 | DataType::F64 => Raw::Float(100.5 + i as f64),
            DataType::Str(_) => Raw::Text("SN".into()),
            _ => Raw::Int(100 + i as i128),
        };
        sim.set(
            unit,
            point.fc as u8,
            point.address,
            &value::encode(&raw, point.ty, point.order).unwrap(),
        );
    }
}

fn cycles(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (sim, mut bus, mut devices) = rt.block_on(async {
        let sim = Sim::tcp().await;
        sim.fronius_image();
        let sdm = profile::built_in("sdm630").unwrap();
        let luna = profile::built_in("huawei-luna2000").unwrap();
        image(&sim, &sdm, 2);
        image(&sim, &luna, 3);
        let bus = Bus::new(Transport::parse(&sim.url("tcp")).unwrap());
        let devices = vec![
            Device::new(setup(profile::built_in("sunspec").unwrap(), 1)),
            Device::new(setup(sdm, 2)),
            Device::new(setup(luna, 3)),
        ];
        (sim, bus, devices)
    });
    // Discovery happens on the first poll; it is not part of a cycle.
    rt.block_on(async {
        for d in &mut devices {
            assert!(d.poll(&mut bus).await.ok());
        }
    });
    let mut per_cycle = Vec::new();
    for mode in ["blocks", "one request per value"] {
        if mode != "blocks" {
            for d in &mut devices {
                d.read_per_value();
            }
        }
        sim.clear_log();
        let values: usize = rt.block_on(async {
            let mut n = 0;
            for d in &mut devices {
                n += d.poll(&mut bus).await.values.readings.len();
            }
            n
        });
        per_cycle.push((mode, sim.log().len(), values));
        c.bench_function(&format!("modbus poll cycle, 3 devices: {mode}"), |b| {
            b.iter(|| {
                rt.block_on(async {
                    for d in &mut devices {
                        std::hint::black_box(d.poll(&mut bus).await);
                    }
                })
            })
        });
    }
    for (mode, requests, values) in per_cycle {
        println!("{mode}: {requests} requests per cycle for {values} values");
    }
}

criterion_group!(benches, cycles);
criterion_main!(benches);
