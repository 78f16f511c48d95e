//! The PV surplus allocator in the core: its loads' mode selects, changes made by hand, and
//! its commands on the path each device takes.

use super::Core;
use super::controls::{
    CHARGE_MODE, CHARGE_PLAN_ENERGY, CHARGE_PLAN_TIME, Command, Control, LOAD_DEADLINE,
    LOAD_MIN_OFF, LOAD_MIN_ON, LOAD_MODE, LOAD_PRIORITY, LOAD_RUNTIME,
};
use super::device::Device;
use crate::control::Driven;
use crate::control::surplus::load::{ChargeMode, Mode, clock, parse_clock};
use crate::control::surplus::plan::Plan;
use crate::message::Message;
use crate::model::{Action, Now};

impl Core {
    /// The device a load's entities live on.
    fn load_device(&mut self, load: usize) -> Option<&mut Device> {
        let on = self.allocator.as_ref()?.device_of(load);
        self.driven_device(on)
    }

    /// A load's settings entities: its mode (a wallbox's charge mode), priority, minimum
    /// times, and its runtime target where it has a deadline.
    fn load_controls(&self, load: usize) -> Vec<Control> {
        let Some(l) = self.allocator.as_ref().and_then(|a| a.loads().get(load)) else {
            return Vec::new();
        };
        let mode = if l.charge_mode.is_some() {
            CHARGE_MODE
        } else {
            LOAD_MODE
        };
        let mut controls = vec![mode, LOAD_PRIORITY, LOAD_MIN_ON, LOAD_MIN_OFF];
        if l.runtime.is_some() {
            controls.extend([LOAD_RUNTIME, LOAD_DEADLINE]);
        }
        if l.charge_mode.is_some() {
            controls.extend([CHARGE_PLAN_ENERGY, CHARGE_PLAN_TIME]);
        }
        controls
    }

    /// The load whose setting `<id>/<key>/set` sets.
    pub(super) fn route_load(&self, id: &str, key: &str) -> Option<(usize, Control)> {
        let a = self.allocator.as_ref()?;
        (0..a.loads().len()).find_map(|i| {
            let on = self.driven_id(a.device_of(i))?;
            let c = self.load_controls(i).into_iter().find(|c| c.key == key)?;
            (on == id).then_some((i, c))
        })
    }

    pub(super) fn load_payload(&self, load: usize, key: &str) -> String {
        let Some(a) = self.allocator.as_ref() else {
            return String::new();
        };
        let Some(l) = a.loads().get(load) else {
            return String::new();
        };
        let minutes = |ms: u64| format!("{}", ms / 60_000);
        match key {
            "load_priority" => l.priority.to_string(),
            "load_min_on" => minutes(l.min_on_ms),
            "load_min_off" => minutes(l.min_off_ms),
            "load_runtime" => minutes(l.runtime.map_or(0, |r| r.ms)),
            "load_deadline" => clock(l.runtime.map_or(0, |r| r.deadline_ms)),
            "charge_plan_energy" => {
                format!("{}", a.plan(load).0.map_or(0.0, |p| p.energy_wh / 1000.0))
            }
            "charge_plan_time" => clock(a.plan(load).1),
            _ => match a.charge_mode(load) {
                Some(m) => m.name().into(),
                None => a.mode(load).map_or("auto", Mode::name).into(),
            },
        }
    }

    /// A setting changed in Home Assistant, saved like the others.
    pub(super) fn set_load(&mut self, load: usize, key: &str, cmd: Command) -> Result<(), String> {
        let Some(a) = self.allocator.as_mut() else {
            return Err("no such load".into());
        };
        let Some(id) = a.loads().get(load).map(|l| l.id.clone()) else {
            return Err("no such load".into());
        };
        let saved = self.settings.loads.entry(id).or_default();
        let ms = |minutes: f64| (minutes * 60_000.0) as u64;
        match (key, cmd) {
            ("load_priority", Command::Number(v)) => {
                a.set_priority(load, v as i32);
                saved.priority = Some(v);
            }
            ("load_min_on", Command::Number(v)) => {
                a.set_min_times(load, Some(ms(v)), None);
                saved.min_on = Some(v);
            }
            ("load_min_off", Command::Number(v)) => {
                a.set_min_times(load, None, Some(ms(v)));
                saved.min_off = Some(v);
            }
            ("load_runtime", Command::Number(v)) => {
                a.set_runtime(load, Some(ms(v)), None)?;
                saved.runtime = Some(v);
            }
            ("load_deadline", Command::Text(text)) => {
                let by = time_of_day(&text)?;
                a.set_runtime(load, None, Some(by))?;
                saved.deadline = Some(clock(by));
            }
            ("charge_plan_energy", Command::Number(kwh)) => {
                a.set_plan(load, kwh * 1000.0);
                saved.plan_energy = (kwh > 0.0).then_some(kwh);
                saved.plan_deadline = None;
            }
            ("charge_plan_time", Command::Text(text)) => {
                let by = parse_clock(&text)
                    .filter(|ms| *ms < 86_400_000)
                    .ok_or_else(|| {
                        format!("'{text}' is not a time of day; expected HH:MM, such as 07:00")
                    })?;
                a.set_plan_time(load, by);
                saved.plan_time = Some(clock(by));
                saved.plan_deadline = None;
            }
            (_, Command::Choice(choice)) => {
                if a.loads()[load].charge_mode.is_some() {
                    a.set_charge_mode(load, ChargeMode::parse(choice).ok_or("no such mode")?);
                } else {
                    a.set_mode(load, Mode::parse(choice).ok_or("no such mode")?);
                }
                saved.mode = Some(choice.to_string());
            }
            _ => return Err("unexpected command".into()),
        }
        Ok(())
    }

    /// Settings saved by earlier runs.
    pub(super) fn restore_loads(&mut self) {
        let saved = self.settings.loads.clone();
        let Some(a) = self.allocator.as_mut() else {
            return;
        };
        let ms = |minutes: f64| (minutes * 60_000.0) as u64;
        for i in 0..a.loads().len() {
            let Some(s) = saved.get(&a.loads()[i].id) else {
                continue;
            };
            if let Some(choice) = &s.mode {
                match (ChargeMode::parse(choice), Mode::parse(choice)) {
                    (Some(m), _) if a.loads()[i].charge_mode.is_some() => a.set_charge_mode(i, m),
                    (_, Some(m)) if a.loads()[i].charge_mode.is_none() => a.set_mode(i, m),
                    _ => {}
                }
            }
            if let Some(p) = s.priority {
                a.set_priority(i, p as i32);
            }
            a.set_min_times(i, s.min_on.map(ms), s.min_off.map(ms));
            // A saved value that no longer fits the configured window is dropped, so the
            // config's stands.
            let deadline = s.deadline.as_deref().and_then(parse_clock);
            if a.set_runtime(i, s.runtime.map(ms), deadline).is_err() {
                let _ = a.set_runtime(i, s.runtime.map(ms), None);
            }
            if let Some(by) = s.plan_time.as_deref().and_then(parse_clock) {
                a.set_plan_time(i, by);
            }
            if let Some(kwh) = s.plan_energy {
                let mut plan = Plan::new(kwh * 1000.0, a.plan(i).1);
                plan.deadline_unix_ms = s.plan_deadline;
                a.restore_plan(i, plan);
            }
        }
    }

    /// Charge plans that ended (met or missed) or got their deadline: saved, and an ended
    /// plan's energy shows 0 again.
    pub(super) fn sync_plans(&mut self, now: Now, out: &mut Vec<Message>) {
        let Some(a) = self.allocator.as_ref() else {
            return;
        };
        let mut ended = Vec::new();
        for i in 0..a.loads().len() {
            if a.loads()[i].charge_mode.is_none() {
                continue;
            }
            let plan = a.plan(i).0;
            let saved = self
                .settings
                .loads
                .entry(a.loads()[i].id.clone())
                .or_default();
            let (energy, deadline) = (
                plan.map(|p| p.energy_wh / 1000.0),
                plan.and_then(|p| p.deadline_unix_ms),
            );
            if saved.plan_energy.is_some() && energy.is_none() {
                ended.push(i);
            }
            if (saved.plan_energy, saved.plan_deadline) != (energy, deadline) {
                (saved.plan_energy, saved.plan_deadline) = (energy, deadline);
                self.settings_dirty = true;
            }
        }
        for i in ended {
            self.confirm_load(i, &CHARGE_PLAN_ENERGY, now, out);
        }
    }

    /// Creates (first time) and publishes each load's settings entities.
    pub(super) fn offer_load_controls(&mut self, now: Now, out: &mut Vec<Message>) {
        let n = self.allocator.as_ref().map_or(0, |a| a.loads().len());
        let base = self.cfg.base_topic.clone();
        for i in 0..n {
            for c in self.load_controls(i) {
                let value = self.load_payload(i, c.key);
                if let Some(device) = self.load_device(i) {
                    device.control(&c, value, &base, now, out);
                }
            }
        }
    }

    /// A load's setting after a command, accepted or not.
    pub(super) fn confirm_load(
        &mut self,
        load: usize,
        c: &Control,
        now: Now,
        out: &mut Vec<Message>,
    ) {
        let value = self.load_payload(load, c.key);
        let base = self.cfg.base_topic.clone();
        if let Some(device) = self.load_device(load) {
            if let Some(state) = device.state_topic(c.key) {
                out.push(Message::state(state, value.clone()));
            }
            device.control(c, value, &base, now, &mut Vec::new());
        }
    }

    /// A person switched a device from Home Assistant: the load it belongs to is left alone.
    pub(super) fn hands_on(&mut self, device: Driven, now: Now) {
        if let Some(a) = self.allocator.as_mut() {
            if let Some(load) = a.load_of(device) {
                tracing::info!(load = %a.loads()[load].id, "Switched from Home Assistant; the surplus control leaves it alone for now.");
                a.manual(load, now);
            }
        }
    }

    /// Carries out controllers' commands: a plug reached over MQTT gets its message, the
    /// rest go to their device tasks. While §14a dims, every command stays within its limit.
    pub(super) fn carry_out_actions(&mut self, actions: Vec<Action>, out: &mut Vec<Message>) {
        for action in actions {
            if let Action::Plug { plug, on } = action {
                if let Some(m) = self.plugs.get(plug).and_then(|p| p.mqtt_command(on)) {
                    out.push(m);
                    continue;
                }
            }
            self.actions.push(action);
        }
    }
}

/// A time of day from Home Assistant, `HH:MM`.
fn time_of_day(text: &str) -> Result<u64, String> {
    parse_clock(text)
        .ok_or_else(|| format!("'{text}' is not a time of day; expected HH:MM, such as 07:00"))
}
