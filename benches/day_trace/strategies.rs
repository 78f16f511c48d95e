//! The three ways to run the loads: Stromwart's allocator, a baseline made the way evcc works,
//! and a bound no strategy can beat.

use stromwart::control::Snapshot;
use stromwart::control::surplus::load::{LoadKind, LoadSettings};
use stromwart::control::surplus::{Allocator, SurplusSettings};
use stromwart::model::{Action, Now, PlugState, Role, WallboxCommand, WallboxState};

use super::day::{Day, SECONDS};
use super::sim::{Devices, PLUGS, Tally};

/// 2026-06-21 00:00 in Berlin (UTC+2), so that windows and deadlines are local times.
const MIDNIGHT_UNIX_MS: i64 = 1_781_992_800_000;

fn now(t: u64) -> Now {
    Now {
        mono_ms: 1_000 + t * 1000,
        unix_ms: MIDNIGHT_UNIX_MS + t as i64 * 1000,
        utc_offset_s: 7200,
    }
}

fn grid(t: u64, day: &Day, draws: &[f64]) -> f64 {
    day.base_w[t as usize] + draws.iter().sum::<f64>() - day.pv_w[t as usize]
}

/// What each plug measures: its share of its load's draw.
fn plug_power(loads: &[(LoadSettings, f64)], draws: &[f64], plug: usize, d: &Devices) -> f64 {
    for (i, (l, _)) in loads.iter().enumerate() {
        match &l.kind {
            LoadKind::Switched { plug: p, .. } if *p == plug => return draws[i],
            LoadKind::Stepped { plugs, step_w } => {
                if let Some(k) = plugs.iter().position(|p| *p == plug) {
                    let on = d.plugs[plug] && draws[i] > 0.0;
                    return if on { f64::from(step_w[k]) } else { 0.0 };
                }
            }
            _ => {}
        }
    }
    0.0
}

/// Stromwart's allocator, asked every second with the meter's reading and the devices'
/// read-backs, as the bridge asks it.
pub fn allocator(day: &Day, loads: &[(LoadSettings, f64)]) -> Tally {
    let mut settings: Vec<LoadSettings> = loads.iter().map(|(l, _)| l.clone()).collect();
    let mut surplus = SurplusSettings::default();
    if let Some([average_s, on_s, off_s]) = variant() {
        surplus.start_average_s = average_s as f64;
        for l in &mut settings {
            l.on_delay_ms = on_s * 1000;
            l.off_delay_ms = off_s * 1000;
        }
    }
    let mut alloc = Allocator::new(surplus, settings);
    let mut house = Snapshot::new(PLUGS, 1, 0);
    let mut devices = Devices::new(loads.len());
    let mut tally = Tally::new(loads.len());
    for t in 0..SECONDS as u64 {
        let draws = devices.draws(loads);
        house.power(Role::Grid, 0, grid(t, day, &draws), now(t));
        for p in 0..PLUGS {
            house.plugs[p] = PlugState {
                on: Some(devices.plugs[p]),
                power: Some(plug_power(loads, &draws, p, &devices)),
                online: true,
            };
        }
        house.wallboxes[0] = WallboxState {
            enabled: devices.wallbox_on,
            current_a: devices.wallbox_a,
            phases: Some(1),
            power: Some(draws[3]),
            online: true,
            ..WallboxState::default()
        };
        for a in alloc.decide(&house, now(t)).actions {
            devices.apply(a);
        }
        tally.second(t, day, loads, &mut devices);
    }
    tally
}

/// `DAY_TRACE_VARIANT=AVERAGE,ON,OFF` (seconds): the allocator with another start average and
/// every load's enable and disable delays changed, for the variants in `docs/benchmarks.md`.
fn variant() -> Option<[u64; 3]> {
    let text = std::env::var("DAY_TRACE_VARIANT").ok()?;
    let seconds: Vec<u64> = text
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    match seconds[..] {
        [a, on, off] => Some([a, on, off]),
        _ => panic!("DAY_TRACE_VARIANT={text}: give three whole seconds, AVERAGE,ON,OFF"),
    }
}

/// The way evcc works: a decision every 30 s for one load at a time, in turn; a load starts
/// once the surplus has covered it for the enable delay and stops once it has been short for
/// the disable delay (the same thresholds and delays as the allocator's loads); the surplus it
/// sees is the export plus what that load draws. A heating rod is one switch (evcc has no power
/// steps, #33677). Runtime targets start from the grid when due, as the allocator's do.
pub fn baseline(day: &Day, loads: &[(LoadSettings, f64)]) -> Tally {
    let mut devices = Devices::new(loads.len());
    let mut tally = Tally::new(loads.len());
    let mut covered_since: Vec<Option<u64>> = vec![None; loads.len()];
    let mut short_since: Vec<Option<u64>> = vec![None; loads.len()];
    let mut runtime_s = vec![0u64; loads.len()];
    let mut turn = 0;
    for t in 0..SECONDS as u64 {
        let draws = devices.draws(loads);
        if t % 30 == 0 {
            let i = turn % loads.len();
            turn += 1;
            let (l, _) = &loads[i];
            let surplus = -grid(t, day, &draws) + draws[i];
            let top = f64::from(*l.levels().last().unwrap_or(&0));
            let start_w = match l.kind {
                LoadKind::Variable { .. } => f64::from(l.levels()[1]),
                _ => top,
            };
            let on = devices.level(l) > 0;
            let ms_of_day = t * 1000;
            let due = l.runtime.is_some_and(|r| {
                let left = r.ms.saturating_sub(runtime_s[i] * 1000);
                left > 0 && ms_of_day < r.deadline_ms && r.deadline_ms - ms_of_day <= left + 60_000
            });
            let allowed = l.in_window(ms_of_day);
            if surplus >= start_w + f64::from(l.on_threshold_w) {
                covered_since[i].get_or_insert(t);
                short_since[i] = None;
            } else if surplus < start_w - f64::from(l.off_threshold_w) {
                short_since[i].get_or_insert(t);
                covered_since[i] = None;
            }
            let start = covered_since[i].is_some_and(|s| t >= s + l.on_delay_ms / 1000);
            let stop = short_since[i].is_some_and(|s| t >= s + l.off_delay_ms / 1000);
            let want = if due {
                true
            } else if !allowed {
                false
            } else if on {
                !stop
            } else {
                start
            };
            for a in switch(l, want, surplus, &devices) {
                devices.apply(a);
            }
        }
        for (i, (l, _)) in loads.iter().enumerate() {
            if devices.level(l) > 0 {
                runtime_s[i] += 1;
            }
        }
        tally.second(t, day, loads, &mut devices);
    }
    tally
}

/// The actions that put a load on (all of it, or a wallbox at what the surplus pays) or off.
fn switch(l: &LoadSettings, on: bool, surplus: f64, d: &Devices) -> Vec<Action> {
    match &l.kind {
        LoadKind::Switched { plug, .. } => vec![Action::Plug { plug: *plug, on }],
        LoadKind::Stepped { plugs, .. } => plugs
            .iter()
            .map(|p| Action::Plug { plug: *p, on })
            .collect(),
        LoadKind::Setpoint { .. } => Vec::new(),
        LoadKind::Variable { wallbox, max_a, .. } => {
            if !on {
                return vec![Action::Wallbox {
                    wallbox: *wallbox,
                    command: WallboxCommand::Enable(false),
                }];
            }
            let amps = (surplus / 230.0).floor().clamp(6.0, f64::from(*max_a)) as u8;
            let mut out = vec![Action::Wallbox {
                wallbox: *wallbox,
                command: WallboxCommand::Current(amps),
            }];
            if !d.wallbox_on {
                out.push(Action::Wallbox {
                    wallbox: *wallbox,
                    command: WallboxCommand::Enable(true),
                });
            }
            out
        }
    }
}
