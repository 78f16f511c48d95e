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
