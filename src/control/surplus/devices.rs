//! What the devices say and are told: their read-backs (a change made by hand), the commands
//! for a new level, a wallbox's phases, the battery held during a fast charge.

use super::load::{ChargeMode, LoadKind, LoadSettings};
use super::step::Held;
use super::{Allocator, Memory, READ_BACK_GRACE_MS, local_clock};
use crate::control::{Decisions, Level, Record, Snapshot};
use crate::model::{Action, BatteryCommand, Now, WallboxCommand};

impl Allocator {
    /// A device that reports something else than it was last told, after its grace time, was
    /// switched by hand: the load goes manual. The first report only tells where it is.
    pub(super) fn notice_hands(&mut self, house: &Snapshot, now: Now, d: &mut Decisions) {
        for i in 0..self.loads.len() {
            let top = self.loads[i].levels().len() - 1;
            let Some(level) = reported(&self.loads[i], house) else {
                continue;
            };
            let m = &mut self.memory[i];
            let back = m.manual_until.is_some_and(|until| now.unix_ms >= until);
            if !m.seen || back {
                // Taken over from where the device is now.
                m.seen = true;
                m.manual_until = None;
                m.held = Held {
                    level: level.min(top),
                    since_ms: None,
                    pending: None,
                };
                continue;
            }
            let grace = now.mono_ms < m.commanded_at_ms + READ_BACK_GRACE_MS;
            if m.manual_until.is_some() || grace || level == m.held.level {
                continue;
            }
            let until = self.manual_until(now);
            self.memory[i].manual_until = Some(until);
            d.log.push(Record {
                level: Level::Info,
                message: format!(
                    "{} was switched by hand; it is left alone until {}.",
                    self.loads[i].name,
                    local_clock(until, now)
                ),
            });
        }
    }

    /// Whether a wallbox load's charger says the car takes nothing: not charging and drawing
    /// (almost) nothing. Unknown counts as charging.
    fn car_done(&self, i: usize, house: &Snapshot) -> bool {
        let LoadKind::Variable { wallbox, .. } = &self.loads[i].kind else {
            return false;
        };
        house.wallboxes.get(*wallbox).is_some_and(|w| {
            w.status != "charging" && !w.status.is_empty() && w.power.is_some_and(|p| p < 100.0)
        })
    }

    /// While a car charges in mode now, the batteries hold; afterwards each gets back the mode
    /// it had.
    pub(super) fn hold_batteries(&mut self, house: &Snapshot, d: &mut Decisions) {
        if !self.settings.hold_battery {
            return;
        }
        // A car that is full draws nothing though its charger stays on in mode now: the
        // battery is not held for it, or the house would draw the evening from the grid.
        let fast = (0..self.loads.len()).any(|i| {
            self.memory[i].charge_mode == Some(ChargeMode::Now)
                && self.memory[i].held.level > 0
                && !self.car_done(i, house)
        });
        match (fast, self.held_batteries.take()) {
            (true, None) => {
                let before = house.batteries.iter().map(|b| b.mode).collect();
                for battery in 0..house.batteries.len() {
                    d.actions.push(Action::Battery {
                        battery,
                        command: BatteryCommand::Mode("hold"),
                    });
                }
                self.held_batteries = Some(before);
            }
            (false, Some(before)) => {
                for (battery, mode) in before.into_iter().enumerate() {
                    let mode = if mode.is_empty() || mode == "hold" {
                        "auto"
                    } else {
                        mode
                    };
                    d.actions.push(Action::Battery {
                        battery,
                        command: BatteryCommand::Mode(mode),
                    });
                }
            }
            (_, held) => self.held_batteries = held,
        }
    }

    fn auto_phases(&self, i: usize) -> bool {
        matches!(self.loads[i].kind, LoadKind::Variable { phases: 0, .. })
    }

    pub(super) fn command(&self, i: usize, from: usize, to: usize, d: &mut Decisions) {
        match &self.loads[i].kind {
            LoadKind::Switched { plug, .. } => d.actions.push(Action::Plug {
                plug: *plug,
                on: to > 0,
            }),
            LoadKind::Stepped { plugs, .. } => {
                for (k, plug) in plugs.iter().enumerate() {
                    if (k < from) != (k < to) {
                        d.actions.push(Action::Plug {
                            plug: *plug,
                            on: k < to,
                        });
                    }
                }
            }
            LoadKind::Setpoint {
                device, control, ..
            } => d.actions.push(Action::Control {
                device: *device,
                control: *control,
                value: f64::from(self.loads[i].levels()[to]),
            }),
            LoadKind::Variable { wallbox, .. } => {
                let wallbox = *wallbox;
                if to == 0 {
                    d.actions.push(Action::Wallbox {
                        wallbox,
                        command: WallboxCommand::Enable(false),
                    });
                    return;
                }
                let (phases, amps) = self.loads[i].charge(to);
                if phases != self.loads[i].charge(from).0 && self.auto_phases(i) {
                    d.actions.push(Action::Wallbox {
                        wallbox,
                        command: WallboxCommand::Phases(phases),
                    });
                }
                d.actions.push(Action::Wallbox {
                    wallbox,
                    command: WallboxCommand::Current(amps),
                });
                if from == 0 {
                    d.actions.push(Action::Wallbox {
                        wallbox,
                        command: WallboxCommand::Enable(true),
                    });
                }
            }
        }
    }
}

/// The level a wallbox keeps instead of switching phases once it has switched as often as its
/// cap allows in the last hour: the nearest on the phases it has.
pub(super) fn phase_cap(load: &LoadSettings, m: &Memory, want: usize, now: Now) -> Option<usize> {
    let (was, is) = (load.charge(m.held.level).0, load.charge(want).0);
    if was == 0 || is == 0 || was == is {
        return None;
    }
    let recent = m
        .phase_switches
        .iter()
        .filter(|at| now.mono_ms < *at + 3_600_000)
        .count();
    if (recent as u32) < load.phase_switches_per_hour {
        return None;
    }
    let same = (1..load.levels().len()).filter(|l| load.charge(*l).0 == was);
    if is > was { same.max() } else { same.min() }
}

/// The level a load's devices report, where they do.
fn reported(load: &LoadSettings, house: &Snapshot) -> Option<usize> {
    match &load.kind {
        LoadKind::Switched { plug, .. } => {
            let p = house.plugs.get(*plug).filter(|p| p.online)?;
            Some(usize::from(p.on?))
        }
        LoadKind::Stepped { plugs, .. } => {
            let mut on = Vec::new();
            for plug in plugs {
                let p = house.plugs.get(*plug).filter(|p| p.online)?;
                on.push(p.on?);
            }
            // Relays go on in order; a gap means someone switched one by hand, which no level
            // describes.
            let level = on.iter().take_while(|o| **o).count();
            if on[level..].iter().any(|o| *o) {
                return Some(plugs.len() + 1);
            }
            Some(level)
        }
        LoadKind::Setpoint {
            device, control, ..
        } => {
            // The value the device holds after the last write, as a level.
            let holds = house.controls.get(&(*device, *control))?.as_ref().ok()?;
            let levels = load.levels();
            let nearest =
                (0..levels.len()).min_by_key(|l| (f64::from(levels[*l]) - holds).abs() as u64)?;
            Some(nearest)
        }
        LoadKind::Variable { wallbox, .. } => {
            let w = house.wallboxes.get(*wallbox).filter(|w| w.online)?;
            if !w.enabled || w.current_a == 0 {
                return Some(0);
            }
            Some(load.level_of(w.phases, w.current_a))
        }
    }
}
