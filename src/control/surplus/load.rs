//! A load the allocator runs from the surplus: what it is, what limits it, and the power of
//! each of its levels.

use crate::model::devices::{MIN_CURRENT_A, VOLTS};

/// What a load is, and which of Stromwart's devices switch it.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadKind {
    /// A plug or relay, on or off, drawing `power_w` when on (its nominal power, or what the
    /// plug measured while on).
    Switched { plug: usize, power_w: u32 },
    /// A heating rod with power steps: one relay per step, switched on in order, each adding
    /// its power.
    Stepped { plugs: Vec<usize>, step_w: Vec<u32> },
    /// A heating rod whose power is a number on a Modbus device (a control in its profile),
    /// in steps: the power each step adds.
    Setpoint {
        device: usize,
        control: usize,
        step_w: Vec<u32>,
    },
    /// A wallbox: a current from 6 A up to `max_a` on its phases; `phases` 0 switches between
    /// one phase (below) and three (above what one carries).
    Variable {
        wallbox: usize,
        phases: u8,
        max_a: u8,
    },
}

/// What a wallbox does, in evcc's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChargeMode {
    /// Not charging.
    Off,
    /// As fast as it can.
    Now,
    /// At least 6 A, more from the surplus.
    MinPv,
    /// From the surplus only.
    Pv,
}

impl ChargeMode {
    pub const NAMES: &'static [&'static str] = &["off", "now", "minpv", "pv"];

    /// Reads a mode, old spellings included (evcc called pv "smart" in places).
    pub fn parse(s: &str) -> Option<ChargeMode> {
        match s.trim().to_ascii_lowercase().as_str() {
            "off" | "stop" => Some(ChargeMode::Off),
            "now" | "fast" => Some(ChargeMode::Now),
            "minpv" | "min+pv" | "min_pv" => Some(ChargeMode::MinPv),
            "pv" | "smart" | "solar" => Some(ChargeMode::Pv),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ChargeMode::Off => "off",
            ChargeMode::Now => "now",
            ChargeMode::MinPv => "minpv",
            ChargeMode::Pv => "pv",
        }
    }
}

/// What a person set a load to: run it from the surplus, or hold it off or on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Off,
    Auto,
    On,
}

impl Mode {
    pub const NAMES: &'static [&'static str] = &["off", "auto", "on"];

    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "off" => Some(Mode::Off),
            "auto" => Some(Mode::Auto),
            "on" => Some(Mode::On),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Auto => "auto",
            Mode::On => "on",
        }
    }
}

/// A daily minimum runtime: `ms` of running by `deadline_ms` after local midnight, topped up
/// from the grid when the sun did not deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Runtime {
    pub ms: u64,
    pub deadline_ms: u64,
}

impl Runtime {
    /// Whether the runtime fits its day: the deadline inside the window, and the runtime in
    /// the time the window gives before it. Else the setting at fault (`deadline` or
    /// `runtime`) and why.
    pub fn fits(&self, window: Option<(u64, u64)>) -> Result<(), (&'static str, String)> {
        const DAY_MS: u64 = 86_400_000;
        let (start, end) = window.unwrap_or((0, DAY_MS));
        let wraps = start > end;
        let in_window = if wraps {
            self.deadline_ms > start || self.deadline_ms <= end
        } else {
            self.deadline_ms > start && self.deadline_ms <= end
        };
        if !in_window {
            let why = format!(
                "{} is outside the window {}–{}",
                clock(self.deadline_ms),
                clock(start),
                clock(end)
            );
            return Err(("deadline", why));
        }
        let open = if wraps && self.deadline_ms <= end {
            DAY_MS - start + self.deadline_ms
        } else {
            self.deadline_ms - start
        };
        if self.ms > open {
            let why = format!(
                "{} min do not fit between {} and the deadline {} ({} min)",
                self.ms / 60_000,
                clock(start),
                clock(self.deadline_ms),
                open / 60_000
            );
            return Err(("runtime", why));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LoadSettings {
    pub id: String,
    pub name: String,
    pub kind: LoadKind,
    /// Higher is served first.
    pub priority: i32,
    /// Once switched on, it stays on at least this long; once off, it stays off this long.
    pub min_on_ms: u64,
    pub min_off_ms: u64,
    /// How long the surplus must hold (or be missing) before a load goes up (or down): for a
    /// wallbox evcc's enable and disable delays.
    pub on_delay_ms: u64,
    pub off_delay_ms: u64,
    /// Extra surplus needed to start, and deficit allowed before stopping (W): evcc's enable
    /// and disable thresholds.
    pub on_threshold_w: i32,
    pub off_threshold_w: i32,
    pub runtime: Option<Runtime>,
    pub max_runtime_ms: Option<u64>,
    /// Allowed between these local times (ms after midnight; the end may be past midnight,
    /// i.e. smaller than the start).
    pub window: Option<(u64, u64)>,
    /// Once on, never switched off by the allocator (a washing machine mid-programme).
    pub never_off: bool,
    /// Runs only while the home battery holds at least this state of charge (%).
    pub min_soc: Option<f64>,
    /// A wallbox's charge mode; `None` for other loads.
    pub charge_mode: Option<ChargeMode>,
    /// With automatic phases: how long the surplus must call for three phases (or one) before
    /// the wallbox switches, and how often it may switch in an hour.
    pub phase_delay_ms: u64,
    pub phase_switches_per_hour: u32,
}

impl LoadSettings {
    /// A load with the defaults of the configuration: evcc's delays (on after 1 min, off
    /// after 3), no thresholds, no minimum times, no constraints.
    pub fn new(id: &str, kind: LoadKind) -> Self {
        Self {
            id: id.into(),
            name: id.into(),
            kind,
            priority: 0,
            min_on_ms: 0,
            min_off_ms: 0,
            on_delay_ms: 60_000,
            off_delay_ms: 180_000,
            on_threshold_w: 0,
            off_threshold_w: 0,
            runtime: None,
            max_runtime_ms: None,
            window: None,
            never_off: false,
            min_soc: None,
            charge_mode: None,
            phase_delay_ms: 60_000,
            phase_switches_per_hour: 4,
        }
    }

    /// The power of each level, from 0 (off) up. A wallbox's levels are its currents from
    /// 6 A; a heating rod's its steps.
    pub fn levels(&self) -> Vec<u32> {
        match &self.kind {
            LoadKind::Switched { power_w, .. } => vec![0, *power_w],
            LoadKind::Stepped { step_w, .. } | LoadKind::Setpoint { step_w, .. } => {
                let mut levels = vec![0];
                let mut sum = 0;
                for w in step_w {
                    sum += w;
                    levels.push(sum);
                }
                levels
            }
            LoadKind::Variable { .. } => (0..self.charge_levels())
                .map(|l| {
                    let (phases, amps) = self.charge(l);
                    u32::from(amps) * VOLTS * u32::from(phases)
                })
                .collect(),
        }
    }

    fn charge_levels(&self) -> usize {
        let LoadKind::Variable { phases, max_a, .. } = self.kind else {
            return 0;
        };
        let steps = usize::from(max_a.saturating_sub(MIN_CURRENT_A)) + 1;
        1 + steps
            + if phases == 0 {
                self.three_phase_steps()
            } else {
                0
            }
    }

    /// With automatic phases: the three-phase currents that draw more than one phase at its
    /// maximum, so that the levels keep rising.
    fn three_phase_steps(&self) -> usize {
        let LoadKind::Variable { max_a, .. } = self.kind else {
            return 0;
        };
        (MIN_CURRENT_A..=max_a)
            .filter(|a| u32::from(*a) * 3 > u32::from(max_a))
            .count()
    }

    /// A wallbox's phases and current at a level (0 phases: not charging).
    pub fn charge(&self, level: usize) -> (u8, u8) {
        let LoadKind::Variable { phases, max_a, .. } = self.kind else {
            return (0, 0);
        };
        if level == 0 {
            return (0, 0);
        }
        let one_phase = usize::from(max_a.saturating_sub(MIN_CURRENT_A)) + 1;
        if phases != 0 {
            return (phases, MIN_CURRENT_A + (level - 1) as u8);
        }
        if level <= one_phase {
            return (1, MIN_CURRENT_A + (level - 1) as u8);
        }
        let first = max_a - self.three_phase_steps() as u8 + 1;
        (3, first + (level - 1 - one_phase) as u8)
    }

    /// The level at which a wallbox charges `amps` on `phases`.
    pub fn level_of(&self, phases: Option<u8>, amps: u8) -> usize {
        if amps == 0 {
            return 0;
        }
        (1..self.charge_levels())
            .find(|l| {
                let (p, a) = self.charge(*l);
                a == amps && phases.is_none_or(|want| want == p || want == 0)
            })
            .unwrap_or(self.charge_levels().saturating_sub(1))
    }

    /// Whether the local time of day lies in the load's window.
    pub fn in_window(&self, ms_of_day: u64) -> bool {
        match self.window {
            None => true,
            Some((start, end)) if start <= end => (start..end).contains(&ms_of_day),
            Some((start, end)) => ms_of_day >= start || ms_of_day < end,
        }
    }
}

/// `HH:MM` for a time of day in ms.
pub fn clock(ms_of_day: u64) -> String {
    if ms_of_day == 86_400_000 {
        return "24:00".into(); // a deadline at the end of the day, as people write it
    }
    let minutes = ms_of_day / 60_000;
    format!("{:02}:{:02}", minutes / 60 % 24, minutes % 60)
}

/// A time of day read from `HH:MM` (24:00 is the end of the day), in ms.
pub fn parse_clock(text: &str) -> Option<u64> {
    let (h, m) = text.trim().split_once(':')?;
    let (h, m): (u64, u64) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 || h == 24 && m == 0).then(|| (h * 60 + m) * 60_000)
}

/// A span for people: "45 s", "4 min", "1 h 20 min".
pub fn span(ms: u64) -> String {
    let s = ms.div_ceil(1000);
    if s < 120 {
        format!("{s} s")
    } else if s < 3600 {
        format!("{} min", s.div_ceil(60))
    } else {
        let m = s.div_ceil(60);
        match m % 60 {
            0 => format!("{} h", m / 60),
            rest => format!("{} h {rest} min", m / 60),
        }
    }
}
