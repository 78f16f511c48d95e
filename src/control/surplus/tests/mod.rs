use super::load::{ChargeMode, LoadKind, LoadSettings, Mode, Runtime};
use super::{Allocator, SurplusSettings};
use crate::control::{Decisions, Driven, Snapshot, State};
use crate::model::{Action, BatteryState, Now, PlugState, Role, WallboxCommand, WallboxState};

/// 2026-06-21 00:00 local (UTC+2), so that tests can speak of times of day.
const MIDNIGHT_UNIX_MS: i64 = 1_782_000_000_000 - (1_782_000_000_000 + 7_200_000) % 86_400_000;

fn at(s: u64) -> Now {
    Now {
        mono_ms: 1_000 + s * 1000,
        unix_ms: MIDNIGHT_UNIX_MS + s as i64 * 1000,
        utc_offset_s: 7200,
    }
}

const H: u64 = 3600;

/// Decides on the power now, without the start average, so each rule shows on its own.
fn instant() -> SurplusSettings {
    SurplusSettings {
        start_average_s: 0.0,
        ..SurplusSettings::default()
    }
}

fn plug_load(name: &str, plug: usize, power_w: u32, priority: i32) -> LoadSettings {
    LoadSettings {
        priority,
        ..LoadSettings::new(name, LoadKind::Switched { plug, power_w })
    }
}

/// A heating rod on three 1 kW relays (plugs 0 to 2) that steps up without delay.
fn rod_load() -> LoadSettings {
    LoadSettings {
        kind: LoadKind::Stepped {
            plugs: vec![0, 1, 2],
            step_w: vec![1000, 1000, 1000],
        },
        on_delay_ms: 0,
        ..plug_load("rod", 0, 0, 0)
    }
}

fn wallbox_load() -> LoadSettings {
    LoadSettings {
        kind: LoadKind::Variable {
            wallbox: 0,
            phases: 1,
            max_a: 16,
        },
        charge_mode: Some(ChargeMode::Pv),
        ..plug_load("car", 0, 0, 0)
    }
}

/// A house whose devices do what they are told: `base_w` of consumption, `pv_w` of PV, and
/// the loads' power when on.
struct House {
    snap: Snapshot,
    loads: Vec<LoadSettings>,
    base_w: f64,
    pv_w: f64,
    /// Positive while discharging.
    battery_w: f64,
    switchings: usize,
}

impl House {
    fn new(alloc: &Allocator, plugs: usize) -> Self {
        let mut snap = Snapshot::new(plugs, 1, 1);
        for p in &mut snap.plugs {
            *p = PlugState {
                on: Some(false),
                power: Some(0.0),
                online: true,
            };
        }
        snap.wallboxes[0] = WallboxState {
            online: true,
            current_a: 6,
            phases: Some(1),
            ..WallboxState::default()
        };
        Self {
            snap,
            loads: alloc.loads().to_vec(),
            base_w: 300.0,
            pv_w: 0.0,
            battery_w: 0.0,
            switchings: 0,
        }
    }

    fn plug_power(&self, plug: usize) -> f64 {
        let mut w = 0.0;
        for l in &self.loads {
            match &l.kind {
                LoadKind::Switched { plug: p, power_w } if *p == plug => w = f64::from(*power_w),
                LoadKind::Stepped { plugs, step_w } => {
                    if let Some(k) = plugs.iter().position(|p| *p == plug) {
                        w = f64::from(step_w[k]);
                    }
                }
                _ => {}
            }
        }
        w
    }

    fn carry_out(&mut self, d: &Decisions) {
        for a in &d.actions {
            self.switchings += 1;
            match *a {
                Action::Plug { plug, on } => {
                    let power = if on { self.plug_power(plug) } else { 0.0 };
                    self.snap.plugs[plug].on = Some(on);
                    self.snap.plugs[plug].power = Some(power);
                }
                Action::Wallbox { command, .. } => {
                    let w = &mut self.snap.wallboxes[0];
                    match command {
                        WallboxCommand::Enable(on) => w.enabled = on,
                        WallboxCommand::Current(a) => w.current_a = a,
                        WallboxCommand::Phases(p) => w.phases = Some(p),
                    }
                    let phases = f64::from(w.phases.unwrap_or(1));
                    w.power = Some(if w.enabled {
                        f64::from(w.current_a) * 230.0 * phases
                    } else {
                        0.0
                    });
                }
                _ => {}
            }
        }
    }

    /// The meter reads, the allocator decides, the devices follow.
    fn second(&mut self, alloc: &mut Allocator, s: u64) -> Decisions {
        let loads: f64 = self.snap.plugs.iter().filter_map(|p| p.power).sum::<f64>()
            + self.snap.wallboxes[0].power.unwrap_or(0.0);
        let grid = self.base_w + loads - self.pv_w - self.battery_w;
        self.snap.power(Role::Grid, 0, grid, at(s));
        self.snap.power(Role::Battery, 1, self.battery_w, at(s));
        let d = alloc.decide(&self.snap, at(s));
        self.carry_out(&d);
        d
    }

    fn run(&mut self, alloc: &mut Allocator, from: u64, to: u64) -> Decisions {
        let mut last = Decisions::default();
        for s in from..=to {
            last = self.second(alloc, s);
        }
        last
    }

    fn on(&self, plug: usize) -> bool {
        self.snap.plugs[plug].on == Some(true)
    }
}

fn reason(d: &Decisions, on: Driven) -> String {
    d.shown
        .iter()
        .find_map(|(o, k, s)| match s {
            State::Text(t) if *o == on && *k == "load_reason" => Some(t.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

#[test]
fn loads_start_by_priority_as_the_surplus_rises_and_stop_in_reverse_order() {
    let loads = vec![
        plug_load("boiler", 0, 2000, 10),
        plug_load("bike", 1, 500, 5),
        plug_load("pool", 2, 1000, 1),
    ];
    let mut alloc = Allocator::new(instant(), loads);
    let mut h = House::new(&alloc, 3);
    h.pv_w = 2500.0; // 2200 W export: the boiler fits, then nothing else
    h.run(&mut alloc, 0, 59);
    assert!(!h.on(0), "waits its minute");
    let d = h.run(&mut alloc, 60, 61);
    assert!(h.on(0) && !h.on(1) && !h.on(2));
    assert_eq!(reason(&d, Driven::Plug(0)), "on: 2200 W of surplus");
    assert_eq!(reason(&d, Driven::Plug(1)), "off: 300 W short");
    h.pv_w = 3400.0; // 1100 W more: the bike (500 W) first, then not the pool (1000 W)
    h.run(&mut alloc, 62, 200);
    assert!(h.on(0) && h.on(1) && !h.on(2));
    h.pv_w = 4500.0;
    h.run(&mut alloc, 201, 300);
    assert!(h.on(2));
    // The sun goes: the pool goes first, then the bike, then the boiler, each after its delay.
    h.pv_w = 3300.0; // 500 W short for the pool
    let d = h.run(&mut alloc, 301, 400);
    assert!(h.on(2), "still within the off delay");
    assert_eq!(
        reason(&d, Driven::Plug(2)),
        "waiting: 500 W short, off in 81 s"
    );
    h.run(&mut alloc, 401, 490);
    assert!(!h.on(2) && h.on(1) && h.on(0));
    h.pv_w = 0.0;
    h.run(&mut alloc, 491, 1000);
    assert!(!h.on(0) && !h.on(1));
}

#[test]
fn a_surplus_swinging_around_the_threshold_does_not_flap() {
    let mut alloc = Allocator::new(instant(), vec![plug_load("boiler", 0, 2000, 0)]);
    let mut h = House::new(&alloc, 1);
    // A cloudy hour: the export swings between 1.5 and 2.7 kW every 20 s.
    for s in 0..3600 {
        h.pv_w = if (s / 20) % 2 == 0 { 2_000.0 } else { 3_000.0 };
        h.second(&mut alloc, s);
    }
    assert!(h.switchings <= 2, "{} switchings", h.switchings);
}

#[test]
fn minimum_on_and_off_times_hold_whatever_the_surplus() {
    let mut load = plug_load("heater", 0, 1000, 0);
    load.min_on_ms = 600_000;
    load.min_off_ms = 300_000;
    load.on_delay_ms = 0;
    load.off_delay_ms = 0;
    let mut alloc = Allocator::new(instant(), vec![load]);
    let mut h = House::new(&alloc, 1);
    h.pv_w = 1500.0;
    h.run(&mut alloc, 0, 1);
    assert!(h.on(0));
    h.pv_w = 0.0;
    let d = h.run(&mut alloc, 2, 100);
    assert!(h.on(0));
    assert!(
        reason(&d, Driven::Plug(0)).contains("minimum on time, 9 min left"),
        "{}",
        reason(&d, Driven::Plug(0))
    );
    h.run(&mut alloc, 101, 602);
    assert!(!h.on(0), "off once its 10 minutes are up");
    h.pv_w = 1500.0;
    h.run(&mut alloc, 603, 880);
    assert!(!h.on(0), "off for at least 5 minutes");
    h.run(&mut alloc, 881, 905);
    assert!(h.on(0));
}

#[test]
fn a_load_switched_by_hand_is_left_alone_until_the_next_day() {
    let mut alloc = Allocator::new(instant(), vec![plug_load("boiler", 0, 2000, 0)]);
    let mut h = House::new(&alloc, 1);
    h.pv_w = 3000.0;
    h.run(&mut alloc, 0, 100);
    assert!(h.on(0));
    // Switched off on the device: the read-back differs from the last command.
    h.snap.plugs[0].on = Some(false);
    h.snap.plugs[0].power = Some(0.0);
    let d = h.second(&mut alloc, 101);
    assert!(
        d.log[0].message.contains("boiler was switched by hand"),
        "{:?}",
        d.log
    );
    let d = h.run(&mut alloc, 102, 20 * H);
    assert!(!h.on(0), "never fought");
    assert_eq!(reason(&d, Driven::Plug(0)), "manual until 00:00");
    // After midnight it is automatic again, from where the device is.
    h.run(&mut alloc, 24 * H, 24 * H + 70);
    assert!(h.on(0));
}

#[test]
fn a_silent_meter_puts_automatic_loads_in_their_safe_state_at_once() {
    let mut alloc = Allocator::new(
        instant(),
        vec![plug_load("boiler", 0, 2000, 0), plug_load("lamp", 1, 10, 0)],
    );
    alloc.set_mode(1, Mode::On);
    let mut h = House::new(&alloc, 2);
    h.pv_w = 3000.0;
    h.run(&mut alloc, 0, 100);
    assert!(h.on(0) && h.on(1));
    // No more readings: 60 s later the boiler is off; the lamp, held on by hand, stays on.
    let mut d = Decisions::default();
    for s in 101..=162 {
        d = alloc.decide(&h.snap.clone(), at(s));
        h.carry_out(&d);
    }
    assert!(!h.on(0) && h.on(1));
    assert_eq!(
        reason(&d, Driven::Plug(0)),
        "off: no meter reading for 62 s"
    );
}

#[test]
fn a_runtime_target_is_topped_up_from_the_grid_before_its_deadline() {
    let mut load = plug_load("boiler", 0, 2000, 0);
    load.runtime = Some(Runtime {
        ms: 2 * H * 1000,
        deadline_ms: 18 * H * 1000,
    });
    let mut alloc = Allocator::new(instant(), vec![load]);
    let mut h = House::new(&alloc, 1);
    // No sun at all: it starts at 15:59 and has its two hours at 17:59.
    h.run(&mut alloc, 15 * H, 15 * H + 58 * 60);
    assert!(!h.on(0));
    let d = h.run(&mut alloc, 15 * H + 58 * 60 + 1, 15 * H + 59 * 60 + 1);
    assert!(h.on(0));
    assert_eq!(
        reason(&d, Driven::Plug(0)),
        "on: 2 h of 2 h left before 18:00, from the grid if need be"
    );
    let d = h.run(&mut alloc, 15 * H + 59 * 60 + 2, 18 * H + 300);
    assert!(!h.on(0), "target met, the grid is not used further");
    let runtime = d.shown.iter().find_map(|(_, k, s)| match s {
        State::Number(v) if *k == "load_runtime_today" => Some(*v),
        _ => None,
    });
    assert_eq!(runtime, Some(120.0));
}

#[test]
fn a_window_and_a_daily_maximum_bound_the_runtime() {
    let mut load = plug_load("pump", 0, 500, 0);
    load.window = Some((10 * H * 1000, 16 * H * 1000));
    load.max_runtime_ms = Some(H * 1000);
    let mut alloc = Allocator::new(instant(), vec![load]);
    let mut h = House::new(&alloc, 1);
    h.pv_w = 2000.0;
    let d = h.run(&mut alloc, 9 * H, 9 * H + 100);
    assert!(!h.on(0));
    assert_eq!(reason(&d, Driven::Plug(0)), "off: outside 10:00–16:00");
    h.run(&mut alloc, 10 * H, 10 * H + 61);
    assert!(h.on(0));
    let d = h.run(&mut alloc, 10 * H + 62, 11 * H + 120);
    assert!(!h.on(0));
    assert_eq!(reason(&d, Driven::Plug(0)), "off: ran its 1 h today");
}

#[test]
fn a_heating_rod_takes_the_steps_that_fit() {
    let rod = LoadSettings {
        off_delay_ms: 0,
        ..rod_load()
    };
    let mut alloc = Allocator::new(instant(), vec![rod]);
    let mut h = House::new(&alloc, 3);
    h.pv_w = 2500.0; // 2200 W export: two steps
    let d = h.run(&mut alloc, 0, 5);
    assert!(h.on(0) && h.on(1) && !h.on(2));
    assert_eq!(
        reason(&d, Driven::Plug(0)),
        "step 2 of 3: 2200 W of surplus"
    );
    h.pv_w = 1500.0;
    h.run(&mut alloc, 6, 10);
    assert!(h.on(0) && !h.on(1) && !h.on(2));
}

#[test]
fn a_heating_rod_waits_out_its_off_delay_on_its_lowest_step() {
    let mut alloc = Allocator::new(instant(), vec![rod_load()]);
    let mut h = House::new(&alloc, 3);
    h.pv_w = 3500.0;
    h.run(&mut alloc, 0, 400);
    assert!(h.on(0) && h.on(1) && h.on(2));
    // A cloud: nothing fits, so one step draws from the grid until the delay is over, not three.
    h.pv_w = 500.0;
    let d = h.run(&mut alloc, 401, 402);
    assert!(h.on(0) && !h.on(1) && !h.on(2));
    assert_eq!(
        reason(&d, Driven::Plug(0)),
        "waiting: 800 W short, off in 3 min"
    );
    h.run(&mut alloc, 403, 581);
    assert!(!h.on(0));
}

#[test]
fn a_wallbox_in_pv_mode_follows_the_surplus_with_evccs_delays() {
    let mut car = wallbox_load();
    car.off_delay_ms = 180_000;
    let mut alloc = Allocator::new(instant(), vec![car]);
    let mut h = House::new(&alloc, 0);
    h.pv_w = 300.0 + 2300.0; // 2300 W: 10 A on one phase
    h.run(&mut alloc, 0, 59);
    assert!(!h.snap.wallboxes[0].enabled, "enable delay: 1 min");
    let d = h.run(&mut alloc, 60, 61);
    assert!(h.snap.wallboxes[0].enabled);
    assert_eq!(h.snap.wallboxes[0].current_a, 10);
    assert_eq!(
        reason(&d, Driven::Wallbox(0)),
        "charging at 10 A: 2300 W of surplus"
    );
    // Less sun: the current follows at once.
    h.pv_w = 300.0 + 1610.0;
    h.run(&mut alloc, 62, 64);
    assert_eq!(h.snap.wallboxes[0].current_a, 7);
    // Below 6 A: it keeps 6 A for the disable delay, then stops.
    h.pv_w = 300.0 + 1000.0;
    let d = h.run(&mut alloc, 65, 200);
    assert!(h.snap.wallboxes[0].enabled);
    assert_eq!(h.snap.wallboxes[0].current_a, 6);
    assert_eq!(
        reason(&d, Driven::Wallbox(0)),
        "waiting: 380 W short, off in 45 s"
    );
    h.run(&mut alloc, 201, 250);
    assert!(!h.snap.wallboxes[0].enabled);
}

#[test]
fn minpv_never_goes_below_6_a_and_now_charges_at_the_maximum() {
    let mut alloc = Allocator::new(instant(), vec![wallbox_load()]);
    alloc.set_charge_mode(0, ChargeMode::MinPv);
    let mut h = House::new(&alloc, 0);
    h.run(&mut alloc, 0, 100);
    assert!(h.snap.wallboxes[0].enabled);
    assert_eq!(h.snap.wallboxes[0].current_a, 6);
    alloc.set_charge_mode(0, ChargeMode::Now);
    h.run(&mut alloc, 101, 102);
    assert_eq!(h.snap.wallboxes[0].current_a, 16);
    alloc.set_charge_mode(0, ChargeMode::Off);
    h.run(&mut alloc, 103, 104);
    assert!(!h.snap.wallboxes[0].enabled);
}

#[test]
fn a_load_that_stops_drawing_on_its_own_leaves_the_surplus_to_the_others() {
    let mut boiler = plug_load("boiler", 0, 2000, 10);
    boiler.on_delay_ms = 0;
    let mut bike = plug_load("bike", 1, 500, 0);
    bike.on_delay_ms = 0;
    let mut alloc = Allocator::new(instant(), vec![boiler, bike]);
    let mut h = House::new(&alloc, 2);
    h.pv_w = 2500.0; // 2200 W: the boiler, not the bike
    h.run(&mut alloc, 0, 30);
    assert!(h.on(0) && !h.on(1));
    // The water is hot: the thermostat opens, the plug stays on and measures 0 W.
    h.loads[0].kind = LoadKind::Switched {
        plug: 0,
        power_w: 0,
    };
    h.snap.plugs[0].power = Some(0.0);
    h.run(&mut alloc, 31, 50);
    assert!(!h.on(1), "not before the boiler has settled");
    h.run(&mut alloc, 51, 70);
    assert!(h.on(0) && h.on(1));
}

#[test]
fn a_wallbox_switches_between_one_phase_and_three_with_its_delay_and_cap() {
    let mut car = wallbox_load();
    car.kind = LoadKind::Variable {
        wallbox: 0,
        phases: 0,
        max_a: 16,
    };
    car.on_delay_ms = 0;
    car.phase_delay_ms = 120_000;
    car.phase_switches_per_hour = 2;
    assert_eq!(car.levels().len(), 1 + 11 + 11);
    assert_eq!(car.charge(11), (1, 16));
    assert_eq!(car.charge(12), (3, 6));
    let mut alloc = Allocator::new(instant(), vec![car]);
    let mut h = House::new(&alloc, 0);
    h.pv_w = 300.0 + 2300.0;
    let d = h.run(&mut alloc, 0, 5);
    assert_eq!(
        (h.snap.wallboxes[0].phases, h.snap.wallboxes[0].current_a),
        (Some(1), 10)
    );
    assert_eq!(
        reason(&d, Driven::Wallbox(0)),
        "charging at 10 A on 1 phase: 2300 W of surplus"
    );
    // Enough for three phases: it goes to 16 A on one at once, to three after its delay.
    h.pv_w = 300.0 + 6900.0;
    h.run(&mut alloc, 6, 100);
    assert_eq!(
        (h.snap.wallboxes[0].phases, h.snap.wallboxes[0].current_a),
        (Some(1), 16)
    );
    h.run(&mut alloc, 101, 130);
    assert_eq!(
        (h.snap.wallboxes[0].phases, h.snap.wallboxes[0].current_a),
        (Some(3), 10)
    );
    // Back to one phase after the delay: the second switch this hour.
    h.pv_w = 300.0 + 2300.0;
    h.run(&mut alloc, 131, 300);
    assert_eq!(
        (h.snap.wallboxes[0].phases, h.snap.wallboxes[0].current_a),
        (Some(1), 10)
    );
    // A third is not allowed within the hour: it stays on one phase at its maximum.
    h.pv_w = 300.0 + 6900.0;
    let d = h.run(&mut alloc, 301, 600);
    assert_eq!(
        (h.snap.wallboxes[0].phases, h.snap.wallboxes[0].current_a),
        (Some(1), 16)
    );
    assert!(
        reason(&d, Driven::Wallbox(0)).ends_with("phase switches capped this hour"),
        "{}",
        reason(&d, Driven::Wallbox(0))
    );
    // An hour after the first switch it may again.
    h.run(&mut alloc, 601, 3900);
    assert_eq!(h.snap.wallboxes[0].phases, Some(3));
}

#[test]
fn a_load_starts_once_the_averaged_surplus_covers_it_too() {
    let mut boiler = plug_load("boiler", 0, 2000, 0);
    boiler.on_delay_ms = 0;
    let mut alloc = Allocator::new(SurplusSettings::default(), vec![boiler]);
    let mut h = House::new(&alloc, 1);
    h.run(&mut alloc, 0, 600);
    // 3 kW of export from one second to the next: the 5-minute average needs a while.
    h.pv_w = 3300.0;
    let d = h.run(&mut alloc, 601, 660);
    assert!(!h.on(0));
    assert!(
        reason(&d, Driven::Plug(0)).ends_with("short on average"),
        "{}",
        reason(&d, Driven::Plug(0))
    );
    h.run(&mut alloc, 661, 1000);
    assert!(h.on(0), "once the average has caught up");
    // Gaps in the clouds of a minute every five do not start it again once it stopped.
    let mut alloc = Allocator::new(
        SurplusSettings::default(),
        vec![plug_load("rod", 0, 2000, 0)],
    );
    let mut h = House::new(&alloc, 1);
    for s in 0..7200 {
        h.pv_w = if s % 300 < 60 { 3300.0 } else { 300.0 };
        h.second(&mut alloc, s);
    }
    assert_eq!(h.switchings, 0);
}

mod battery;
mod prices;
