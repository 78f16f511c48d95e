//! The site view: what the house does as a whole, derived from the devices by their roles.
//!
//! The first controller: a pure function of the snapshot and the clock, so every rule
//! (hysteresis, smoothing, the day boundary across a DST change) is tested with simulated time.
//! Signs follow Home Assistant's Energy dashboard: grid power positive when importing, battery
//! power positive when discharging.

use std::collections::VecDeque;

use super::{Controller, Decisions, Snapshot, State};
use crate::model::time::local_day;
use crate::model::{Now, Role};
/// A gap between ticks longer than this is not integrated (the bridge was busy or asleep).
const MAX_STEP_MS: u64 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SiteSettings {
    /// Seconds over which the surplus is averaged before it switches anything.
    pub smoothing_s: f64,
    /// The smoothed surplus must reach this (W) to turn "surplus available" on ...
    pub surplus_on_w: f64,
    /// ... and fall below this (W) to turn it off again.
    pub surplus_off_w: f64,
    /// Count the battery's charging power as surplus too (a load switched on would take it
    /// from the battery rather than from the grid).
    pub battery_in_surplus: bool,
}

impl Default for SiteSettings {
    fn default() -> Self {
        Self {
            smoothing_s: 60.0,
            surplus_on_w: 500.0,
            surplus_off_w: 100.0,
            battery_in_surplus: false,
        }
    }
}

/// What the site publishes after a tick; `None` where a needed device is missing.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SiteValues {
    pub grid_import_w: Option<f64>,
    pub grid_export_w: Option<f64>,
    pub house_w: Option<f64>,
    pub surplus_w: Option<f64>,
    pub surplus_available: Option<bool>,
    /// Share of today's PV production used in the house, in percent.
    pub self_consumption_pct: Option<f64>,
    /// Share of today's consumption not taken from the grid, in percent.
    pub autarky_pct: Option<f64>,
    /// Lifetime energies (kWh) for the Energy dashboard's "home" and its shares.
    pub house_kwh: Option<f64>,
    pub pv_self_kwh: Option<f64>,
    /// Grid energies, only where no grid meter counts them itself.
    pub grid_import_kwh: Option<f64>,
    pub grid_export_kwh: Option<f64>,
}

/// Energies since the site view began (Wh): they only grow, and are kept across restarts.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Totals {
    pub house_wh: f64,
    pub pv_self_wh: f64,
    pub grid_import_wh: f64,
    pub grid_export_wh: f64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Today {
    day: i64,
    import_wh: f64,
    export_wh: f64,
    pv_wh: f64,
    house_wh: f64,
}

#[derive(Debug)]
pub struct Site {
    settings: SiteSettings,
    /// Export samples for smoothing: (when, watts).
    samples: VecDeque<(u64, f64)>,
    available: bool,
    /// A grid reading has been seen: from then on, a stale one means "no surplus", not "no
    /// site view".
    grid_seen: bool,
    today: Today,
    totals: Totals,
    last_tick: Option<u64>,
}

impl Site {
    pub fn new(settings: SiteSettings) -> Self {
        Self {
            settings,
            samples: VecDeque::new(),
            available: false,
            grid_seen: false,
            totals: Totals::default(),
            today: Today::default(),
            last_tick: None,
        }
    }

    pub fn settings(&self) -> SiteSettings {
        self.settings
    }

    pub fn set_settings(&mut self, settings: SiteSettings) {
        self.settings = settings;
    }

    /// Continues the lifetime energies from where an earlier run left them; anything but a
    /// finite, positive number starts at zero.
    pub fn restore(&mut self, saved: Totals) {
        let clean = |wh: f64| if wh.is_finite() && wh > 0.0 { wh } else { 0.0 };
        self.totals = Totals {
            house_wh: clean(saved.house_wh),
            pv_self_wh: clean(saved.pv_self_wh),
            grid_import_wh: clean(saved.grid_import_wh),
            grid_export_wh: clean(saved.grid_export_wh),
        };
    }

    pub fn totals(&self) -> Totals {
        self.totals
    }

    /// Advances the site to `now` (about once a second) and returns what to publish.
    pub fn tick(&mut self, house: &Snapshot, now: Now) -> SiteValues {
        let Some(grid) = house.sum(Role::Grid, now) else {
            self.last_tick = Some(now.mono_ms);
            // Without a current grid reading nothing here is known, except that no surplus
            // can be counted on: whatever waits for "off" must get it.
            self.available = false;
            self.samples.clear();
            return SiteValues {
                surplus_available: self.grid_seen.then_some(false),
                ..SiteValues::default()
            };
        };
        self.grid_seen = true;
        let grid_counted = house.grid_counters;
        let pv = house.sum(Role::Pv, now).unwrap_or(0.0).max(0.0);
        let battery = house.sum(Role::Battery, now).unwrap_or(0.0);
        let import = grid.max(0.0);
        let export = (-grid).max(0.0);
        // Energy balance: what the house uses comes from the grid, the panels and the battery.
        let house = (grid + pv + battery).max(0.0);

        let charging = if self.settings.battery_in_surplus {
            (-battery).max(0.0)
        } else {
            0.0
        };
        self.samples.push_back((now.mono_ms, export + charging));
        let window = (self.settings.smoothing_s * 1000.0) as u64;
        while self
            .samples
            .front()
            .is_some_and(|(t, _)| now.mono_ms.saturating_sub(*t) > window)
        {
            self.samples.pop_front();
        }
        let surplus = self.samples.iter().map(|(_, w)| w).sum::<f64>() / self.samples.len() as f64;
        if !self.available && surplus >= self.settings.surplus_on_w {
            self.available = true;
        } else if self.available && surplus < self.settings.surplus_off_w {
            self.available = false;
        }

        self.integrate(now, import, export, pv, house);
        let (t, total) = (self.today, self.totals);
        let ratio =
            |part: f64, whole: f64| (whole > 0.0).then(|| (part / whole * 100.0).clamp(0.0, 100.0));
        let kwh = |wh: f64| Some(wh / 1000.0);
        let own_grid = |wh: f64| if grid_counted { None } else { kwh(wh) };
        SiteValues {
            grid_import_w: Some(import),
            grid_export_w: Some(export),
            house_w: Some(house),
            surplus_w: Some(surplus),
            surplus_available: Some(self.available),
            self_consumption_pct: ratio(t.pv_wh - t.export_wh, t.pv_wh),
            autarky_pct: ratio(t.house_wh - t.import_wh, t.house_wh),
            house_kwh: kwh(total.house_wh),
            pv_self_kwh: kwh(total.pv_self_wh),
            grid_import_kwh: own_grid(total.grid_import_wh),
            grid_export_kwh: own_grid(total.grid_export_wh),
        }
    }

    /// Adds the last step's energy to today's totals; a new local day starts them at zero.
    fn integrate(&mut self, now: Now, import: f64, export: f64, pv: f64, house: f64) {
        let day = local_day(now);
        if day != self.today.day {
            self.today = Today {
                day,
                ..Today::default()
            };
        }
        let step = self.last_tick.map_or(0, |t| now.mono_ms.saturating_sub(t));
        self.last_tick = Some(now.mono_ms);
        if step == 0 || step > MAX_STEP_MS {
            return;
        }
        let hours = step as f64 / 3_600_000.0;
        self.today.import_wh += import * hours;
        self.today.export_wh += export * hours;
        self.today.pv_wh += pv * hours;
        self.today.house_wh += house * hours;
        let total = &mut self.totals;
        total.house_wh += house * hours;
        total.pv_self_wh += (pv - export).max(0.0) * hours;
        total.grid_import_wh += import * hours;
        total.grid_export_wh += export * hours;
    }
}

impl Controller for Site {
    fn decide(&mut self, house: &Snapshot, now: Now) -> Decisions {
        let v = self.tick(house, now);
        let numbers = [
            ("grid_import_power", v.grid_import_w),
            ("grid_export_power", v.grid_export_w),
            ("house_power", v.house_w),
            ("surplus_power", v.surplus_w),
            ("self_consumption_today", v.self_consumption_pct),
            ("autarky_today", v.autarky_pct),
            ("house_energy", v.house_kwh),
            ("pv_self_energy", v.pv_self_kwh),
            ("grid_import_energy", v.grid_import_kwh),
            ("grid_export_energy", v.grid_export_kwh),
        ];
        let mut states: Vec<_> = numbers
            .into_iter()
            .filter_map(|(key, value)| Some((key, State::Number(value?))))
            .collect();
        if let Some(on) = v.surplus_available {
            states.push(("surplus_available", State::Switch(on)));
        }
        Decisions {
            states,
            ..Decisions::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_name_the_entities_that_have_a_value() {
        let mut site = Site::new(SiteSettings::default());
        let mut house = Snapshot::default();
        assert_eq!(
            site.decide(&house, Now::at_s(0)),
            Decisions::default(),
            "without a grid meter there is nothing to say"
        );
        house.power(Role::Grid, 0, -700.0, Now::at_s(1));
        house.power(Role::Pv, 1, 1000.0, Now::at_s(1));
        let d = site.decide(&house, Now::at_s(1));
        let number = |key| {
            d.states.iter().find_map(|(k, s)| match s {
                State::Number(v) if *k == key => Some((v * 10.0).round() / 10.0),
                _ => None,
            })
        };
        assert_eq!(number("house_power"), Some(300.0));
        assert_eq!(number("grid_import_power"), Some(0.0));
        // One second integrated since the first look: 300 of 1000 Wh from the panels stayed.
        assert_eq!(number("self_consumption_today"), Some(30.0));
        assert_eq!(number("autarky_today"), Some(100.0));
        assert_eq!(
            d.states.last(),
            Some(&("surplus_available", State::Switch(true)))
        );
        // Seven values and four lifetime energies.
        assert_eq!(d.states.len(), 11);
        assert!(d.actions.is_empty() && d.log.is_empty());
    }

    #[test]
    fn lifetime_energies_only_grow_and_skip_what_the_grid_meter_counts() {
        let mut site = Site::new(SiteSettings::default());
        site.restore(Totals {
            house_wh: 1000.0,
            pv_self_wh: f64::NAN,
            grid_import_wh: -5.0,
            grid_export_wh: 0.0,
        });
        let mut house = Snapshot::default();
        // One hour: 600 W from the grid, panels 1500 W of which 300 W exported.
        let mut v = SiteValues::default();
        for s in 0..=3600 {
            house.power(
                Role::Grid,
                0,
                if s < 1800 { 600.0 } else { -300.0 },
                Now::at_s(s),
            );
            house.power(Role::Pv, 1, 1500.0, Now::at_s(s));
            v = site.tick(&house, Now::at_s(s));
        }
        let round = |x: Option<f64>| x.map(|k| (k * 1000.0).round() / 1000.0);
        // Half an hour of 2100 W, half an hour of 1200 W, on top of the restored 1 kWh.
        assert_eq!(round(v.house_kwh), Some(1.0 + 1.05 + 0.6));
        assert_eq!(
            round(v.pv_self_kwh),
            Some(0.75 + 0.6),
            "garbage restored as zero"
        );
        assert_eq!(round(v.grid_import_kwh), Some(0.3));
        assert_eq!(round(v.grid_export_kwh), Some(0.15));
        // A grid meter with its own counters: the site does not count the grid again.
        house.grid_counters = true;
        let v = site.tick(&house, Now::at_s(3601));
        assert_eq!((v.grid_import_kwh, v.grid_export_kwh), (None, None));
        assert!(v.house_kwh.is_some());
    }

    #[test]
    fn a_stale_grid_leaves_only_the_surplus_switched_off() {
        let mut site = Site::new(SiteSettings::default());
        let mut house = Snapshot::default();
        house.fresh_for(0, 5_000);
        house.power(Role::Grid, 0, -2000.0, Now::at_s(0));
        assert_eq!(
            site.tick(&house, Now::at_s(1)).surplus_available,
            Some(true)
        );
        let v = site.tick(&house, Now::at_s(6));
        assert_eq!(
            v,
            SiteValues {
                surplus_available: Some(false),
                ..SiteValues::default()
            }
        );
        // Back again: the surplus is averaged afresh, not from before the gap.
        house.power(Role::Grid, 0, 300.0, Now::at_s(7));
        let v = site.tick(&house, Now::at_s(7));
        assert_eq!((v.surplus_w, v.surplus_available), (Some(0.0), Some(false)));
    }
}
