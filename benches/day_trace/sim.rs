//! The devices and what they do when told, second by second, and the figures of a day.

use stromwart::control::surplus::load::{LoadKind, LoadSettings, Runtime};
use stromwart::model::{Action, WallboxCommand};

use super::day::Day;

const MIN: u64 = 60_000;

/// The loads of the day, as the allocator is configured for them, with the energy each can
/// take before it stops drawing on its own (the water is hot, the battery full).
pub fn loads() -> Vec<(LoadSettings, f64)> {
    let base = |id: &str, kind: LoadKind, priority: i32| LoadSettings {
        priority,
        min_on_ms: 5 * MIN,
        min_off_ms: 5 * MIN,
        ..LoadSettings::new(id, kind)
    };
    let mut boiler = base(
        "boiler",
        LoadKind::Switched {
            plug: 0,
            power_w: 2000,
        },
        10,
    );
    boiler.min_on_ms = 10 * MIN;
    boiler.runtime = Some(Runtime {
        ms: 120 * MIN,
        deadline_ms: 18 * 60 * MIN,
    });
    let mut bike = base(
        "bike",
        LoadKind::Switched {
            plug: 1,
            power_w: 500,
        },
        5,
    );
    bike.window = Some((8 * 60 * MIN, 20 * 60 * MIN));
    let rod = base(
        "rod",
        LoadKind::Stepped {
            plugs: vec![2, 3, 4],
            step_w: vec![1000, 1000, 1000],
        },
        1,
    );
    let mut car = base(
        "car",
        LoadKind::Variable {
            wallbox: 0,
            phases: 1,
            max_a: 16,
        },
        3,
    );
    car.charge_mode = Some(stromwart::control::surplus::load::ChargeMode::Pv);
    car.min_on_ms = 0;
    car.min_off_ms = 0;
    vec![
        (boiler, 6_000.0),
        (bike, 1_000.0),
        (rod, 5_000.0),
        (car, 10_000.0),
    ]
}

pub const PLUGS: usize = 5;

/// What the devices are set to, and what each load has taken today.
#[derive(Clone)]
pub struct Devices {
    pub plugs: [bool; PLUGS],
    pub wallbox_on: bool,
    pub wallbox_a: u8,
    pub energy_wh: Vec<f64>,
}

impl Devices {
    pub fn new(n: usize) -> Self {
        Self {
            plugs: [false; PLUGS],
            wallbox_on: false,
            wallbox_a: 6,
            energy_wh: vec![0.0; n],
        }
    }

    pub fn apply(&mut self, action: Action) {
        match action {
            Action::Plug { plug, on } => self.plugs[plug] = on,
            Action::Wallbox { command, .. } => match command {
                WallboxCommand::Enable(on) => self.wallbox_on = on,
                WallboxCommand::Current(0) => self.wallbox_on = false,
                WallboxCommand::Current(a) => self.wallbox_a = a,
                WallboxCommand::Phases(_) => {}
            },
            _ => {}
        }
    }

    /// The level each load is switched to (drawing or not).
    pub fn level(&self, load: &LoadSettings) -> usize {
        match &load.kind {
            LoadKind::Switched { plug, .. } => usize::from(self.plugs[*plug]),
            LoadKind::Stepped { plugs, .. } => plugs.iter().take_while(|p| self.plugs[**p]).count(),
            LoadKind::Variable { .. } => {
                if self.wallbox_on {
                    usize::from(self.wallbox_a - 5)
                } else {
                    0
                }
            }
            // The day's loads are switched by relays only.
            LoadKind::Setpoint { .. } => 0,
        }
    }

    /// What each load draws now: its level's power until it has taken its energy.
    pub fn draws(&self, loads: &[(LoadSettings, f64)]) -> Vec<f64> {
        loads
            .iter()
            .enumerate()
            .map(|(i, (l, cap))| {
                if self.energy_wh[i] >= *cap {
                    return 0.0;
                }
                match &l.kind {
                    LoadKind::Stepped { plugs, step_w } => plugs
                        .iter()
                        .zip(step_w)
                        .filter(|(p, _)| self.plugs[**p])
                        .map(|(_, w)| f64::from(*w))
                        .sum(),
                    _ => f64::from(l.levels()[self.level(l)]),
                }
            })
            .collect()
    }
}

/// The figures of one day and strategy.
#[derive(Default)]
pub struct Tally {
    pub pv_wh: f64,
    pub self_wh: f64,
    pub import_wh: f64,
    pub switchings: Vec<u32>,
    pub violations: u32,
    /// Seconds on before each load's deadline, for its runtime target.
    pub runtime_s: Vec<u64>,
    /// What each load took over the day, Wh.
    pub energy_wh: Vec<f64>,
    last_level: Vec<usize>,
    last_switch_s: Vec<Option<u64>>,
}

impl Tally {
    pub fn new(n: usize) -> Self {
        Self {
            switchings: vec![0; n],
            runtime_s: vec![0; n],
            energy_wh: vec![0.0; n],
            last_level: vec![0; n],
            last_switch_s: vec![None; n],
            ..Self::default()
        }
    }

    /// One second of the day: energies, and every switch on or off checked against the load's
    /// minimum times.
    pub fn second(&mut self, t: u64, day: &Day, loads: &[(LoadSettings, f64)], d: &mut Devices) {
        let draws = d.draws(loads);
        let used = day.base_w[t as usize] + draws.iter().sum::<f64>();
        let pv = day.pv_w[t as usize];
        self.pv_wh += pv / 3600.0;
        self.self_wh += pv.min(used) / 3600.0;
        self.import_wh += (used - pv).max(0.0) / 3600.0;
        for (i, (l, _)) in loads.iter().enumerate() {
            d.energy_wh[i] += draws[i] / 3600.0;
            self.energy_wh[i] += draws[i] / 3600.0;
            let level = d.level(l);
            let was = self.last_level[i];
            if (level > 0) != (was > 0) {
                self.switchings[i] += 1;
                let minimum = if level > 0 { l.min_off_ms } else { l.min_on_ms } / 1000;
                if self.last_switch_s[i].is_some_and(|at| t < at + minimum) {
                    self.violations += 1;
                }
                self.last_switch_s[i] = Some(t);
            }
            self.last_level[i] = level;
            if level > 0 && l.runtime.is_some_and(|r| t * 1000 < r.deadline_ms) {
                self.runtime_s[i] += 1;
            }
        }
    }

    /// Runtime targets met, of those set.
    pub fn targets(&self, loads: &[(LoadSettings, f64)]) -> (u32, u32) {
        let mut met = 0;
        let mut set = 0;
        for (i, (l, _)) in loads.iter().enumerate() {
            if let Some(r) = l.runtime {
                set += 1;
                if self.runtime_s[i] * 1000 >= r.ms {
                    met += 1;
                }
            }
        }
        (met, set)
    }
}
