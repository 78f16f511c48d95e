//! The §14a controller: from the signal and the house, the limits of the devices Stromwart
//! drives while the operator dims, and their earlier setpoints back when it ends.
//!
//! Limits are sent when they change, not on every decision, and once the dimming ends each
//! device gets back what it was set to when the dimming began (a wallbox's current, a
//! battery's charge limit; a relay is opened again).

mod enforce;

use super::budget::{Claim, spread, wallbox_current};
use super::minimum::{Control, Device, Kind, minimum, modul1, units};
use super::signal::{Signal, SourceSettings, Why, parse};
use super::tally::Tally;
use crate::control::{Decisions, Driven, Level, Record, Snapshot, State};
use crate::model::devices::{MIN_CURRENT_A, VOLTS};
use crate::model::time::iso8601;
use crate::model::{Action, BatteryCommand, Now, Role, WallboxCommand};

/// What carries out one device's limit, by its position in the core's lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Wallbox(usize),
    Battery(usize),
    /// A plug switching the device's own §14a input: on while dimmed.
    Relay(usize),
    /// A Modbus device's control taking a limit in W (a heat pump's power limit); set back to
    /// its maximum when the dimming ends.
    Modbus {
        device: usize,
        control: usize,
        max_w: u32,
    },
    /// Only counted.
    Counted,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DimmedDevice {
    pub name: String,
    pub kind: Kind,
    pub rated_w: u32,
    pub priority: i32,
    pub target: Target,
}

/// A source on the broker: its topic and its sender's availability.
#[derive(Debug, Clone, PartialEq)]
pub struct Topic {
    pub topic: String,
    /// The availability topic and its online payload.
    pub availability: Option<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DimmerSettings {
    pub control: Control,
    /// The operator's figure, in place of the computed minimum.
    pub override_w: Option<u32>,
    pub add_pv: bool,
    /// Network energy price in ct/kWh net, for the Modul 1 rebate.
    pub network_price_ct: Option<f64>,
    pub devices: Vec<DimmedDevice>,
    pub sources: Vec<SourceSettings>,
    /// The sources read from the broker, by their position in `sources`.
    pub topics: Vec<(usize, Topic)>,
    /// The sources a Modbus device reads: (source, device by its position, quantity key).
    pub modbus: Vec<(usize, usize, String)>,
}

impl DimmerSettings {
    /// The devices as the minimum-power rule sees them.
    fn rated(&self) -> Vec<Device> {
        self.devices
            .iter()
            .map(|d| Device {
                kind: d.kind,
                rated_w: d.rated_w,
            })
            .collect()
    }
}

#[derive(Debug)]
pub struct Dimmer {
    settings: DimmerSettings,
    signal: Signal,
    minimum_w: u32,
    /// Monotonic ms since the dimming began.
    since_ms: Option<u64>,
    /// What each device was set to when the dimming began, sent back when it ends.
    before: Vec<Option<Action>>,
    /// The last limit sent to each device.
    sent: Vec<Option<Action>>,
    /// Records for the proof log (JSON, one line each), until the core takes them.
    proof: Vec<String>,
    /// When the last once-a-minute record of the setpoints was made.
    proof_at_ms: u64,
    /// Whether the last decision was made under a test.
    testing: bool,
    /// Time dimmed and dimmings, today and this year.
    tally: Tally,
    /// When the tally was last brought up to date (monotonic ms).
    tally_at_ms: Option<u64>,
    /// When a source last reported (Unix ms), for the diagnostic entity.
    seen_unix_ms: Option<i64>,
    /// When each device's last limit was sent, and whether it was found not to follow it.
    sent_at_ms: Vec<u64>,
    flagged: Vec<bool>,
}

impl Dimmer {
    /// `was_dimmed`: the state the bridge stopped in; `tally` its figures then.
    pub fn new(settings: DimmerSettings, was_dimmed: bool, tally: Tally, now: Now) -> Self {
        let minimum_w = minimum(&settings.rated(), settings.control).total_w;
        let n = settings.devices.len();
        Self {
            signal: Signal::new(settings.sources.clone(), was_dimmed, now.mono_ms),
            settings,
            minimum_w,
            since_ms: None,
            before: vec![None; n],
            sent: vec![None; n],
            proof: Vec::new(),
            proof_at_ms: 0,
            testing: false,
            tally,
            tally_at_ms: None,
            seen_unix_ms: None,
            sent_at_ms: vec![0; n],
            flagged: vec![false; n],
        }
    }

    /// Dimming time and events as the settings keep them.
    pub fn tally(&self) -> &Tally {
        &self.tally
    }

    pub fn control(&self) -> Control {
        self.settings.control
    }

    /// The operator's figure in force, if any.
    pub fn override_w(&self) -> Option<u32> {
        self.settings.override_w
    }

    /// Direct or EMS control, changed from Home Assistant: the minimum follows.
    pub fn set_control(&mut self, control: Control) {
        self.settings.control = control;
        self.minimum_w = minimum(&self.settings.rated(), control).total_w;
    }

    /// The operator's figure (`None`: the computed minimum), changed from Home Assistant.
    pub fn set_override(&mut self, w: Option<u32>) {
        self.settings.override_w = w;
    }

    /// The sources a Modbus device carries: (source, quantity key).
    pub fn modbus_sources(&self, device: usize) -> Vec<(usize, String)> {
        let on = self.settings.modbus.iter().filter(|(_, d, _)| *d == device);
        on.map(|(source, _, key)| (*source, key.clone())).collect()
    }

    /// Records for the proof log made since the last call, one JSON object per line.
    pub fn take_proof(&mut self) -> Vec<String> {
        std::mem::take(&mut self.proof)
    }

    fn prove(&mut self, now: Now, record: serde_json::Value) {
        let mut record = record;
        record["at"] = iso8601(now.unix_ms).into();
        // The local day, for the summary per day.
        let local = now.unix_ms + i64::from(now.utc_offset_s) * 1000;
        record["day"] = iso8601(local)[..10].into();
        self.proof.push(record.to_string());
    }

    /// The power the site keeps while dimmed, before PV and a source's own limit.
    pub fn minimum_w(&self) -> u32 {
        self.settings.override_w.unwrap_or(self.minimum_w)
    }

    pub fn dimmed(&self) -> bool {
        self.since_ms.is_some()
    }

    /// Whether a test was running at the last decision.
    pub fn testing(&self) -> bool {
        self.testing
    }

    /// A message on the broker; a log record when it is a signal payload that means nothing.
    pub fn incoming(&mut self, topic: &str, payload: &str, now: Now) -> Option<Record> {
        let mut problem = None;
        let mut lost = Vec::new();
        let mut heard = Vec::new();
        for (source, t) in &self.settings.topics {
            if t.topic == topic {
                heard.push(*source);
            }
            if let Some((availability, online)) = &t.availability {
                if availability == topic && !payload.trim().eq_ignore_ascii_case(online) {
                    lost.push(*source);
                }
            }
        }
        for source in heard {
            problem = self.input(source, payload, now).or(problem);
        }
        for source in lost {
            self.signal.lost(source);
        }
        problem
    }

    /// What a source said (a payload on its topic, a Shelly input's state); a log record when
    /// it means nothing.
    pub fn input(&mut self, source: usize, payload: &str, now: Now) -> Option<Record> {
        let s = self.settings.sources.get(source)?;
        match parse(payload, &s.dim, &s.release) {
            Ok(report) => {
                self.seen_unix_ms = Some(now.unix_ms);
                self.signal.report(source, report, now.mono_ms);
                None
            }
            Err(e) => Some(Record {
                level: Level::Warn,
                message: format!(
                    "§14a signal {}: {e}; the dimming state is unchanged.",
                    s.name
                ),
            }),
        }
    }

    /// Starts or ends (0) a test of the dimming.
    pub fn test(&mut self, duration_ms: u64, now: Now) {
        self.signal.test(duration_ms, now.mono_ms);
    }

    /// When the state may change without an event.
    pub fn next_change(&self) -> Option<u64> {
        self.signal.next_change()
    }

    pub fn decide(&mut self, house: &Snapshot, now: Now) -> Decisions {
        let state = self.signal.state(now.mono_ms);
        self.testing = state.why == Why::Test;
        self.count(now);
        let mut d = Decisions::default();
        d.states.push(("p14a_dimmed", State::Switch(state.dimmed)));
        d.states
            .push(("p14a_reason", State::Text(self.why(state.why))));
        self.show_figures(now, &mut d);
        if let Some(price) = self.settings.network_price_ct {
            let rebate = modul1(price).net_cents as f64 / 100.0;
            d.states.push(("p14a_rebate", State::Number(rebate)));
        }
        d.states.push((
            "p14a_minimum_power",
            State::Number(f64::from(self.minimum_w())),
        ));
        if !state.dimmed {
            if let Some(since) = self.since_ms.take() {
                let minutes = now.mono_ms.saturating_sub(since) / 60_000;
                let seconds = now.mono_ms.saturating_sub(since) / 1000;
                self.prove(now, serde_json::json!({"event": "end", "seconds": seconds}));
                d.log.push(Record {
                    level: Level::Info,
                    message: format!(
                        "§14a dimming ends after {minutes} min; the earlier setpoints return."
                    ),
                });
                for (i, before) in self.before.iter_mut().enumerate() {
                    let restore = before.take().or(match self.settings.devices[i].target {
                        Target::Relay(plug) => Some(Action::Plug { plug, on: false }),
                        _ => None,
                    });
                    d.actions.extend(restore);
                }
                self.sent.iter_mut().for_each(|s| *s = None);
                self.flagged.iter_mut().for_each(|f| *f = false);
            }
            for (i, dev) in self.settings.devices.iter().enumerate() {
                if let Some(on) = driven(dev.target) {
                    d.shown.push((
                        on,
                        "p14a_allowed_power",
                        State::Number(f64::from(dev.rated_w)),
                    ));
                    d.shown
                        .push((on, "p14a_followed", State::Switch(!self.flagged[i])));
                }
            }
            return d;
        }
        let pv = if self.settings.add_pv {
            house.sum(Role::Pv, now).unwrap_or(0.0).max(0.0) as u32
        } else {
            0
        };
        let budget = state.limit_w.unwrap_or(self.minimum_w()) + pv;
        if self.since_ms.is_none() {
            self.since_ms = Some(now.mono_ms);
            if state.why != Why::Test {
                self.tally.event();
            }
            self.before = vec![None; self.settings.devices.len()];
            let why = self.why(state.why);
            let m = minimum(&self.settings.rated(), self.settings.control);
            self.prove(
                now,
                serde_json::json!({
                    "event": "start",
                    "why": why,
                    "test": state.why == Why::Test,
                    "allowed_w": budget,
                    "minimum_w": self.minimum_w(),
                    "operator_w": self.settings.override_w,
                    "source_limit_w": state.limit_w,
                    "pv_w": pv,
                    "rule": m,
                    "devices": self.settings.devices.iter().map(|d| &d.name).collect::<Vec<_>>(),
                }),
            );
            self.proof_at_ms = 0;
            d.log.push(Record {
                level: Level::Info,
                message: format!(
                    "§14a dimming begins ({why}): the driven devices share {budget} W."
                ),
            });
        }
        d.states
            .push(("p14a_allowed_power", State::Number(f64::from(budget))));
        let shares = spread(budget, &self.claims(house));
        for (i, share) in shares.iter().enumerate() {
            if self.before[i].is_none() {
                self.before[i] = Self::setpoint(self.settings.devices[i].target, house);
                if self.before[i].is_none() {
                    continue; // not heard from yet
                }
            }
            let action = self.limit(i, *share, house);
            if action.is_some() && action != self.sent[i] {
                d.actions.extend(action);
                self.sent[i] = action;
                self.sent_at_ms[i] = now.mono_ms;
            }
        }
        self.check_following(house, now, &mut d);
        for (i, dev) in self.settings.devices.iter().enumerate() {
            if let Some(on) = driven(dev.target) {
                d.shown.push((
                    on,
                    "p14a_allowed_power",
                    State::Number(f64::from(shares[i])),
                ));
                d.shown
                    .push((on, "p14a_followed", State::Switch(!self.flagged[i])));
            }
        }
        if self.proof_at_ms == 0 || now.mono_ms >= self.proof_at_ms + 60_000 {
            self.proof_at_ms = now.mono_ms.max(1);
            let devices: Vec<serde_json::Value> = self
                .settings
                .devices
                .iter()
                .zip(&shares)
                .map(|(dev, share)| {
                    serde_json::json!({
                        "name": dev.name,
                        "share_w": share,
                        "measured_w": measured(dev.target, house),
                    })
                })
                .collect();
            self.prove(
                now,
                serde_json::json!({"event": "setpoints", "allowed_w": budget, "devices": devices}),
            );
        }
        d
    }

    /// Brings the time dimmed up to date; a new local day or year starts its figures at zero.
    fn count(&mut self, now: Now) {
        let local = now.unix_ms + i64::from(now.utc_offset_s) * 1000;
        self.tally.roll(&iso8601(local)[..10]);
        if let Some(at) = self.tally_at_ms {
            if self.since_ms.is_some() && !self.testing {
                self.tally.dimmed_for(now.mono_ms.saturating_sub(at));
            }
        }
        self.tally_at_ms = Some(now.mono_ms);
    }

    /// The figures and diagnostics that do not depend on the dimming.
    fn show_figures(&self, now: Now, d: &mut Decisions) {
        let t = &self.tally;
        let figures = [
            ("p14a_minutes_today", t.minutes_today() as f64),
            ("p14a_minutes_year", t.minutes_year() as f64),
            ("p14a_events_year", f64::from(t.events_year)),
        ];
        d.states
            .extend(figures.map(|(key, v)| (key, State::Number(v))));
        if let Some(percent) = self.signal.feed_in_percent() {
            d.states
                .push(("p14a_feed_in_limit", State::Number(f64::from(percent))));
        }
        if let Some(seen) = self.seen_unix_ms {
            d.diagnostics
                .push(("p14a_signal_seen", State::Text(iso8601(seen))));
        }
        // Not a diagnostic: those go out once a minute, and a lost source matters now.
        let reachable = self.signal.reachable(now.mono_ms);
        d.states
            .push(("p14a_signal_reachable", State::Switch(reachable)));
    }

    fn why(&self, why: Why) -> String {
        let name = |i: usize| self.signal.source_name(i).unwrap_or("?").to_string();
        match why {
            Why::Source(i) => format!("signal {}", name(i)),
            Why::Silent(i) => format!("signal {} silent, failing safe", name(i)),
            Why::Test => "a test".into(),
            Why::Restored => "dimmed when the bridge stopped".into(),
            Why::Released => "released".into(),
        }
    }

    /// What each driven device is set to now, to come back to.
    /// What a device reports it is set to; `None` before it has reported (then it is limited
    /// once it has, and what it reported then comes back after).
    fn setpoint(target: Target, house: &Snapshot) -> Option<Action> {
        match target {
            Target::Wallbox(wallbox) => {
                house
                    .wallboxes
                    .get(wallbox)
                    .filter(|w| w.online)
                    .map(|w| Action::Wallbox {
                        wallbox,
                        command: WallboxCommand::Current(w.current_a),
                    })
            }
            Target::Battery(battery) => {
                house
                    .batteries
                    .get(battery)
                    .filter(|b| b.online)
                    .map(|b| Action::Battery {
                        battery,
                        command: BatteryCommand::ChargeLimit(b.charge_limit),
                    })
            }
            Target::Relay(plug) => Some(Action::Plug { plug, on: false }),
            Target::Modbus {
                device,
                control,
                max_w,
            } => Some(Action::Control {
                device,
                control,
                value: f64::from(max_w),
            }),
            Target::Counted => None,
        }
    }

    fn claims(&self, house: &Snapshot) -> Vec<Claim> {
        // A heat-pump or air-conditioning unit keeps its own minimum, shared by its devices.
        let units = units(&self.settings.rated());
        self.settings
            .devices
            .iter()
            .enumerate()
            .map(|(i, d)| match d.target {
                Target::Wallbox(w) => {
                    let phases =
                        u32::from(house.wallboxes.get(w).and_then(|s| s.phases).unwrap_or(3));
                    Claim {
                        priority: d.priority,
                        demand_w: d.rated_w,
                        min_run_w: u32::from(MIN_CURRENT_A) * VOLTS * phases,
                        pausable: true,
                    }
                }
                Target::Battery(_) => Claim {
                    priority: d.priority,
                    demand_w: d.rated_w,
                    min_run_w: 0,
                    pausable: true,
                },
                Target::Relay(_) | Target::Modbus { .. } | Target::Counted => {
                    let unit = units.iter().find(|u| u.devices.contains(&i));
                    let share = unit.map_or(d.rated_w, |u| {
                        let part = u64::from(u.own_minimum_w) * u64::from(d.rated_w)
                            / u64::from(u.rated_w.max(1));
                        part as u32
                    });
                    let floor = share.min(d.rated_w);
                    Claim {
                        priority: d.priority,
                        demand_w: floor,
                        min_run_w: floor,
                        pausable: false,
                    }
                }
            })
            .collect()
    }

    /// The limit for a device's share: never above what it was set to before the dimming, since
    /// dimming only ever lowers.
    fn limit(&self, device: usize, share_w: u32, house: &Snapshot) -> Option<Action> {
        let before = self.before[device];
        match self.settings.devices[device].target {
            Target::Wallbox(wallbox) => {
                let phases = u32::from(
                    house
                        .wallboxes
                        .get(wallbox)
                        .and_then(|s| s.phases)
                        .unwrap_or(3),
                );
                let mut max = self.settings.devices[device].rated_w / (VOLTS * phases.max(1));
                if let Some(Action::Wallbox {
                    command: WallboxCommand::Current(a),
                    ..
                }) = before
                {
                    max = max.min(u32::from(a));
                }
                let amps = wallbox_current(share_w, phases, max).unwrap_or(0);
                Some(Action::Wallbox {
                    wallbox,
                    command: WallboxCommand::Current(amps.min(255) as u8),
                })
            }
            Target::Battery(battery) => {
                let mut w = f64::from(share_w);
                if let Some(Action::Battery {
                    command: BatteryCommand::ChargeLimit(limit),
                    ..
                }) = before
                {
                    w = w.min(limit);
                }
                Some(Action::Battery {
                    battery,
                    command: BatteryCommand::ChargeLimit(w),
                })
            }
            Target::Relay(plug) => Some(Action::Plug { plug, on: true }),
            Target::Modbus {
                device,
                control,
                max_w,
            } => {
                let mut w = f64::from(share_w.min(max_w));
                if let Some(Action::Control { value, .. }) = before {
                    w = w.min(value);
                }
                Some(Action::Control {
                    device,
                    control,
                    value: w,
                })
            }
            Target::Counted => None,
        }
    }
}

/// The device of Stromwart's that shows a target's limit.
fn driven(target: Target) -> Option<Driven> {
    match target {
        Target::Wallbox(w) => Some(Driven::Wallbox(w)),
        Target::Battery(b) => Some(Driven::Battery(b)),
        Target::Relay(p) => Some(Driven::Plug(p)),
        Target::Modbus { device, .. } => Some(Driven::Device(device)),
        Target::Counted => None,
    }
}

/// What a driven device draws now, where it says: a wallbox's power, a battery's charging.
fn measured(target: Target, house: &Snapshot) -> Option<f64> {
    match target {
        Target::Wallbox(w) => house.wallboxes.get(w)?.power,
        Target::Battery(b) => {
            let state = house.batteries.get(b)?;
            let power = state.reading("battery_power")?;
            // Batteries count discharging as positive; the grid draw is the charging.
            Some((-power).max(0.0))
        }
        Target::Relay(_) | Target::Modbus { .. } | Target::Counted => None,
    }
}

#[cfg(test)]
mod tests;
