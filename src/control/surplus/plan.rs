//! A wallbox's charge plan: "X kWh by HH:MM at the lowest cost". The plan's deadline is the
//! next HH:MM after it was set; the energy counts from then. With prices, the car charges at
//! full power in the cheapest slots that give what is still due; without, it starts late
//! enough to finish just in time. Between those slots it follows its charge mode, and what
//! the sun gives counts towards the plan too. Met or missed, the plan ends.

use super::load::clock;
use crate::control::prices::among_cheapest;
use crate::model::Now;
use crate::model::time::local_ms_of_day;

/// Charging at full power may fall short of its nominal power (a car that tapers near full):
/// the plan reckons with this much more time.
const MARGIN: f64 = 1.1;
/// Start this much earlier still, for the switching itself.
const LEAD_MS: u64 = 60_000;

/// A plan in force.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    pub energy_wh: f64,
    /// Local time of day the energy is due by.
    pub by_ms: u64,
    /// Unix ms of the deadline, fixed at the first decision after the plan was set.
    pub deadline_unix_ms: Option<i64>,
    pub charged_wh: f64,
}

impl Plan {
    pub fn new(energy_wh: f64, by_ms: u64) -> Self {
        Self {
            energy_wh,
            by_ms,
            deadline_unix_ms: None,
            charged_wh: 0.0,
        }
    }

    /// The deadline: the next `by_ms` local time after `now`.
    pub fn deadline(&mut self, now: Now) -> i64 {
        *self.deadline_unix_ms.get_or_insert_with(|| {
            let today = now.unix_ms - local_ms_of_day(now) as i64 + self.by_ms as i64;
            if today > now.unix_ms {
                today
            } else {
                today + 86_400_000
            }
        })
    }

    pub fn left_wh(&self) -> f64 {
        (self.energy_wh - self.charged_wh).max(0.0)
    }
}

/// Where a plan stands at a decision.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// Still due: the energy left, the ms until the deadline, and whether now is among the
    /// cheapest slots that give it (`None`: the prices do not reach the deadline).
    Due {
        left_wh: f64,
        until_ms: u64,
        cheapest_now: Option<bool>,
    },
    Met,
    Missed,
}

/// Where `plan` stands at `now`, charging at `full_w`.
pub fn progress(plan: &mut Plan, full_w: f64, prices: &[(i64, i64, f64)], now: Now) -> Progress {
    let deadline = plan.deadline(now);
    let left_wh = plan.left_wh();
    // Counted from power, the energy creeps up to the target in ever smaller sums.
    if left_wh < 1.0 {
        return Progress::Met;
    }
    if now.unix_ms >= deadline {
        return Progress::Missed;
    }
    let need_s = need_ms(left_wh, full_w).div_ceil(1000) as i64;
    Progress::Due {
        left_wh,
        until_ms: (deadline - now.unix_ms) as u64,
        cheapest_now: among_cheapest(prices, now.unix_ms / 1000, deadline / 1000, need_s),
    }
}

/// How long charging `wh` at `full_w` takes, with the margin.
pub fn need_ms(wh: f64, full_w: f64) -> u64 {
    if full_w <= 0.0 {
        return u64::MAX / 2;
    }
    (wh / full_w * 3_600_000.0 * MARGIN) as u64
}

/// Whether the plan calls for full power now, and why in words.
pub fn full_power(progress: &Progress, full_w: f64, by_ms: u64) -> Option<String> {
    let Progress::Due {
        left_wh,
        until_ms,
        cheapest_now,
    } = progress
    else {
        return None;
    };
    let left = format!(
        "plan: {:.1} kWh left before {}",
        left_wh / 1000.0,
        clock(by_ms)
    );
    match cheapest_now {
        Some(true) => Some(format!("{left}, in the cheapest slots")),
        Some(false) => None,
        None if *until_ms <= need_ms(*left_wh, full_w) + LEAD_MS => {
            Some(format!("{left}, from the grid if need be"))
        }
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 22:00 local on a winter day (UTC+1).
    fn at(hours: f64) -> Now {
        let midnight = 1_764_370_800_000; // 2025-11-29 00:00 +01:00
        let ms = (hours * 3_600_000.0) as i64;
        Now {
            mono_ms: ms as u64,
            unix_ms: midnight + ms,
            utc_offset_s: 3600,
        }
    }

    fn hourly(from_h: i64, prices: &[f64]) -> Vec<(i64, i64, f64)> {
        let midnight_s = 1_764_370_800;
        prices
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let start = midnight_s + (from_h + i as i64) * 3600;
                (start, start + 3600, *p)
            })
            .collect()
    }

    #[test]
    fn the_deadline_is_the_next_time_of_day_after_the_plan_was_set() {
        let mut p = Plan::new(10_000.0, 7 * 3_600_000);
        assert_eq!(p.deadline(at(22.0)), at(31.0).unix_ms, "07:00 tomorrow");
        assert_eq!(p.deadline(at(23.0)), at(31.0).unix_ms, "fixed once set");
        let mut p = Plan::new(10_000.0, 7 * 3_600_000);
        assert_eq!(p.deadline(at(6.0)), at(7.0).unix_ms, "07:00 today");
    }

    #[test]
    fn with_prices_it_charges_in_the_cheapest_hours_before_the_deadline() {
        // 22 kWh at 11 kW: two hours, 2 h 12 min with the margin: three hours are taken.
        // From 22:00 to 07:00 the cheapest are 02:00, 03:00 and 04:00.
        let prices = hourly(
            22,
            &[30.0, 28.0, 25.0, 24.0, 20.0, 21.0, 22.0, 26.0, 29.0, 10.0],
        );
        let mut p = Plan::new(22_000.0, 7 * 3_600_000);
        let full = |h: f64, p: &mut Plan| {
            let progress = progress(p, 11_000.0, &prices, at(h));
            full_power(&progress, 11_000.0, 7 * 3_600_000)
        };
        assert_eq!(full(22.5, &mut p), None);
        assert_eq!(full(25.5, &mut p), None, "01:30");
        assert_eq!(
            full(26.5, &mut p).as_deref(),
            Some("plan: 22.0 kWh left before 07:00, in the cheapest slots")
        );
        // Charged meanwhile: what is left fits in the cheapest hour still to come.
        p.charged_wh = 15_000.0;
        assert!(full(28.5, &mut p).is_some(), "04:30");
        assert_eq!(full(24.5, &mut p), None, "00:30: 02:00 is cheaper");
        p.charged_wh = 22_000.0;
        assert_eq!(progress(&mut p, 11_000.0, &prices, at(29.5)), Progress::Met);
    }

    #[test]
    fn without_prices_it_starts_just_in_time_and_a_missed_plan_ends() {
        let mut p = Plan::new(11_000.0, 7 * 3_600_000);
        let full = |h: f64, p: &mut Plan| {
            let progress = progress(p, 11_000.0, &[], at(h));
            full_power(&progress, 11_000.0, 7 * 3_600_000)
        };
        // One hour at 11 kW, 66 min with the margin, a minute's lead: from 05:53.
        assert_eq!(full(29.8, &mut p), None, "05:48");
        assert_eq!(
            full(29.9, &mut p).as_deref(),
            Some("plan: 11.0 kWh left before 07:00, from the grid if need be")
        );
        p.charged_wh = 4_000.0;
        assert_eq!(progress(&mut p, 11_000.0, &[], at(31.0)), Progress::Missed);
    }
}
