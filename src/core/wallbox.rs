//! A wallbox in the core: its entities (charging switch, current limit, phases, and what it
//! reports), and the rules for commanding it.

use super::controls::{Command, Control};
use super::device::{Device, Driven, Offer};
use super::energy::Integrator;
use super::throttle::Policy;
use crate::ha::Platform;
use crate::message::Message;
use crate::model::devices::{MIN_CURRENT_A, STATUSES};
use crate::model::{Now, Role, WallboxCommand, WallboxState};
use crate::quantity::{self, Kind, Quantity};

/// Phase choices of a charger that can also pick on its own, and of one that cannot.
pub const PHASE_CHOICES: &[&str] = &["auto", "1", "3"];
pub const FIXED_PHASE_CHOICES: &[&str] = &["1", "3"];

const CHARGING: Control = Control {
    key: "charging",
    name: "Charging enabled",
    platform: Platform::Switch,
    kind: Kind::Binary,
    range: None,
    options: None,
    max_len: None,
};
static STATUS: Quantity = Quantity::known("status", "Status", Kind::Text);

#[derive(Debug, Clone, PartialEq)]
pub struct WallboxSettings {
    pub id: String,
    pub name: String,
    pub manufacturer: String,
    /// The charger's model, where its profile names one.
    pub model: Option<String>,
    pub max_current_a: u8,
    /// What the phase select offers; empty for a charger that cannot switch phases.
    pub phases: &'static [&'static str],
    /// Starts, stops and phase switches closer together than this are refused (contactors and
    /// cars dislike chatter).
    pub min_change_ms: u64,
    pub policy: Policy,
    /// What the charger is told when Stromwart stops; `None` leaves it as it is.
    pub on_stop: Option<WallboxCommand>,
}

#[derive(Debug)]
pub struct WallboxCore {
    pub device: Device,
    pub on_stop: Option<WallboxCommand>,
    /// Energy counted from the charger's power, for chargers without a counter of their own.
    pub energy: Integrator,
    max_current_a: u8,
    phases: &'static [&'static str],
    min_change_ms: u64,
    last_change_ms: Option<u64>,
    state: WallboxState,
}

impl WallboxCore {
    pub fn new(s: WallboxSettings, instance: &str) -> Self {
        let device = Driven {
            kind: "wallbox",
            id: &s.id,
            name: &s.name,
            role: Role::Consumer,
            policy: s.policy,
            manufacturer: Some(s.manufacturer.clone()),
            model: s.model.clone(),
        }
        .device(instance);
        Self {
            device,
            on_stop: s.on_stop,
            energy: Integrator::default(),
            max_current_a: s.max_current_a,
            phases: s.phases,
            min_change_ms: s.min_change_ms,
            last_change_ms: None,
            state: WallboxState::default(),
        }
    }

    fn current_control(&self) -> Control {
        Control {
            key: "current_limit",
            name: "Current limit",
            platform: Platform::Number,
            kind: Kind::Current,
            range: Some((0.0, f64::from(self.max_current_a), 1.0)),
            options: None,
            max_len: None,
        }
    }

    fn controls(&self) -> Vec<Control> {
        let mut controls = vec![CHARGING, self.current_control()];
        if !self.phases.is_empty() {
            controls.push(Control {
                key: "phases",
                name: "Phases",
                platform: Platform::Select,
                kind: Kind::Text,
                range: None,
                options: Some(self.phases),
                max_len: None,
            });
        }
        controls
    }

    /// The control for `key`, if this wallbox has it.
    pub fn control(&self, key: &str) -> Option<Control> {
        self.controls().into_iter().find(|c| c.key == key)
    }

    /// Checks a command and turns it into what the charger is told.
    pub fn check(&mut self, key: &str, cmd: Command, now: Now) -> Result<WallboxCommand, String> {
        if !self.state.online {
            return Err("the wallbox gives no usable answer, so it cannot be commanded now".into());
        }
        let wb = match (key, cmd) {
            ("charging", Command::Switch(on)) => WallboxCommand::Enable(on),
            ("current_limit", Command::Number(a)) => {
                let a = a.round() as u8;
                if a != 0 && a < MIN_CURRENT_A {
                    return Err(format!(
                        "{a} A is below the {MIN_CURRENT_A} A a car needs; 0 stops charging"
                    ));
                }
                WallboxCommand::Current(a)
            }
            ("phases", Command::Choice(p)) => WallboxCommand::Phases(p.parse().unwrap_or(0)),
            _ => return Err("unexpected command".into()),
        };
        // Only starting, stopping and switching phases wear the car and the contactors; a new
        // current limit while charging is what surplus charging does every few seconds.
        let restarts = match wb {
            WallboxCommand::Enable(on) => on != self.state.enabled,
            WallboxCommand::Current(a) => (a > 0) != self.state.enabled,
            WallboxCommand::Phases(_) => true,
        };
        if !restarts {
            return Ok(wb);
        }
        super::throttle::pace(&mut self.last_change_ms, self.min_change_ms, now.mono_ms)?;
        Ok(wb)
    }

    /// The state payload of a control, as the charger last reported it.
    pub fn payload(&self, key: &str) -> String {
        let s = &self.state;
        match key {
            "charging" => if s.enabled { "ON" } else { "OFF" }.into(),
            "current_limit" => (if s.enabled { s.current_a } else { 0 }).to_string(),
            _ => s.phases.map_or("auto".into(), |p| p.to_string()),
        }
    }

    pub fn on_state(&mut self, s: WallboxState, base: &str, now: Now, out: &mut Vec<Message>) {
        self.device.reachable(s.online, base, out);
        if !s.online {
            self.state.online = false;
            self.energy.pause();
            return;
        }
        self.state = s;
        if let (None, Some(w)) = (self.state.energy_wh, self.state.power) {
            self.state.energy_wh = Some(self.energy.power(w, now.mono_ms));
        }
        for c in self.controls() {
            let payload = self.payload(c.key);
            self.device
                .command_entity(&c, None, payload, base, now, out);
        }
        let s = &self.state;
        let mut values: Vec<(Quantity, String)> = s
            .extra
            .iter()
            .map(|(q, v)| (q.clone(), format!("{v}")))
            .collect();
        let mut add = |key: &str, payload: String| {
            if let Some(q) = quantity::named(key) {
                values.push((q.clone(), payload));
            }
        };
        if let Some(w) = s.power {
            add("power", format!("{w}"));
        }
        if let Some(wh) = s.energy_wh {
            add("energy_total", format!("{}", (wh / 10.0).round() / 100.0));
        }
        let status = s.status;
        for (q, payload) in values {
            self.device.offer(Offer::value(&q, payload), base, now, out);
        }
        let status = Offer {
            quantity: &STATUS,
            payload: status.into(),
            options: Some(STATUSES),
            diagnostic: false,
            attributes: None,
        };
        self.device.offer(status, base, now, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> Now {
        Now::at_s(s)
    }

    fn charging_wallbox() -> WallboxCore {
        let mut w = WallboxCore::new(
            WallboxSettings {
                id: "garage".into(),
                name: "Garage".into(),
                manufacturer: "go-e".into(),
                model: None,
                max_current_a: 16,
                phases: PHASE_CHOICES,
                min_change_ms: 60_000,
                policy: Policy {
                    min_interval_ms: 0,
                    heartbeat_ms: 60_000,
                },
                on_stop: None,
            },
            "home",
        );
        let state = WallboxState {
            enabled: true,
            current_a: 16,
            online: true,
            status: "charging",
            ..WallboxState::default()
        };
        w.on_state(state, "stromwart", at(0), &mut Vec::new());
        w
    }

    #[test]
    fn the_current_follows_at_once_but_a_stop_and_a_restart_are_paced() {
        let mut w = charging_wallbox();
        for (s, amps) in [(1, 10.0), (2, 6.0), (3, 16.0)] {
            assert!(
                w.check("current_limit", Command::Number(amps), at(s))
                    .is_ok()
            );
        }
        assert_eq!(
            w.check("charging", Command::Switch(false), at(4)),
            Ok(WallboxCommand::Enable(false))
        );
        w.on_state(
            WallboxState {
                enabled: false,
                ..w.state.clone()
            },
            "stromwart",
            at(5),
            &mut Vec::new(),
        );
        let refused = w.check("current_limit", Command::Number(10.0), at(30));
        assert_eq!(
            refused,
            Err("changed 26 s ago; wait 34 s more (min_change_interval)".into())
        );
        assert!(
            w.check("current_limit", Command::Number(10.0), at(64))
                .is_ok()
        );
    }
}
