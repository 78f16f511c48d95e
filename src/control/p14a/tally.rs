//! How long and how often the site was dimmed, today and this year: the figures an owner
//! checks against the operator's statement. Tests of the dimming do not count.

use serde::{Deserialize, Serialize};

/// Kept with the settings, so that a restart does not reset the day or the year.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tally {
    /// The local day the figures are of, `YYYY-MM-DD`.
    pub day: String,
    pub ms_today: u64,
    pub ms_year: u64,
    pub events_year: u32,
}

impl Tally {
    /// Moves to `day` (local, `YYYY-MM-DD`): a new day starts today's figure at zero, a new
    /// year the year's figures.
    pub fn roll(&mut self, day: &str) {
        if self.day == day {
            return;
        }
        if self.day.get(..4) != day.get(..4) {
            self.ms_year = 0;
            self.events_year = 0;
        }
        self.ms_today = 0;
        self.day = day.to_string();
    }

    pub fn dimmed_for(&mut self, ms: u64) {
        self.ms_today += ms;
        self.ms_year += ms;
    }

    pub fn event(&mut self) {
        self.events_year += 1;
    }

    pub fn minutes_today(&self) -> u64 {
        self.ms_today / 60_000
    }

    pub fn minutes_year(&self) -> u64 {
        self.ms_year / 60_000
    }

    /// The figures as shown: whole minutes, so that they change once a minute at most.
    pub fn shown(&self) -> (String, u64, u64, u32) {
        (
            self.day.clone(),
            self.minutes_today(),
            self.minutes_year(),
            self.events_year,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_day_starts_today_and_a_new_year_starts_the_year() {
        let mut t = Tally::default();
        t.roll("2026-12-31");
        t.event();
        t.dimmed_for(90 * 60_000);
        t.roll("2026-12-31");
        assert_eq!((t.minutes_today(), t.minutes_year()), (90, 90));
        t.roll("2027-01-01");
        assert_eq!(
            (t.minutes_today(), t.minutes_year(), t.events_year),
            (0, 0, 0)
        );
        t.event();
        t.dimmed_for(30 * 60_000);
        t.roll("2027-01-02");
        assert_eq!(
            (t.minutes_today(), t.minutes_year(), t.events_year),
            (0, 30, 1)
        );
    }
}
