//! Holding the limits: commands from Home Assistant are kept within them, and a device whose
//! read-back does not follow its limit is flagged.

use super::{Dimmer, Target};
use crate::control::{Decisions, Level, Record, Snapshot};
use crate::model::{Action, BatteryCommand, Now, WallboxCommand};

/// How long a device has to report the limit it was sent: a poll cycle or two, and a
/// charger's own ramp.
pub const FOLLOW_MS: u64 = 30_000;

/// A battery's read-back may differ from what was written by its register's resolution.
fn battery_follows(limit_w: f64, reported_w: f64) -> bool {
    reported_w <= limit_w + (limit_w * 0.02).max(50.0)
}

impl Dimmer {
    /// Checks a command from Home Assistant against the limit in force. While dimmed the
    /// wish is kept and comes back when the dimming ends; what goes to the device now is
    /// within the limit, with a message saying why. An error refuses the command.
    pub fn clamp(&mut self, action: Action) -> Result<(Action, Option<String>), String> {
        let Some(i) = self.since_ms.and_then(|_| self.device_of(&action)) else {
            return Ok((action, None));
        };
        let name = self.settings.devices[i].name.clone();
        let allowed = self.sent[i];
        let budget = "while the grid operator dims (§14a)";
        // What goes to the device, and the wish and the limit in words where it was lowered.
        let (sent, lowered) = match (action, allowed) {
            (
                Action::Wallbox {
                    wallbox,
                    command: WallboxCommand::Current(wish),
                },
                Some(Action::Wallbox {
                    command: WallboxCommand::Current(limit),
                    ..
                }),
            ) => (
                Action::Wallbox {
                    wallbox,
                    command: WallboxCommand::Current(wish.min(limit)),
                },
                (wish > limit).then(|| (format!("{wish} A"), format!("{limit} A"))),
            ),
            (
                Action::Battery {
                    battery,
                    command: BatteryCommand::ChargeLimit(wish),
                },
                Some(Action::Battery {
                    command: BatteryCommand::ChargeLimit(limit),
                    ..
                }),
            ) => (
                Action::Battery {
                    battery,
                    command: BatteryCommand::ChargeLimit(wish.min(limit)),
                },
                (wish > limit)
                    .then(|| (format!("a charge limit of {wish} W"), format!("{limit} W"))),
            ),
            (
                Action::Wallbox {
                    command: WallboxCommand::Enable(true),
                    ..
                },
                Some(Action::Wallbox {
                    command: WallboxCommand::Current(0),
                    ..
                }),
            ) => {
                return Err(format!(
                    "{name} stays paused {budget}: the power left for it does not reach 6 A"
                ));
            }
            (Action::Plug { on: false, .. }, Some(Action::Plug { on: true, .. })) => {
                return Err(format!(
                    "this relay carries the dimming of {name} {budget}; it opens when the dimming ends"
                ));
            }
            (other, _) => return Ok((other, None)),
        };
        // The wish is what comes back when the dimming ends.
        self.before[i] = Some(action);
        self.sent[i] = Some(sent);
        let why = lowered.map(|(wish, limit)| {
            format!(
                "{name}: {wish} asked, {limit} set {budget}; {wish} follows when the dimming ends"
            )
        });
        Ok((sent, why))
    }

    /// The §14a device an action addresses.
    fn device_of(&self, action: &Action) -> Option<usize> {
        self.settings
            .devices
            .iter()
            .position(|d| match (d.target, action) {
                (Target::Wallbox(w), Action::Wallbox { wallbox, .. }) => w == *wallbox,
                (Target::Battery(b), Action::Battery { battery, .. }) => b == *battery,
                (Target::Relay(p), Action::Plug { plug, .. }) => p == *plug,
                (
                    Target::Modbus {
                        device, control, ..
                    },
                    Action::Control {
                        device: d,
                        control: c,
                        ..
                    },
                ) => (device, control) == (*d, *c),
                _ => false,
            })
    }

    /// Flags a device that still reports more than its limit [`FOLLOW_MS`] after it was sent,
    /// sends the limit once more, and clears the flag once it follows.
    pub(super) fn check_following(&mut self, house: &Snapshot, now: Now, d: &mut Decisions) {
        for i in 0..self.settings.devices.len() {
            let Some(sent) = self.sent[i] else {
                continue;
            };
            let Some((follows, reported)) = follows(sent, house) else {
                continue;
            };
            let name = &self.settings.devices[i].name;
            if follows && self.flagged[i] {
                self.flagged[i] = false;
                d.log.push(Record {
                    level: Level::Info,
                    message: format!("§14a: {name} follows its limit again."),
                });
            } else if !follows && !self.flagged[i] && now.mono_ms >= self.sent_at_ms[i] + FOLLOW_MS
            {
                self.flagged[i] = true;
                d.log.push(Record {
                    level: Level::Warn,
                    message: format!(
                        "§14a: {name} does not follow its limit: {} sent, it reports {reported} \
                         {}s later; the limit is sent again. Check the device and its wiring.",
                        describe(sent),
                        (now.mono_ms - self.sent_at_ms[i]) / 1000
                    ),
                });
                let record = serde_json::json!({
                    "event": "not_following",
                    "name": name,
                    "limit": describe(sent),
                    "reported": reported,
                });
                self.prove(now, record);
                d.actions.push(sent);
            }
        }
    }
}

/// Whether a device's read-back is within what it was sent, and the read-back as shown;
/// `None` while it has not reported.
fn follows(sent: Action, house: &Snapshot) -> Option<(bool, String)> {
    match sent {
        Action::Wallbox {
            wallbox,
            command: WallboxCommand::Current(limit),
        } => {
            let w = house.wallboxes.get(wallbox).filter(|w| w.online)?;
            let within = w.current_a <= limit || !w.enabled;
            Some((within, format!("{} A", w.current_a)))
        }
        Action::Battery {
            battery,
            command: BatteryCommand::ChargeLimit(limit),
        } => {
            let b = house.batteries.get(battery).filter(|b| b.online)?;
            let within = battery_follows(limit, b.charge_limit);
            Some((within, format!("{} W", b.charge_limit)))
        }
        Action::Plug { plug, on } => {
            let p = house.plugs.get(plug).filter(|p| p.online)?;
            let state = p.on?;
            Some((state == on, if state { "on" } else { "off" }.into()))
        }
        Action::Control {
            device,
            control,
            value,
        } => match house.controls.get(&(device, control))? {
            Ok(holds) => Some((*holds <= value + 1.0, format!("{holds} W"))),
            Err(e) => Some((false, format!("a failed write ({e})"))),
        },
        _ => None,
    }
}

fn describe(action: Action) -> String {
    match action {
        Action::Wallbox {
            command: WallboxCommand::Current(a),
            ..
        } => format!("{a} A"),
        Action::Battery {
            command: BatteryCommand::ChargeLimit(w),
            ..
        } => format!("{w} W"),
        Action::Plug { on, .. } => if on { "on" } else { "off" }.into(),
        Action::Control { value, .. } => format!("{value} W"),
        other => format!("{other:?}"),
    }
}
