//! A home battery in the core: a mode select, charge and discharge limits, and what the
//! battery reports (state of charge, power). Commands are checked here; the device's read-back
//! decides what Home Assistant shows.

use super::controls::{Command, Control};
use super::device::{Device, Driven, Offer};
use super::throttle::Policy;
use crate::ha::Platform;
use crate::message::Message;
use crate::model::{BatteryCommand, BatteryState, Now, Role};
use crate::quantity::Kind;

#[derive(Debug, Clone, PartialEq)]
pub struct BatterySettings {
    pub id: String,
    pub name: String,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    /// The modes the battery's profile defines.
    pub modes: &'static [&'static str],
    pub max_charge_w: f64,
    pub max_discharge_w: f64,
    /// Commands closer together than this are refused.
    pub min_change_ms: u64,
    pub policy: Policy,
    /// What the battery is told when Stromwart stops; `None` leaves it as it is.
    pub on_stop: Option<BatteryCommand>,
}

#[derive(Debug)]
pub struct BatteryCore {
    pub device: Device,
    pub on_stop: Option<BatteryCommand>,
    modes: &'static [&'static str],
    max_charge_w: f64,
    max_discharge_w: f64,
    min_change_ms: u64,
    last_change_ms: Option<u64>,
    state: BatteryState,
}

impl BatteryCore {
    pub fn new(s: BatterySettings, instance: &str) -> Self {
        let device = Driven {
            kind: "battery",
            id: &s.id,
            name: &s.name,
            role: Role::Battery,
            policy: s.policy,
            manufacturer: s.manufacturer.clone(),
            model: s.model.clone(),
        }
        .device(instance);
        Self {
            device,
            on_stop: s.on_stop,
            modes: s.modes,
            max_charge_w: s.max_charge_w,
            max_discharge_w: s.max_discharge_w,
            min_change_ms: s.min_change_ms,
            last_change_ms: None,
            state: BatteryState::default(),
        }
    }

    fn controls(&self) -> [Control; 3] {
        let limit = |key, name, max| Control {
            key,
            name,
            platform: Platform::Number,
            kind: Kind::Power,
            range: Some((0.0, max, 1.0)),
            options: None,
            max_len: None,
        };
        [
            Control {
                key: "mode",
                name: "Mode",
                platform: Platform::Select,
                kind: Kind::Text,
                range: None,
                options: Some(self.modes),
                max_len: None,
            },
            limit("charge_limit", "Charge limit", self.max_charge_w),
            limit("discharge_limit", "Discharge limit", self.max_discharge_w),
        ]
    }

    /// The control for `key`, if this battery has it.
    pub fn control(&self, key: &str) -> Option<Control> {
        self.controls().into_iter().find(|c| c.key == key)
    }

    /// Checks a command and turns it into what the battery is told.
    pub fn check(&mut self, key: &str, cmd: Command, now: Now) -> Result<BatteryCommand, String> {
        if !self.state.online {
            return Err("the battery gives no usable answer, so it cannot be commanded now".into());
        }
        let command = match (key, cmd) {
            ("mode", Command::Choice(m)) => {
                let mode = self.modes.iter().find(|k| **k == m).copied();
                BatteryCommand::Mode(mode.ok_or("unknown mode")?)
            }
            ("charge_limit", Command::Number(w)) => BatteryCommand::ChargeLimit(w),
            ("discharge_limit", Command::Number(w)) => BatteryCommand::DischargeLimit(w),
            _ => return Err("unexpected command".into()),
        };
        super::throttle::pace(&mut self.last_change_ms, self.min_change_ms, now.mono_ms)?;
        Ok(command)
    }

    /// The state payload of a control, as the battery last reported it.
    pub fn payload(&self, key: &str) -> String {
        let s = &self.state;
        match key {
            "mode" => s.mode.to_string(),
            "charge_limit" => format!("{}", s.charge_limit),
            _ => format!("{}", s.discharge_limit),
        }
    }

    pub fn on_state(&mut self, s: BatteryState, base: &str, now: Now, out: &mut Vec<Message>) {
        self.device.reachable(s.online, base, out);
        if !s.online {
            self.state.online = false;
            return;
        }
        self.state = s;
        for c in self.controls() {
            let payload = self.payload(c.key);
            self.device
                .command_entity(&c, None, payload, base, now, out);
        }
        // Profiles of hybrid inverters read the inverter too; that belongs to the inverter's
        // own entry under `devices:`, not to the battery.
        let battery = self
            .state
            .readings
            .iter()
            .filter(|(q, _)| q.key.starts_with("battery_"));
        for (q, v) in battery {
            self.device
                .offer(Offer::value(q, format!("{v}")), base, now, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> Now {
        Now::at_s(s)
    }

    fn battery() -> BatteryCore {
        BatteryCore::new(
            BatterySettings {
                id: "luna".into(),
                name: "Luna".into(),
                manufacturer: None,
                model: None,
                modes: &["auto", "hold"],
                max_charge_w: 5000.0,
                max_discharge_w: 4000.0,
                min_change_ms: 5_000,
                policy: Policy {
                    min_interval_ms: 0,
                    heartbeat_ms: 60_000,
                },
                on_stop: None,
            },
            "home",
        )
    }

    #[test]
    fn commands_wait_for_the_battery_and_are_paced() {
        let mut b = battery();
        assert_eq!(
            b.check("mode", Command::Choice("hold"), at(1)),
            Err("the battery gives no usable answer, so it cannot be commanded now".into())
        );
        let state = BatteryState {
            mode: "auto",
            online: true,
            ..BatteryState::default()
        };
        b.on_state(state, "stromwart", at(1), &mut Vec::new());
        assert_eq!(
            b.check("mode", Command::Choice("hold"), at(2)),
            Ok(BatteryCommand::Mode("hold"))
        );
        assert_eq!(
            b.check("charge_limit", Command::Number(3000.0), at(4)),
            Err("changed 2 s ago; wait 3 s more (min_change_interval)".into())
        );
        assert_eq!(
            b.check("charge_limit", Command::Number(3000.0), at(7)),
            Ok(BatteryCommand::ChargeLimit(3000.0))
        );
        // The select offers the profile's modes, the numbers their own maximum.
        assert_eq!(
            b.control("mode").unwrap().options,
            Some(&["auto", "hold"][..])
        );
        assert_eq!(
            b.control("discharge_limit").unwrap().range,
            Some((0.0, 4000.0, 1.0))
        );
    }
}
