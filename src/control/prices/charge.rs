//! Charging the home battery from the grid while the price is low: at or below a limit, up to
//! a target state of charge; afterwards the battery gets back the mode it had.

use crate::control::{Decisions, Level, Record, Snapshot, State};
use crate::model::{Action, BatteryCommand};

/// Below the target by this much before charging starts again, so that a battery at its
/// target does not start and stop with every percent.
const RESTART_BELOW_PERCENT: f64 = 3.0;

#[derive(Debug, Clone, PartialEq)]
pub struct GridChargeSettings {
    /// The battery, by its position among the batteries.
    pub battery: usize,
    /// Charge while the customer's price is at or below this, EUR/kWh.
    pub below_eur: f64,
    /// Up to this state of charge, %.
    pub target_soc: f64,
}

#[derive(Debug)]
pub struct GridCharge {
    pub settings: GridChargeSettings,
    /// The mode the battery had when charging began, while it charges.
    before: Option<&'static str>,
}

impl GridCharge {
    pub fn new(settings: GridChargeSettings) -> Self {
        Self {
            settings,
            before: None,
        }
    }

    pub fn decide(&mut self, price_now: Option<f64>, house: &Snapshot) -> Decisions {
        let mut d = Decisions::default();
        let s = &self.settings;
        let battery = house.batteries.get(s.battery).filter(|b| b.online);
        let soc = battery.and_then(|b| b.reading("battery_soc"));
        let charging = self.before.is_some();
        let room = if charging {
            s.target_soc
        } else {
            s.target_soc - RESTART_BELOW_PERCENT
        };
        let cheap = price_now.is_some_and(|p| p <= s.below_eur);
        let want = cheap && soc.is_some_and(|soc| soc < room);
        match (want, self.before) {
            (true, None) => {
                let mode = battery.map_or("auto", |b| b.mode);
                self.before = Some(if mode.is_empty() || mode == "charge" {
                    "auto"
                } else {
                    mode
                });
                d.actions.push(Action::Battery {
                    battery: s.battery,
                    command: BatteryCommand::Mode("charge"),
                });
                d.log.push(Record {
                    level: Level::Info,
                    message: format!(
                        "Charging the battery from the grid: {:.2} ct/kWh is at or below {:.2}, {:.0} % is below {:.0} %.",
                        price_now.unwrap_or_default() * 100.0,
                        s.below_eur * 100.0,
                        soc.unwrap_or_default(),
                        s.target_soc
                    ),
                });
            }
            (false, Some(before)) => {
                self.before = None;
                d.actions.push(Action::Battery {
                    battery: s.battery,
                    command: BatteryCommand::Mode(before),
                });
                let why = if cheap {
                    "its target is reached"
                } else {
                    "the price rose above the limit"
                };
                d.log.push(Record {
                    level: Level::Info,
                    message: format!(
                        "Grid charging ends: {why}; the battery is back in mode {before}."
                    ),
                });
            }
            _ => {}
        }
        d.states
            .push(("grid_charging", State::Switch(self.before.is_some())));
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::BatteryState;

    fn house(soc: f64) -> Snapshot {
        let mut h = Snapshot::new(0, 0, 1);
        h.batteries[0] = BatteryState {
            mode: "auto",
            online: true,
            readings: vec![(crate::quantity::named("battery_soc").unwrap().clone(), soc)],
            ..BatteryState::default()
        };
        h
    }

    fn mode(d: &Decisions) -> Option<&'static str> {
        d.actions.iter().find_map(|a| match a {
            Action::Battery {
                command: BatteryCommand::Mode(m),
                ..
            } => Some(*m),
            _ => None,
        })
    }

    #[test]
    fn charges_while_cheap_up_to_the_target_and_restarts_only_well_below_it() {
        let mut g = GridCharge::new(GridChargeSettings {
            battery: 0,
            below_eur: 0.20,
            target_soc: 80.0,
        });
        assert_eq!(mode(&g.decide(Some(0.25), &house(40.0))), None, "too dear");
        let d = g.decide(Some(0.18), &house(40.0));
        assert_eq!(mode(&d), Some("charge"));
        assert!(d.states.contains(&("grid_charging", State::Switch(true))));
        assert_eq!(mode(&g.decide(Some(0.18), &house(60.0))), None, "once");
        let d = g.decide(Some(0.18), &house(80.0));
        assert_eq!(mode(&d), Some("auto"), "the mode it had");
        assert!(d.log[0].message.contains("its target is reached"));
        assert_eq!(
            mode(&g.decide(Some(0.18), &house(78.0))),
            None,
            "not at 78 %"
        );
        assert_eq!(mode(&g.decide(Some(0.18), &house(76.0))), Some("charge"));
        let d = g.decide(Some(0.30), &house(77.0));
        assert!(d.log[0].message.contains("the price rose above the limit"));
        assert_eq!(
            mode(&g.decide(None, &house(50.0))),
            None,
            "no price: nothing"
        );
    }
}
