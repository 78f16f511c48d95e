//! Commands from Home Assistant: the bridge's settings and each meter's, routed by topic,
//! validated against their control, applied, confirmed and saved.

use super::controls::{self, BRIDGE, Command, Control, METER, Settings};
use super::device::{Device, DeviceSettings, slug};
use super::plug::SWITCH;
use super::throttle::Policy;
use super::{Core, announce_then};
use crate::control::Driven;
use crate::control::p14a::Control as Control14a;
use crate::ha::DeviceSpec;
use crate::message::Message;
use crate::model::{Action, BatteryCommand, Now, Role};

/// The topic level of the bridge's own settings; config ids may not take it.
pub const BRIDGE_ID: &str = "bridge";

pub fn bridge_device(instance: &str) -> Device {
    let mut d = Device::new(DeviceSettings {
        id: BRIDGE_ID.into(),
        name: "Stromwart".into(),
        manufacturer: Some("Stromwart".into()),
        model: Some("Energy bridge".into()),
        role: Role::Consumer,
        policy: Policy {
            min_interval_ms: 0,
            heartbeat_ms: 60_000,
        },
        expire_after_s: 0,
        enable_unknown: false,
    });
    d.identify(DeviceSpec {
        id: format!("stromwart_bridge_{}", slug(instance)),
        name: "Stromwart".into(),
        manufacturer: Some("Stromwart".into()),
        model: Some("Energy bridge".into()),
        serial_number: None,
        sw_version: Some(env!("CARGO_PKG_VERSION").into()),
    });
    d
}

/// Whose setting a control is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Bridge,
    Meter(usize),
    Plug(usize),
    Wallbox(usize),
    Battery(usize),
    /// A load of the PV surplus control: its mode.
    Load(usize),
}

fn number(v: f64) -> String {
    format!("{v}")
}

/// Why a command was not carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Refusal {
    Retained,
    Unknown,
    Rejected,
}

/// Counts refused commands by reason. The first of each is logged, then the 2nd, 4th, 8th …:
/// a flood of them (a broken automation sending every second) stays a few lines.
#[derive(Debug, Default)]
pub(super) struct Repeats(std::collections::BTreeMap<Refusal, u32>);

impl Repeats {
    /// Counts one more; the count when this one is worth a log line.
    pub(super) fn count(&mut self, why: Refusal) -> Option<u32> {
        let n = self.0.entry(why).or_default();
        *n = n.saturating_add(1);
        n.is_power_of_two().then_some(*n)
    }
}

fn so_far(n: u32) -> String {
    if n > 1 {
        format!(" ({n} so far)")
    } else {
        String::new()
    }
}

/// While saving fails, it is tried again this often.
pub const SAVE_RETRY_MS: u64 = 10_000;

impl Core {
    /// Applies settings saved by earlier runs, before anything is published.
    pub(super) fn apply_saved(&mut self, saved: Settings) {
        let mut site = self.site.settings();
        site.surplus_on_w = saved.surplus_on_w.unwrap_or(site.surplus_on_w);
        site.surplus_off_w = saved.surplus_off_w.unwrap_or(site.surplus_off_w);
        site.smoothing_s = saved.smoothing_s.unwrap_or(site.smoothing_s);
        if let Some(source) = &saved.surplus_source {
            site.battery_in_surplus = source == "export_and_battery";
        }
        if site.surplus_off_w < site.surplus_on_w {
            self.site.set_settings(site);
        }
        if let Some(name) = &saved.site_name {
            self.site_device.rename(name);
        }
        for m in &mut self.meters {
            let Some(s) = saved.meters.get(m.id()) else {
                continue;
            };
            let policy = &mut m.device.settings.policy;
            if let Some(v) = s.min_interval_s {
                policy.min_interval_ms = (v * 1000.0) as u64;
            }
            if let Some(v) = s.heartbeat_s {
                policy.heartbeat_ms = (v * 1000.0) as u64;
            }
            if let Some(on) = s.generic_obis {
                m.device.set_enable_unknown(on);
            }
        }
        self.settings = saved;
    }

    /// The settings as they should be saved, once after each change, and again every
    /// [`SAVE_RETRY_MS`] while saving fails.
    pub fn take_settings(&mut self, now: Now) -> Option<String> {
        let retry = self.save_retry_at.is_some_and(|at| now.mono_ms >= at);
        if !std::mem::take(&mut self.settings_dirty) && !retry {
            return None;
        }
        self.save_retry_at = None;
        serde_json::to_string_pretty(&self.settings).ok()
    }

    /// How saving went: a failure is shown on the site's *Storage* entity and tried again; the
    /// settings in force stay in memory meanwhile.
    pub(super) fn saved(&mut self, result: Result<(), String>, now: Now, out: &mut Vec<Message>) {
        let problem = match result {
            Ok(()) => None,
            Err(e) => {
                self.save_retry_at = Some(now.mono_ms + SAVE_RETRY_MS);
                Some(format!(
                    "cannot save the settings: {e}; they apply and saving is tried again every {} s",
                    SAVE_RETRY_MS / 1000
                ))
            }
        };
        if problem != self.storage_problem {
            if problem.is_none() {
                tracing::info!("The settings are saved again.");
            }
            self.storage_problem = problem;
            self.decide(now, out);
        }
    }

    fn current(&self, owner: Owner, c: &Control) -> String {
        let site = self.site.settings();
        match (owner, c.key) {
            (Owner::Bridge, "surplus_on") => number(site.surplus_on_w),
            (Owner::Bridge, "surplus_off") => number(site.surplus_off_w),
            (Owner::Bridge, "surplus_smoothing") => number(site.smoothing_s),
            (Owner::Bridge, "surplus_source") => if site.battery_in_surplus {
                "export_and_battery"
            } else {
                "export"
            }
            .into(),
            (Owner::Bridge, "site_name") => self.site_device.settings.name.clone(),
            (Owner::Bridge, "p14a_test") => {
                let testing = self.dimmer.as_ref().is_some_and(|d| d.testing());
                if testing { "ON" } else { "OFF" }.into()
            }
            (Owner::Bridge, "p14a_control") => match self.dimmer.as_ref().map(|d| d.control()) {
                Some(Control14a::Direct) => "direct".into(),
                _ => "ems".into(),
            },
            (Owner::Bridge, "grid_charge_below") => number(
                self.grid_charge
                    .as_ref()
                    .map_or(0.0, |g| (g.settings.below_eur * 1000.0).round() / 10.0),
            ),
            (Owner::Bridge, "grid_charge_target") => number(
                self.grid_charge
                    .as_ref()
                    .map_or(0.0, |g| g.settings.target_soc),
            ),
            (Owner::Bridge, "p14a_override") => number(
                self.dimmer
                    .as_ref()
                    .and_then(|d| d.override_w())
                    .map_or(0.0, f64::from),
            ),
            (Owner::Load(i), key) => self.load_payload(i, key),
            (Owner::Plug(i), _) => self.plugs[i].switch_payload(),
            (Owner::Wallbox(i), key) => self.wallboxes[i].payload(key),
            (Owner::Battery(i), key) => self.batteries[i].payload(key),
            (Owner::Meter(i), key) => {
                let s = &self.meters[i].device.settings;
                match key {
                    "min_interval" => number(s.policy.min_interval_ms as f64 / 1000.0),
                    "heartbeat" => number(s.policy.heartbeat_ms as f64 / 1000.0),
                    _ => if s.enable_unknown { "ON" } else { "OFF" }.into(),
                }
            }
            _ => String::new(),
        }
    }

    /// The bridge's settings: its own, and those of §14a and grid charging where configured.
    fn bridge_controls(&self) -> Vec<Control> {
        let p14a = self.dimmer.is_some().then_some(controls::P14A.as_slice());
        let grid = self
            .grid_charge
            .is_some()
            .then_some(controls::GRID_CHARGE.as_slice());
        let extra = [grid, p14a].into_iter().flatten().flatten();
        BRIDGE.iter().chain(extra).copied().collect()
    }

    /// Creates (first time) and publishes the bridge's settings entities.
    pub(super) fn offer_controls(&mut self, now: Now, out: &mut Vec<Message>) {
        let base = self.cfg.base_topic.clone();
        for c in self.bridge_controls() {
            let value = self.current(Owner::Bridge, &c);
            self.bridge.control(&c, value, &base, now, out);
        }
        for i in self.controls_offered.clone() {
            self.offer_meter_controls(i, now, out);
        }
        self.offer_load_controls(now, out);
    }

    pub(super) fn offer_meter_controls(&mut self, i: usize, now: Now, out: &mut Vec<Message>) {
        let base = self.cfg.base_topic.clone();
        for c in &METER {
            let value = self.current(Owner::Meter(i), c);
            self.meters[i].device.control(c, value, &base, now, out);
        }
    }

    pub(super) fn on_command(
        &mut self,
        topic: &str,
        payload: &str,
        retained: bool,
        now: Now,
        out: &mut Vec<Message>,
    ) {
        if retained {
            if let Some(n) = self.refused.count(Refusal::Retained) {
                tracing::warn!(%topic, "Ignoring a retained command: commands act once, when sent. Clear it with an empty retained message.{}", so_far(n));
            }
            return;
        }
        let Some((owner, control)) = self.route(topic) else {
            if let Some(n) = self.refused.count(Refusal::Unknown) {
                tracing::warn!(%topic, "Ignoring a command for an unknown setting.{}", so_far(n));
            }
            return;
        };
        let result = controls::parse(&control, payload)
            .and_then(|cmd| self.apply(owner, &control, cmd, now, out));
        match result {
            Ok(()) => {
                tracing::info!(%topic, %payload, "Accepted a command.");
                self.settings_dirty = true;
            }
            Err(why) => {
                if let Some(n) = self.refused.count(Refusal::Rejected) {
                    tracing::warn!(%topic, %payload, "Rejected a command: {why}.{}", so_far(n));
                }
            }
        }
        // Confirm the value in force, whether the command changed it or not.
        let value = self.current(owner, &control);
        let base = self.cfg.base_topic.clone();
        let device = match owner {
            Owner::Bridge => &mut self.bridge,
            Owner::Meter(i) => &mut self.meters[i].device,
            // A plug's or wallbox's entities show what the device reported; nothing to create.
            Owner::Plug(i) => {
                if let Some(state) = self.plugs[i].device.state_topic(control.key) {
                    out.push(Message::state(state, value));
                }
                return;
            }
            Owner::Wallbox(i) => {
                if let Some(state) = self.wallboxes[i].device.state_topic(control.key) {
                    out.push(Message::state(state, value));
                }
                return;
            }
            Owner::Battery(i) => {
                if let Some(state) = self.batteries[i].device.state_topic(control.key) {
                    out.push(Message::state(state, value));
                }
                return;
            }
            Owner::Load(i) => {
                self.confirm_load(i, &control, now, out);
                return;
            }
        };
        if let Some(state) = device.state_topic(control.key) {
            if control.platform != crate::ha::Platform::Button {
                out.push(Message::state(state, value.clone()));
            }
        }
        device.control(&control, value, &base, now, &mut Vec::new());
    }

    /// `<base>/<id>/<key>/set` to the control it sets.
    fn route(&self, topic: &str) -> Option<(Owner, Control)> {
        let rest = topic
            .strip_prefix(&format!("{}/", self.cfg.base_topic))?
            .strip_suffix("/set")?;
        let (id, key) = rest.split_once('/')?;
        if id == BRIDGE_ID {
            let c = self.bridge_controls().into_iter().find(|c| c.key == key);
            return c.map(|c| (Owner::Bridge, c));
        }
        if let Some((load, c)) = self.route_load(id, key) {
            return Some((Owner::Load(load), c));
        }
        if let Some(i) = self.wallboxes.iter().position(|w| w.device.id() == id) {
            return self.wallboxes[i]
                .control(key)
                .map(|c| (Owner::Wallbox(i), c));
        }
        if let Some(i) = self.batteries.iter().position(|b| b.device.id() == id) {
            return self.batteries[i]
                .control(key)
                .map(|c| (Owner::Battery(i), c));
        }
        if let Some(i) = self.plugs.iter().position(|p| p.device.id() == id) {
            return (key == SWITCH.key).then_some((Owner::Plug(i), SWITCH));
        }
        let i = self.meters.iter().position(|m| m.id() == id)?;
        METER
            .iter()
            .find(|c| c.key == key)
            .map(|c| (Owner::Meter(i), *c))
    }

    fn apply(
        &mut self,
        owner: Owner,
        c: &Control,
        cmd: Command,
        now: Now,
        out: &mut Vec<Message>,
    ) -> Result<(), String> {
        let mut site = self.site.settings();
        match (owner, c.key, cmd) {
            (Owner::Bridge, "surplus_on", Command::Number(v)) => {
                if v <= site.surplus_off_w {
                    return Err(format!(
                        "the on threshold must be above the off threshold ({} W)",
                        site.surplus_off_w
                    ));
                }
                site.surplus_on_w = v;
                self.settings.surplus_on_w = Some(v);
            }
            (Owner::Bridge, "surplus_off", Command::Number(v)) => {
                if v >= site.surplus_on_w {
                    return Err(format!(
                        "the off threshold must be below the on threshold ({} W)",
                        site.surplus_on_w
                    ));
                }
                site.surplus_off_w = v;
                self.settings.surplus_off_w = Some(v);
            }
            (Owner::Bridge, "surplus_smoothing", Command::Number(v)) => {
                site.smoothing_s = v;
                self.settings.smoothing_s = Some(v);
            }
            (Owner::Bridge, "surplus_source", Command::Choice(choice)) => {
                site.battery_in_surplus = choice == "export_and_battery";
                self.settings.surplus_source = Some(choice.to_string());
            }
            (Owner::Bridge, "site_name", Command::Text(name)) => {
                self.site_device.rename(&name);
                self.settings.site_name = Some(name);
                announce_then(
                    &mut self.site_device,
                    &self.cfg,
                    &self.availability,
                    Vec::new(),
                    out,
                );
            }
            (Owner::Bridge, "p14a_test", Command::Switch(on)) => {
                if let Some(d) = self.dimmer.as_mut() {
                    d.test(if on { controls::P14A_TEST_MS } else { 0 }, now);
                }
                self.decide(now, out);
                return Ok(());
            }
            (Owner::Bridge, "p14a_control", Command::Choice(choice)) => {
                let control = if choice == "direct" {
                    Control14a::Direct
                } else {
                    Control14a::Ems
                };
                if let Some(d) = self.dimmer.as_mut() {
                    d.set_control(control);
                }
                self.settings.p14a_control = Some(choice.to_string());
                self.decide(now, out);
                return Ok(());
            }
            (Owner::Bridge, "p14a_override", Command::Number(w)) => {
                if w > 0.0 && w < f64::from(crate::control::p14a::BASE_W) {
                    return Err(format!(
                        "{w} W is below 4200 W, the least §14a lets an operator dim to; give \
                         the operator's figure, or 0 for the computed minimum"
                    ));
                }
                if let Some(d) = self.dimmer.as_mut() {
                    d.set_override((w > 0.0).then_some(w as u32));
                }
                self.settings.p14a_override_w = Some(w);
                self.decide(now, out);
                return Ok(());
            }
            (Owner::Bridge, "grid_charge_below", Command::Number(ct)) => {
                if let Some(g) = self.grid_charge.as_mut() {
                    g.settings.below_eur = ct / 100.0;
                }
                self.settings.grid_charge_below_ct = Some(ct);
                self.decide(now, out);
                return Ok(());
            }
            (Owner::Bridge, "grid_charge_target", Command::Number(soc)) => {
                if let Some(g) = self.grid_charge.as_mut() {
                    g.settings.target_soc = soc;
                }
                self.settings.grid_charge_target = Some(soc);
                self.decide(now, out);
                return Ok(());
            }
            (Owner::Bridge, "republish_discovery", Command::Press) => {
                self.republish_all(now, out);
                return Ok(());
            }
            (Owner::Meter(i), key, cmd) => return self.apply_meter(i, key, cmd, out),
            (Owner::Load(i), key, cmd) => {
                self.set_load(i, key, cmd)?;
                self.decide(now, out);
                return Ok(());
            }
            (Owner::Plug(i), _, Command::Switch(on)) => {
                self.plugs[i].may_switch(now)?;
                let Action::Plug { on, .. } = self.within_p14a(Action::Plug { plug: i, on })?
                else {
                    return Ok(());
                };
                self.hands_on(Driven::Plug(i), now);
                match self.plugs[i].mqtt_command(on) {
                    Some(cmnd) => out.push(cmnd),
                    None => self.actions.push(Action::Plug { plug: i, on }),
                }
                return Ok(());
            }
            (Owner::Wallbox(i), key, cmd) => {
                let command = self.wallboxes[i].check(key, cmd, now)?;
                let action = self.within_p14a(Action::Wallbox {
                    wallbox: i,
                    command,
                })?;
                self.hands_on(Driven::Wallbox(i), now);
                self.actions.push(action);
                return Ok(());
            }
            (Owner::Battery(i), key, cmd) => {
                let command = self.batteries[i].check(key, cmd, now)?;
                let id = self.batteries[i].device.id().to_string();
                let saved = self.settings.batteries.entry(id).or_default();
                match command {
                    BatteryCommand::ChargeLimit(w) => saved.charge_limit_w = Some(w),
                    BatteryCommand::DischargeLimit(w) => saved.discharge_limit_w = Some(w),
                    BatteryCommand::Mode(_) => {}
                }
                let action = self.within_p14a(Action::Battery {
                    battery: i,
                    command,
                })?;
                self.actions.push(action);
                return Ok(());
            }
            _ => return Err("unexpected command".into()),
        }
        self.site.set_settings(site);
        Ok(())
    }

    /// A command for a device §14a limits, kept within its limit while dimmed; the log says
    /// when it was lowered.
    fn within_p14a(&mut self, action: Action) -> Result<Action, String> {
        let Some(d) = self.dimmer.as_mut() else {
            return Ok(action);
        };
        let (action, lowered) = d.clamp(action)?;
        if let Some(why) = lowered {
            tracing::info!("{why}.");
        }
        Ok(action)
    }

    fn apply_meter(
        &mut self,
        i: usize,
        key: &str,
        cmd: Command,
        out: &mut Vec<Message>,
    ) -> Result<(), String> {
        let m = &mut self.meters[i];
        let id = m.id().to_string();
        let policy = &mut m.device.settings.policy;
        let saved = self.settings.meters.entry(id).or_default();
        match (key, cmd) {
            ("min_interval", Command::Number(v)) => {
                if v * 1000.0 > policy.heartbeat_ms as f64 {
                    return Err("the minimum interval must not be longer than the heartbeat".into());
                }
                policy.min_interval_ms = (v * 1000.0) as u64;
                saved.min_interval_s = Some(v);
            }
            ("heartbeat", Command::Number(v)) => {
                if v * 1000.0 < policy.min_interval_ms as f64 {
                    return Err(
                        "the heartbeat must not be shorter than the minimum interval".into(),
                    );
                }
                policy.heartbeat_ms = (v * 1000.0) as u64;
                saved.heartbeat_s = Some(v);
            }
            ("generic_obis", Command::Switch(on)) => {
                m.device.set_enable_unknown(on);
                saved.generic_obis = Some(on);
                announce_then(
                    &mut m.device,
                    &self.cfg,
                    &self.availability,
                    Vec::new(),
                    out,
                );
            }
            _ => return Err("unexpected command".into()),
        }
        Ok(())
    }
}
