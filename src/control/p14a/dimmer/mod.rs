//! The §14a controller: from the signal and the house, the limits of the devices Stromwart
//! drives while the operator dims, and their earlier setpoints back when it ends.
//!
//! Limits are sent when they change, not on every decision, and once the dimming ends each
//! device gets back what it was set to when the dimming began (a wallbox's current, a
//! battery's charge limit; a relay is opened again).

use super::budget::{Claim, spread, wallbox_current};
use super::minimum::{Control, Device, Kind, minimum, modul1, units};
use super::signal::{Signal, SourceSettings, Why, parse};
use crate::control::{Decisions, Level, Record, Snapshot, State};
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
}

impl Dimmer {
    /// `was_dimmed`: the state the bridge stopped in.
    pub fn new(settings: DimmerSettings, was_dimmed: bool, now: Now) -> Self {
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
        }
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
        let mut d = Decisions::default();
        d.states.push(("p14a_dimmed", State::Switch(state.dimmed)));
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
            }
        }
        if self.proof_at_ms == 0 || now.mono_ms >= self.proof_at_ms + 60_000 {
            self.proof_at_ms = now.mono_ms.max(1);
            let devices: Vec<serde_json::Value> = self
                .settings
                .devices
                .iter()
                .zip(shares)
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
                Target::Relay(_) | Target::Counted => {
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
            Target::Counted => None,
        }
    }
}

/// What a driven device draws now, where it says: a wallbox's power, a battery's charging.
fn measured(target: Target, house: &Snapshot) -> Option<f64> {
    match target {
        Target::Wallbox(w) => house.wallboxes.get(w)?.power,
        Target::Battery(b) => {
            let state = house.batteries.get(b)?;
            let power = state
                .readings
                .iter()
                .find(|(q, _)| q.key == "battery_power")?
                .1;
            // Batteries count discharging as positive; the grid draw is the charging.
            Some((-power).max(0.0))
        }
        Target::Relay(_) | Target::Counted => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BatteryState, WallboxState};

    fn settings() -> DimmerSettings {
        DimmerSettings {
            control: Control::Ems,
            override_w: None,
            add_pv: false,
            network_price_ct: Some(8.62),
            devices: vec![
                DimmedDevice {
                    name: "garage".into(),
                    kind: Kind::Wallbox,
                    rated_w: 11_000,
                    priority: 1,
                    target: Target::Wallbox(0),
                },
                DimmedDevice {
                    name: "luna".into(),
                    kind: Kind::Battery,
                    rated_w: 5000,
                    priority: 0,
                    target: Target::Battery(0),
                },
            ],
            sources: vec![SourceSettings {
                name: "box".into(),
                timeout_ms: u64::MAX,
                fail_safe: true,
                debounce_ms: 0,
                dim: vec!["on".into()],
                release: vec!["off".into()],
            }],
            topics: vec![(
                0,
                Topic {
                    topic: "box/input".into(),
                    availability: Some(("box/online".into(), "true".into())),
                },
            )],
        }
    }

    fn house() -> Snapshot {
        let mut h = Snapshot::new(0, 1, 1);
        h.wallboxes[0] = WallboxState {
            enabled: true,
            current_a: 16,
            phases: Some(3),
            online: true,
            ..WallboxState::default()
        };
        h.batteries[0] = BatteryState {
            mode: "auto",
            charge_limit: 5000.0,
            discharge_limit: 5000.0,
            online: true,
            ..BatteryState::default()
        };
        h
    }

    fn wallbox(a: u8) -> Action {
        Action::Wallbox {
            wallbox: 0,
            command: WallboxCommand::Current(a),
        }
    }

    fn battery(w: f64) -> Action {
        Action::Battery {
            battery: 0,
            command: BatteryCommand::ChargeLimit(w),
        }
    }

    #[test]
    fn dimming_limits_the_devices_within_the_minimum_and_ending_it_restores_them() {
        let mut d = Dimmer::new(settings(), false, Now::at_s(0));
        assert_eq!(d.minimum_w(), 7560, "a wallbox and a battery under an EMS");
        let h = house();
        assert!(d.decide(&h, Now::at_s(1)).actions.is_empty());
        assert!(d.incoming("box/input", "ON", Now::at_s(2)).is_none());
        let on = d.decide(&h, Now::at_s(2));
        // The wallbox first (priority 1): 7,560 W is 10 A on three phases; the battery gets
        // what the wallbox's rated 11 kW leaves of the budget: nothing.
        assert_eq!(on.actions, [wallbox(10), battery(0.0)]);
        assert!(
            on.states
                .contains(&("p14a_allowed_power", State::Number(7560.0)))
        );
        assert!(on.states.contains(&("p14a_dimmed", State::Switch(true))));
        assert!(on.states.contains(&("p14a_rebate", State::Number(131.88))));
        assert!(d.decide(&h, Now::at_s(3)).actions.is_empty(), "sent once");
        d.incoming("box/input", "off", Now::at_s(60));
        let off = d.decide(&h, Now::at_s(60));
        assert_eq!(off.actions, [wallbox(16), battery(5000.0)]);
        assert!(
            off.log[0].message.contains("ends after 0 min"),
            "{:?}",
            off.log
        );
    }

    #[test]
    fn the_proof_log_has_the_start_the_setpoints_each_minute_and_the_end() {
        let mut d = Dimmer::new(settings(), false, Now::at_s(0));
        let h = house();
        d.incoming("box/input", "on", Now::at_s(10));
        for s in 10..=130 {
            d.decide(&h, Now::at_s(s));
        }
        d.incoming("box/input", "off", Now::at_s(131));
        d.decide(&h, Now::at_s(131));
        let records: Vec<serde_json::Value> = d
            .take_proof()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let events: Vec<&str> = records
            .iter()
            .map(|r| r["event"].as_str().unwrap())
            .collect();
        assert_eq!(
            events,
            ["start", "setpoints", "setpoints", "setpoints", "end"]
        );
        let start = &records[0];
        assert_eq!(start["why"], "signal box");
        assert_eq!(start["minimum_w"], 7560);
        assert_eq!(start["rule"]["gzf_percent"], 80);
        assert_eq!(records[1]["devices"][0]["share_w"], 7560);
        assert_eq!(records[4]["seconds"], 121);
        assert!(d.take_proof().is_empty(), "taken once");
    }

    #[test]
    fn a_device_not_heard_from_yet_is_limited_once_it_reports_and_set_back_to_that() {
        let mut d = Dimmer::new(settings(), false, Now::at_s(0));
        let mut h = house();
        h.batteries[0].online = false;
        d.incoming("box/input", "on", Now::at_s(1));
        assert_eq!(d.decide(&h, Now::at_s(1)).actions, [wallbox(10)]);
        h.batteries[0].online = true;
        assert_eq!(d.decide(&h, Now::at_s(2)).actions, [battery(0.0)]);
        d.incoming("box/input", "off", Now::at_s(3));
        assert_eq!(
            d.decide(&h, Now::at_s(3)).actions,
            [wallbox(16), battery(5000.0)]
        );
    }

    #[test]
    fn dimming_never_raises_a_setpoint() {
        let mut d = Dimmer::new(settings(), false, Now::at_s(0));
        let mut h = house();
        h.wallboxes[0].current_a = 6;
        h.batteries[0].charge_limit = 0.0;
        d.incoming("box/input", "on", Now::at_s(1));
        // 7,560 W would allow 10 A, but the wallbox was set to 6 A.
        assert_eq!(
            d.decide(&h, Now::at_s(1)).actions,
            [wallbox(6), battery(0.0)]
        );
    }

    #[test]
    fn a_payload_that_means_nothing_is_logged_and_changes_nothing() {
        let mut d = Dimmer::new(settings(), false, Now::at_s(0));
        d.incoming("box/input", "on", Now::at_s(1));
        let r = d.incoming("box/input", "maybe", Now::at_s(2)).unwrap();
        assert!(r.message.contains("\"maybe\" is neither"), "{}", r.message);
        assert!(
            d.decide(&house(), Now::at_s(2))
                .states
                .contains(&("p14a_dimmed", State::Switch(true)))
        );
    }

    #[test]
    fn the_sender_going_offline_dims() {
        let mut d = Dimmer::new(settings(), false, Now::at_s(0));
        d.incoming("box/input", "off", Now::at_s(1));
        d.incoming("box/online", "false", Now::at_s(2));
        let r = d.decide(&house(), Now::at_s(2));
        assert!(
            r.log[0].message.contains("silent, failing safe"),
            "{:?}",
            r.log
        );
        assert_eq!(r.actions, [wallbox(10), battery(0.0)]);
    }

    #[test]
    fn a_source_limit_and_pv_set_the_budget() {
        let mut s = settings();
        s.add_pv = true;
        let mut d = Dimmer::new(s, false, Now::at_s(0));
        let mut h = house();
        h.power(Role::Pv, 1, 3000.0, Now::at_s(1));
        d.incoming("box/input", "4200", Now::at_s(1));
        let r = d.decide(&h, Now::at_s(1));
        assert!(
            r.states
                .contains(&("p14a_allowed_power", State::Number(7200.0)))
        );
        assert_eq!(r.actions, [wallbox(10), battery(0.0)]);
    }

    #[test]
    fn a_relay_closes_while_dimmed_and_opens_after() {
        let mut s = settings();
        s.devices = vec![DimmedDevice {
            name: "heat pump".into(),
            kind: Kind::HeatPump,
            rated_w: 9000,
            priority: 0,
            target: Target::Relay(2),
        }];
        let mut d = Dimmer::new(s, false, Now::at_s(0));
        d.test(60_000, Now::at_s(1));
        let r = d.decide(&house(), Now::at_s(1));
        assert_eq!(r.actions, [Action::Plug { plug: 2, on: true }]);
        assert!(r.log[0].message.contains("(a test)"));
        let r = d.decide(&house(), Now::at_s(61));
        assert_eq!(r.actions, [Action::Plug { plug: 2, on: false }]);
    }
}
