//! One load's decision: the level it should be at (and why), then the level it may be at now,
//! given its delays and minimum times.

use super::load::{ChargeMode, LoadKind, LoadSettings, Mode, clock, span};

/// What a load should be at now, before delays.
#[derive(Debug, Clone, PartialEq)]
pub struct Want {
    pub level: usize,
    pub why: String,
    /// Acts at once, without the surplus delays: a person's mode, a stale meter, a window that
    /// closed, a runtime target falling due.
    pub urgent: bool,
    /// Drawn from the grid if need be (a mode, a runtime target): not counted against the
    /// surplus.
    pub forced: bool,
}

impl Want {
    fn now(level: usize, why: impl Into<String>) -> Self {
        Self {
            level,
            why: why.into(),
            urgent: true,
            forced: true,
        }
    }
}

/// What the load knows about its day and the house, for [`want`].
pub struct Situation {
    pub stale_for_ms: Option<u64>,
    pub ms_of_day: u64,
    pub runtime_today_ms: u64,
    pub soc: Option<f64>,
    /// With prices known up to the deadline: whether now is among the cheapest slots that
    /// give the runtime still due.
    pub cheapest_now: Option<bool>,
    /// A wallbox's charge plan calls for full power now, for this reason.
    pub plan: Option<String>,
}

/// The highest level whose power fits `free`: a level above the current one needs
/// `on_threshold` more, one at or below it may run `off_threshold` short (the hysteresis
/// that keeps a load from flapping at the edge).
pub fn fit(
    levels: &[u32],
    free: f64,
    current: usize,
    on_threshold: i32,
    off_threshold: i32,
) -> usize {
    let mut best = 0;
    for (l, w) in levels.iter().enumerate().skip(1) {
        let need = if l <= current {
            f64::from(*w) - f64::from(off_threshold)
        } else {
            f64::from(*w) + f64::from(on_threshold)
        };
        if need <= free {
            best = l;
        }
    }
    best
}

/// The level a load should be at now and why, from its mode, its constraints and the free
/// surplus.
pub fn want(
    load: &LoadSettings,
    mode: Mode,
    charge_mode: Option<ChargeMode>,
    current: usize,
    free: f64,
    s: &Situation,
) -> Want {
    let levels = load.levels();
    let top = levels.len() - 1;
    match mode {
        Mode::Off => return Want::now(0, "mode off"),
        Mode::On => return Want::now(top, "mode on"),
        Mode::Auto => {}
    }
    if let Some(ms) = s.stale_for_ms {
        return Want::now(0, format!("no meter reading for {}", span(ms)));
    }
    match charge_mode {
        Some(ChargeMode::Off) => return Want::now(0, "charge mode off"),
        Some(ChargeMode::Now) => return Want::now(top, "charge mode now"),
        Some(ChargeMode::Pv | ChargeMode::MinPv) => {
            if let Some(why) = &s.plan {
                return Want::now(top, why.clone());
            }
        }
        None => {}
    }
    if !load.in_window(s.ms_of_day) {
        let (start, end) = load.window.unwrap_or_default();
        return Want::now(0, format!("outside {}–{}", clock(start), clock(end)));
    }
    if let Some(max) = load.max_runtime_ms.filter(|max| s.runtime_today_ms >= *max) {
        return Want::now(0, format!("ran its {} today", span(max)));
    }
    let th = (load.on_threshold_w, load.off_threshold_w);
    let fits = fit(&levels, free, current, th.0, th.1);
    if let Some(r) = load.runtime {
        let left = r.ms.saturating_sub(s.runtime_today_ms);
        let until = r.deadline_ms.saturating_sub(s.ms_of_day);
        // With prices: in the cheapest slots that give what is left before the deadline.
        if left > 0 && s.ms_of_day < r.deadline_ms && s.cheapest_now == Some(true) {
            return Want::now(
                fits.max(1),
                format!(
                    "{} of {} left before {}, in the cheapest slots",
                    span(left),
                    span(r.ms),
                    clock(r.deadline_ms)
                ),
            );
        }
        // Else when what is left just fits before the deadline, a minute early for the
        // switching itself.
        if left > 0 && s.ms_of_day < r.deadline_ms && until <= left + 60_000 {
            return Want::now(
                fits.max(1),
                format!(
                    "{} of {} left before {}, from the grid if need be",
                    span(left),
                    span(r.ms),
                    clock(r.deadline_ms)
                ),
            );
        }
    }
    if let (Some(min), Some(soc)) = (load.min_soc, s.soc) {
        if soc < min {
            return Want::now(0, format!("battery at {soc:.0} %, needs {min:.0} %"));
        }
    }
    if charge_mode == Some(ChargeMode::MinPv) {
        return Want {
            level: fits.max(1),
            why: "minimum plus surplus".into(),
            urgent: false,
            forced: true,
        };
    }
    let why = if fits > 0 {
        format!("{:.0} W of surplus", free.max(0.0))
    } else {
        let lowest = levels.get(1).copied().unwrap_or(0);
        let short = f64::from(lowest) + f64::from(load.on_threshold_w) - free;
        format!("{short:.0} W short")
    };
    Want {
        level: fits,
        why,
        urgent: false,
        forced: false,
    }
}

/// A load's state in words: "off", "on", "step 2 of 3", "charging at 8 A".
pub fn state(load: &LoadSettings, level: usize) -> String {
    match (&load.kind, level) {
        (_, 0) => "off".into(),
        (LoadKind::Variable { phases: 0, .. }, l) => {
            let (phases, amps) = load.charge(l);
            let s = if phases == 1 { "" } else { "s" };
            format!("charging at {amps} A on {phases} phase{s}")
        }
        (LoadKind::Variable { .. }, l) => format!("charging at {} A", load.charge(l).1),
        (LoadKind::Stepped { step_w, .. } | LoadKind::Setpoint { step_w, .. }, l)
            if step_w.len() > 1 =>
        {
            format!("step {l} of {}", step_w.len())
        }
        _ => "on".into(),
    }
}

/// A change the load is waiting for: going up or down, and since when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    pub up: bool,
    pub since_ms: u64,
}

/// Where a load is, for [`hold`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub level: usize,
    /// When the level last changed between off and on; `None` when not known (before the
    /// allocator switched it), when no minimum time holds it.
    pub since_ms: Option<u64>,
    pub pending: Option<Pending>,
}

/// The level a load may take now: a wanted change waits for its delay (unless urgent) and for
/// the minimum on or off time; a load that never switches off stays on.
pub fn hold(load: &LoadSettings, held: Held, want: &Want, now_ms: u64) -> (Held, String) {
    let current = held.level;
    let now_state = state(load, current);
    if want.level == current {
        let held = Held {
            pending: None,
            ..held
        };
        return (held, format!("{now_state}: {}", want.why));
    }
    let up = want.level > current;
    if load.never_off && want.level == 0 && current > 0 && !want.forced {
        let held = Held {
            pending: None,
            ..held
        };
        return (held, format!("{now_state}: never switched off once on"));
    }
    // A wallbox already charging follows the surplus at once: it changes its current, it
    // does not switch. Going from one phase to three (or back) waits like a switch.
    let switching = current == 0 || want.level == 0;
    let phase_switch = !switching && load.charge(current).0 != load.charge(want.level).0;
    let minimum = if up { load.min_off_ms } else { load.min_on_ms };
    let min_left = match held.since_ms {
        Some(since) if switching => (since + minimum).saturating_sub(now_ms),
        _ => 0,
    };
    let pending = match held.pending {
        Some(p) if p.up == up => p,
        _ => Pending {
            up,
            since_ms: now_ms,
        },
    };
    let delay = if want.urgent || !(switching || phase_switch) {
        0
    } else if phase_switch {
        load.phase_delay_ms
    } else if up {
        load.on_delay_ms
    } else {
        load.off_delay_ms
    };
    let delay_left = (pending.since_ms + delay).saturating_sub(now_ms);
    if min_left == 0 && delay_left == 0 {
        let since_ms = if switching {
            Some(now_ms)
        } else {
            held.since_ms
        };
        let held = Held {
            level: want.level,
            since_ms,
            pending: None,
        };
        return (held, format!("{}: {}", state(load, want.level), want.why));
    }
    if phase_switch {
        // Meanwhile as near as the phases it has allow: 16 A on one phase while three are
        // due, 6 A on three while one is.
        let level = if up {
            highest_on(load, current)
        } else {
            lowest_on(load, current)
        };
        let held = Held {
            level,
            pending: Some(pending),
            ..held
        };
        let to = if up { "three phases" } else { "one phase" };
        let why = format!(
            "{}: {}, {to} in {}",
            state(load, level),
            want.why,
            span(delay_left)
        );
        return (held, why);
    }
    // Waiting to switch off, a car charges at 6 A and a heating rod runs on one step, as
    // evcc does: whatever the delay is for, drawing more than the lowest level from the grid
    // meanwhile serves none of it.
    let level = if !up && want.level == 0 {
        lowest_on(load, current)
    } else {
        current
    };
    let now_state = state(load, level);
    let held = Held {
        level,
        pending: Some(pending),
        ..held
    };
    let why = if min_left >= delay_left {
        let which = if up { "off" } else { "on" };
        format!(
            "{now_state}: {}; minimum {which} time, {} left",
            want.why,
            span(min_left)
        )
    } else {
        let to = if up { "on" } else { "off" };
        format!("waiting: {}, {to} in {}", want.why, span(delay_left))
    };
    (held, why)
}

/// The lowest and highest levels on the phases a load has now (all levels but a wallbox's).
fn lowest_on(load: &LoadSettings, current: usize) -> usize {
    same_phases(load, current).min().unwrap_or(current)
}

fn highest_on(load: &LoadSettings, current: usize) -> usize {
    same_phases(load, current).max().unwrap_or(current)
}

fn same_phases(load: &LoadSettings, current: usize) -> impl Iterator<Item = usize> + '_ {
    let phases = load.charge(current).0;
    (1..load.levels().len()).filter(move |l| load.charge(*l).0 == phases)
}
