//! The PV surplus allocator in the core: its loads' mode selects, changes made by hand, and
//! its commands on the path each device takes.

use super::Core;
use super::controls::{CHARGE_MODE, Control, LOAD_MODE};
use super::device::Device;
use crate::control::Driven;
use crate::control::surplus::load::{ChargeMode, LoadKind, Mode};
use crate::message::Message;
use crate::model::{Action, Now};

impl Core {
    /// The device a load's entities live on: its plug, its first relay, its wallbox.
    fn load_device(&mut self, load: usize) -> Option<&mut Device> {
        let kind = self.allocator.as_ref()?.loads().get(load)?.kind.clone();
        match kind {
            LoadKind::Switched { plug, .. } => self.plugs.get_mut(plug).map(|p| &mut p.device),
            LoadKind::Stepped { plugs, .. } => self.plugs.get_mut(plugs[0]).map(|p| &mut p.device),
            LoadKind::Variable { wallbox, .. } => {
                self.wallboxes.get_mut(wallbox).map(|w| &mut w.device)
            }
        }
    }

    fn load_control(&self, load: usize) -> Option<Control> {
        let l = self.allocator.as_ref()?.loads().get(load)?;
        Some(if l.charge_mode.is_some() {
            CHARGE_MODE
        } else {
            LOAD_MODE
        })
    }

    /// The load whose mode `<id>/<key>/set` sets.
    pub(super) fn route_load(&self, id: &str, key: &str) -> Option<(usize, Control)> {
        let a = self.allocator.as_ref()?;
        (0..a.loads().len()).find_map(|i| {
            let c = self.load_control(i)?;
            let on = match &a.loads()[i].kind {
                LoadKind::Switched { plug, .. } => self.plugs.get(*plug)?.device.id(),
                LoadKind::Stepped { plugs, .. } => self.plugs.get(plugs[0])?.device.id(),
                LoadKind::Variable { wallbox, .. } => self.wallboxes.get(*wallbox)?.device.id(),
            };
            (on == id && c.key == key).then_some((i, c))
        })
    }

    pub(super) fn load_mode_payload(&self, load: usize) -> String {
        let Some(a) = self.allocator.as_ref() else {
            return String::new();
        };
        match a.charge_mode(load) {
            Some(m) => m.name().into(),
            None => a.mode(load).map_or("auto", Mode::name).into(),
        }
    }

    /// A mode chosen in Home Assistant, saved like the other settings.
    pub(super) fn set_load_mode(&mut self, load: usize, choice: &str) -> Result<(), String> {
        let Some(a) = self.allocator.as_mut() else {
            return Err("no such load".into());
        };
        match a.loads().get(load).map(|l| l.charge_mode.is_some()) {
            Some(true) => a.set_charge_mode(load, ChargeMode::parse(choice).ok_or("no such mode")?),
            Some(false) => a.set_mode(load, Mode::parse(choice).ok_or("no such mode")?),
            None => return Err("no such load".into()),
        }
        let id = a.loads()[load].id.clone();
        self.settings.loads.insert(id, choice.to_string());
        Ok(())
    }

    /// Modes saved by earlier runs.
    pub(super) fn restore_load_modes(&mut self) {
        let saved = self.settings.loads.clone();
        let Some(a) = self.allocator.as_mut() else {
            return;
        };
        for i in 0..a.loads().len() {
            let Some(choice) = saved.get(&a.loads()[i].id) else {
                continue;
            };
            match (ChargeMode::parse(choice), Mode::parse(choice)) {
                (Some(m), _) if a.loads()[i].charge_mode.is_some() => a.set_charge_mode(i, m),
                (_, Some(m)) if a.loads()[i].charge_mode.is_none() => a.set_mode(i, m),
                _ => {}
            }
        }
    }

    /// Creates (first time) and publishes each load's mode select.
    pub(super) fn offer_load_controls(&mut self, now: Now, out: &mut Vec<Message>) {
        let n = self.allocator.as_ref().map_or(0, |a| a.loads().len());
        let base = self.cfg.base_topic.clone();
        for i in 0..n {
            let (Some(c), value) = (self.load_control(i), self.load_mode_payload(i)) else {
                continue;
            };
            if let Some(device) = self.load_device(i) {
                device.control(&c, value, &base, now, out);
            }
        }
    }

    /// The load's mode entity after a command, accepted or not.
    pub(super) fn confirm_load_mode(&mut self, load: usize, now: Now, out: &mut Vec<Message>) {
        let value = self.load_mode_payload(load);
        let base = self.cfg.base_topic.clone();
        let Some(c) = self.load_control(load) else {
            return;
        };
        if let Some(device) = self.load_device(load) {
            if let Some(state) = device.state_topic(c.key) {
                out.push(Message::state(state, value.clone()));
            }
            device.control(&c, value, &base, now, &mut Vec::new());
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
