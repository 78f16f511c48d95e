//! The PV surplus allocator: one controller that runs plugs, heating rods and wallboxes from
//! what the house would otherwise export.
//!
//! On every decision it works out the power free for the loads it runs (the export, plus what
//! those loads draw now, plus the battery's charging once the battery has its priority state of
//! charge), then serves the loads from the highest priority down, each taking the highest
//! level that fits. Lower priorities therefore lose first when the surplus falls. A change
//! waits for its delay and for the load's minimum on or off time, and while a load waits to go
//! up its power stays reserved, so a lower one does not start only to be stopped again: the
//! total never oscillates. A load someone switched by hand is left alone until the configured
//! time; a silent meter puts every load in automatic mode into its safe state (off).

mod devices;
pub mod load;
pub mod plan;
pub mod step;
#[cfg(test)]
mod tests;

use crate::control::prices::among_cheapest;
use devices::phase_cap;
use load::{ChargeMode, LoadKind, LoadSettings, Mode};
use plan::{Plan, Progress};
use step::{Held, Situation, hold, want};

use super::{Decisions, Driven, Level, Record, Snapshot, State};
use crate::model::time::{local_day, local_ms_of_day};
use crate::model::{Now, Role};

/// A gap between decisions longer than this is not counted as runtime.
const MAX_STEP_MS: u64 = 10_000;
/// A device's read-back may lag its command by a poll or two before it counts as a change
/// made by hand.
pub(super) const READ_BACK_GRACE_MS: u64 = 15_000;
/// How long a load runs at a level before what it measures counts rather than its nominal
/// power: a charger ramps up, a heater's relay bounces.
const SETTLE_MS: u64 = 60_000;

#[derive(Debug, Clone, PartialEq)]
pub struct SurplusSettings {
    /// No grid reading for this long: every load in automatic mode goes to its safe state.
    pub stale_ms: u64,
    /// Below this state of charge the battery charges first: its charging is not offered.
    pub priority_soc: Option<f64>,
    /// Above this state of charge a running load may ride through a cloud on the battery.
    pub buffer_soc: Option<f64>,
    /// How long a load switched by hand stays manual; `None`: until the next local midnight.
    pub manual_ms: Option<u64>,
    /// A load starts only once the free power averaged over about this many seconds covers it
    /// too (an exponential average; 0: the power now only), so that passing gaps in the
    /// clouds do not start it every few minutes.
    pub start_average_s: f64,
    /// Hold the home battery while a car charges fast (mode now), so that the car does not
    /// empty it.
    pub hold_battery: bool,
}

impl Default for SurplusSettings {
    fn default() -> Self {
        Self {
            stale_ms: 60_000,
            priority_soc: None,
            buffer_soc: None,
            manual_ms: None,
            hold_battery: false,
            start_average_s: 300.0,
        }
    }
}

/// What the allocator remembers of one load.
#[derive(Debug, Clone)]
pub(super) struct Memory {
    held: Held,
    mode: Mode,
    charge_mode: Option<ChargeMode>,
    /// Unix ms until which a change made by hand is respected.
    manual_until: Option<i64>,
    commanded_at_ms: u64,
    runtime_today_ms: u64,
    energy_today_wh: f64,
    /// The device has reported once, so its state is known.
    seen: bool,
    /// It runs because it must (a mode, a runtime target), perhaps from the grid: once that
    /// ends it stops at once rather than after the surplus delay.
    forced: bool,
    /// When a wallbox last switched between one phase and three (monotonic ms), for the cap.
    phase_switches: Vec<u64>,
    /// A wallbox's charge plan in force, and the time of day a new plan is due by.
    plan: Option<Plan>,
    plan_by_ms: u64,
}

/// A new plan is due by 07:00 unless set otherwise.
const PLAN_BY_MS: u64 = 7 * 3_600_000;

#[derive(Debug)]
pub struct Allocator {
    settings: SurplusSettings,
    loads: Vec<LoadSettings>,
    memory: Vec<Memory>,
    day: Option<i64>,
    last_ms: Option<u64>,
    /// The modes the batteries had when a fast charge began, while they are held.
    held_batteries: Option<Vec<&'static str>>,
    /// The free power averaged over the last minutes, so that a load starts on a surplus that
    /// lasts rather than on every gap in the clouds.
    free_avg: Option<f64>,
    last_step_ms: u64,
}

impl Allocator {
    pub fn new(settings: SurplusSettings, loads: Vec<LoadSettings>) -> Self {
        let memory = loads
            .iter()
            .map(|l| Memory {
                held: Held {
                    level: 0,
                    since_ms: None,
                    pending: None,
                },
                forced: false,
                mode: Mode::Auto,
                charge_mode: l.charge_mode,
                manual_until: None,
                commanded_at_ms: 0,
                runtime_today_ms: 0,
                energy_today_wh: 0.0,
                seen: false,
                phase_switches: Vec::new(),
                plan: None,
                plan_by_ms: PLAN_BY_MS,
            })
            .collect();
        Self {
            settings,
            loads,
            memory,
            day: None,
            last_ms: None,
            held_batteries: None,
            free_avg: None,
            last_step_ms: 0,
        }
    }

    pub fn loads(&self) -> &[LoadSettings] {
        &self.loads
    }

    pub fn mode(&self, load: usize) -> Option<Mode> {
        self.memory.get(load).map(|m| m.mode)
    }

    pub fn charge_mode(&self, load: usize) -> Option<ChargeMode> {
        self.memory.get(load).and_then(|m| m.charge_mode)
    }

    /// A mode set by a person: it ends a manual hold.
    pub fn set_mode(&mut self, load: usize, mode: Mode) {
        if let Some(m) = self.memory.get_mut(load) {
            m.mode = mode;
            m.manual_until = None;
        }
    }

    pub fn set_charge_mode(&mut self, load: usize, mode: ChargeMode) {
        if let Some(m) = self.memory.get_mut(load) {
            m.charge_mode = Some(mode);
            m.manual_until = None;
        }
    }

    /// Settings changed from Home Assistant: priority, minimum times, the runtime target (its
    /// deadline stays as configured; 0 drops the target).
    pub fn set_priority(&mut self, load: usize, priority: i32) {
        if let Some(l) = self.loads.get_mut(load) {
            l.priority = priority;
        }
    }

    pub fn set_min_times(&mut self, load: usize, min_on_ms: Option<u64>, min_off_ms: Option<u64>) {
        if let Some(l) = self.loads.get_mut(load) {
            l.min_on_ms = min_on_ms.unwrap_or(l.min_on_ms);
            l.min_off_ms = min_off_ms.unwrap_or(l.min_off_ms);
        }
    }

    /// A new runtime target or deadline, refused (with the reason) when it does not fit the
    /// load's day.
    pub fn set_runtime(
        &mut self,
        load: usize,
        ms: Option<u64>,
        deadline_ms: Option<u64>,
    ) -> Result<(), String> {
        let Some(l) = self.loads.get_mut(load) else {
            return Err("no such load".into());
        };
        let Some(r) = l.runtime else {
            return Err("this load has no runtime target".into());
        };
        let new = load::Runtime {
            ms: ms.unwrap_or(r.ms),
            deadline_ms: deadline_ms.unwrap_or(r.deadline_ms),
        };
        new.fits(l.window).map_err(|(_, why)| why)?;
        l.runtime = Some(new);
        Ok(())
    }

    /// A wallbox's charge plan (met or missed, it is gone) and the time a plan is due by.
    pub fn plan(&self, load: usize) -> (Option<Plan>, u64) {
        self.memory
            .get(load)
            .map_or((None, PLAN_BY_MS), |m| (m.plan, m.plan_by_ms))
    }

    /// The energy of a wallbox's plan: 0 drops it; a plan in force keeps what it charged.
    pub fn set_plan(&mut self, load: usize, energy_wh: f64) {
        if let Some(m) = self.memory.get_mut(load) {
            m.plan = match m.plan {
                _ if energy_wh <= 0.0 => None,
                Some(p) => Some(Plan { energy_wh, ..p }),
                None => Some(Plan::new(energy_wh, m.plan_by_ms)),
            };
        }
    }

    /// The time a plan is due by; a plan in force gets its new deadline.
    pub fn set_plan_time(&mut self, load: usize, by_ms: u64) {
        if let Some(m) = self.memory.get_mut(load) {
            m.plan_by_ms = by_ms;
            if let Some(p) = m.plan.as_mut() {
                p.by_ms = by_ms;
                p.deadline_unix_ms = None;
            }
        }
    }

    /// A plan saved by an earlier run.
    pub fn restore_plan(&mut self, load: usize, plan: Plan) {
        if let Some(m) = self.memory.get_mut(load) {
            m.plan_by_ms = plan.by_ms;
            m.plan = (plan.energy_wh > 0.0).then_some(plan);
        }
    }

    /// Where a wallbox's plan stands; a plan met or missed ends here, with a log line. Gives
    /// the reason to charge at full power now, if the plan calls for it.
    fn follow_plan(
        &mut self,
        i: usize,
        house: &Snapshot,
        now: Now,
        d: &mut Decisions,
    ) -> Option<String> {
        let full_w = self.loads[i].levels().last().copied().map(f64::from)?;
        let name = self.loads[i].name.clone();
        let m = &mut self.memory[i];
        let plan = m.plan.as_mut()?;
        let progress = plan::progress(plan, full_w, &house.prices, now);
        let (wh, of, by) = (
            plan.charged_wh / 1000.0,
            plan.energy_wh / 1000.0,
            load::clock(plan.by_ms),
        );
        let (level, message) = match progress {
            Progress::Met => (
                Level::Info,
                format!("{name}: charge plan met, {of:.1} kWh before {by}."),
            ),
            Progress::Missed => (
                Level::Warn,
                format!("{name}: charge plan missed, {wh:.1} of {of:.1} kWh by {by}."),
            ),
            Progress::Due { .. } => return plan::full_power(&progress, full_w, plan.by_ms),
        };
        m.plan = None;
        d.log.push(Record { level, message });
        None
    }

    /// A person switched the load's device (from Home Assistant): the allocator leaves it
    /// alone until the configured time.
    pub fn manual(&mut self, load: usize, now: Now) {
        let until = self.manual_until(now);
        if let Some(m) = self.memory.get_mut(load) {
            m.manual_until = Some(until);
        }
    }

    /// The load a plug or wallbox belongs to.
    pub fn load_of(&self, device: Driven) -> Option<usize> {
        self.loads.iter().position(|l| match (&l.kind, device) {
            (LoadKind::Switched { plug, .. }, Driven::Plug(p)) => *plug == p,
            (LoadKind::Stepped { plugs, .. }, Driven::Plug(p)) => plugs.contains(&p),
            (LoadKind::Variable { wallbox, .. }, Driven::Wallbox(w)) => *wallbox == w,
            (LoadKind::Setpoint { device, .. }, Driven::Device(d)) => *device == d,
            _ => false,
        })
    }

    fn manual_until(&self, now: Now) -> i64 {
        match self.settings.manual_ms {
            Some(ms) => now.unix_ms + ms as i64,
            None => now.unix_ms + (86_400_000 - local_ms_of_day(now)) as i64,
        }
    }

    pub fn decide(&mut self, house: &Snapshot, now: Now) -> Decisions {
        let mut d = Decisions::default();
        self.count(house, now);
        self.notice_hands(house, now, &mut d);
        let stale_for_ms = match house.age_ms(Role::Grid, now) {
            Some(age) if age <= self.settings.stale_ms => None,
            other => Some(other.unwrap_or(self.settings.stale_ms)),
        };
        let soc = soc(house);
        let mut free = self.available(house, now, soc);
        let step_s = self.last_step_ms as f64 / 1000.0;
        let avg = match self.free_avg {
            Some(a) if self.settings.start_average_s > 0.0 => {
                a + (free - a) * (step_s / self.settings.start_average_s).min(1.0)
            }
            _ => free,
        };
        self.free_avg = Some(avg);
        let mut start_free = free.min(avg);
        let mut order: Vec<usize> = (0..self.loads.len()).collect();
        order.sort_by_key(|i| std::cmp::Reverse(self.loads[*i].priority));
        let mut allocated = 0.0;
        for i in order {
            let load = &self.loads[i];
            let m = &self.memory[i];
            if m.manual_until.is_some_and(|until| now.unix_ms < until) {
                let until = local_clock(m.manual_until.unwrap_or_default(), now);
                self.show(i, format!("manual until {until}"), &mut d);
                continue;
            }
            let cheapest_now = load.runtime.and_then(|r| {
                let now_s = now.unix_ms / 1000;
                let midnight_s = now_s - (local_ms_of_day(now) / 1000) as i64;
                let left_s = (r.ms.saturating_sub(m.runtime_today_ms) / 1000) as i64;
                let until_s = midnight_s + (r.deadline_ms / 1000) as i64;
                among_cheapest(&house.prices, now_s, until_s, left_s)
            });
            let plan = self.follow_plan(i, house, now, &mut d);
            let m = &self.memory[i];
            let load = &self.loads[i];
            let situation = Situation {
                plan,
                stale_for_ms,
                ms_of_day: local_ms_of_day(now),
                runtime_today_ms: m.runtime_today_ms,
                soc,
                cheapest_now,
            };
            let seen_free = if m.held.level == 0 { start_free } else { free };
            let mut wanted = want(
                load,
                m.mode,
                m.charge_mode,
                m.held.level,
                seen_free,
                &situation,
            );
            if seen_free < free && wanted.level == 0 && !wanted.urgent {
                let now_fits = want(load, m.mode, m.charge_mode, 0, free, &situation);
                if now_fits.level > 0 {
                    wanted.why = format!("{} on average", wanted.why);
                }
            }
            if m.forced && !wanted.forced && wanted.level < m.held.level {
                wanted.urgent = true;
            }
            let forced = wanted.forced;
            if let Some(held_to) = phase_cap(load, m, wanted.level, now) {
                wanted.level = held_to;
                wanted.why = format!("{}; phase switches capped this hour", wanted.why);
            }
            let (held, why) = hold(load, m.held, &wanted, now.mono_ms);
            let levels = load.levels();
            let nominal = f64::from(levels[held.level]);
            let settled = held.level > 0
                && held.level == m.held.level
                && held
                    .since_ms
                    .is_some_and(|since| now.mono_ms >= since + SETTLE_MS);
            let reserved = match (held.pending, self.measured(i, house)) {
                (Some(p), _) if p.up => f64::from(levels[wanted.level.max(held.level)]),
                // A boiler whose thermostat opened, a full car: on, but drawing less than its
                // level; what it leaves is free for the others.
                (_, Some(w)) if settled => w.clamp(0.0, nominal),
                _ => nominal,
            };
            free -= reserved;
            start_free -= reserved;
            allocated += reserved;
            if held.level != self.memory[i].held.level {
                let from = self.memory[i].held.level;
                let (was, is) = (load.charge(from).0, load.charge(held.level).0);
                if was > 0 && is > 0 && was != is {
                    let switches = &mut self.memory[i].phase_switches;
                    switches.retain(|at| now.mono_ms < at + 3_600_000);
                    switches.push(now.mono_ms);
                }
                self.command(i, from, held.level, &mut d);
                self.memory[i].commanded_at_ms = now.mono_ms;
            }
            self.memory[i].held = held;
            self.memory[i].forced = forced && held.level > 0;
            self.show(i, why, &mut d);
        }
        self.hold_batteries(house, &mut d);
        d.states
            .push(("surplus_allocated", State::Number(allocated)));
        d.states
            .push(("surplus_free", State::Number(free.max(0.0))));
        d
    }

    /// The power free for the loads: the export, plus what the loads Stromwart runs draw now,
    /// plus the battery's charging once it holds its priority state of charge, minus its
    /// discharging unless it is above its buffer state of charge.
    fn available(&self, house: &Snapshot, now: Now, soc: Option<f64>) -> f64 {
        let grid = house.sum(Role::Grid, now).unwrap_or(0.0);
        let ours: f64 = (0..self.loads.len())
            .filter(|i| self.memory[*i].manual_until.is_none())
            .map(|i| self.drawing(i, house))
            .sum();
        let battery = house.sum(Role::Battery, now).unwrap_or(0.0);
        let mut free = ours - grid;
        if battery < 0.0
            && self
                .settings
                .priority_soc
                .is_none_or(|p| soc.is_some_and(|s| s >= p))
        {
            free -= battery; // charging: the loads may take it
        }
        if battery > 0.0
            && !self
                .settings
                .buffer_soc
                .is_some_and(|b| soc.is_some_and(|s| s > b))
        {
            free -= battery; // discharging into the loads is not surplus
        }
        free
    }

    /// What a load draws now: what its devices measure, else its level's nominal power.
    fn drawing(&self, i: usize, house: &Snapshot) -> f64 {
        let nominal = f64::from(self.loads[i].levels()[self.memory[i].held.level]);
        self.measured(i, house).unwrap_or(nominal)
    }

    /// What a load's devices measure, where they do.
    fn measured(&self, i: usize, house: &Snapshot) -> Option<f64> {
        match &self.loads[i].kind {
            LoadKind::Switched { plug, .. } => house.plugs.get(*plug).and_then(|p| p.power),
            LoadKind::Stepped { plugs, .. } => plugs
                .iter()
                .map(|p| house.plugs.get(*p).and_then(|s| s.power))
                .sum(),
            LoadKind::Variable { wallbox, .. } => {
                house.wallboxes.get(*wallbox).and_then(|w| w.power)
            }
            LoadKind::Setpoint { .. } => None,
        }
    }

    /// Runtime and energy today; a new local day starts them at zero.
    fn count(&mut self, house: &Snapshot, now: Now) {
        let day = local_day(now);
        if self.day != Some(day) {
            self.day = Some(day);
            for m in &mut self.memory {
                m.runtime_today_ms = 0;
                m.energy_today_wh = 0.0;
            }
        }
        let step = self
            .last_ms
            .map_or(0, |last| now.mono_ms.saturating_sub(last));
        self.last_ms = Some(now.mono_ms);
        self.last_step_ms = step.min(MAX_STEP_MS);
        if step == 0 || step > MAX_STEP_MS {
            return;
        }
        for i in 0..self.loads.len() {
            let watts = self.drawing(i, house);
            let m = &mut self.memory[i];
            if m.held.level > 0 {
                m.runtime_today_ms += step;
            }
            let wh = watts.max(0.0) * step as f64 / 3_600_000.0;
            m.energy_today_wh += wh;
            if let Some(p) = m.plan.as_mut() {
                p.charged_wh += wh;
            }
        }
    }

    /// The device that shows a load's entities: its plug, a heating rod's first relay or
    /// Modbus device, its wallbox.
    pub fn device_of(&self, load: usize) -> Driven {
        match &self.loads[load].kind {
            LoadKind::Switched { plug, .. } => Driven::Plug(*plug),
            LoadKind::Stepped { plugs, .. } => Driven::Plug(plugs[0]),
            LoadKind::Setpoint { device, .. } => Driven::Device(*device),
            LoadKind::Variable { wallbox, .. } => Driven::Wallbox(*wallbox),
        }
    }

    fn show(&self, i: usize, why: String, d: &mut Decisions) {
        let on = self.device_of(i);
        let m = &self.memory[i];
        d.shown.push((on, "load_reason", State::Text(why)));
        let minutes = (m.runtime_today_ms / 60_000) as f64;
        d.shown
            .push((on, "load_runtime_today", State::Number(minutes)));
        d.shown.push((
            on,
            "load_energy_today",
            State::Number(m.energy_today_wh / 1000.0),
        ));
    }
}

/// The home battery's state of charge, from the first battery that reports one.
fn soc(house: &Snapshot) -> Option<f64> {
    house
        .batteries
        .iter()
        .filter(|b| b.online)
        .find_map(|b| b.reading("battery_soc"))
}

/// A Unix time as local `HH:MM`.
pub(super) fn local_clock(unix_ms: i64, now: Now) -> String {
    let local = unix_ms + i64::from(now.utc_offset_s) * 1000;
    load::clock(local.rem_euclid(86_400_000) as u64)
}
