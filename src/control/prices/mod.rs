//! Prices: the spot price of every slot, what a kWh costs the customer (spot, surcharges, the
//! network fee by its Modul 3 window, levies, VAT), local days in Europe/Berlin with their 92,
//! 96 or 100 quarter hours, and the cheapest windows. Pure: no clock, no I/O; the time-zone
//! rules are built into the binary.

pub mod charge;
pub mod sources;
pub mod view;

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;

/// Where the prices come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A bidding zone such as DE-LU.
    EnergyCharts {
        zone: String,
    },
    /// `de` or `at`.
    Awattar {
        country: String,
    },
    Tibber {
        token: String,
    },
}

impl Source {
    pub const NAMES: &'static [&'static str] = &["energy-charts", "awattar", "tibber"];

    pub fn name(&self) -> &'static str {
        match self {
            Source::EnergyCharts { .. } => "energy-charts",
            Source::Awattar { .. } => "awattar",
            Source::Tibber { .. } => "tibber",
        }
    }

    /// Where the service answers, unless told otherwise (tests, proxies).
    pub fn default_url(&self) -> String {
        match self {
            Source::EnergyCharts { .. } => "https://api.energy-charts.info".into(),
            Source::Awattar { country } => format!("https://api.awattar.{country}"),
            Source::Tibber { .. } => "https://api.tibber.com/v1-beta/gql".into(),
        }
    }
}

pub use crate::model::Slot;

/// Germany's time, for days, windows and what people read.
pub fn berlin() -> TimeZone {
    // Built in (tzdb-bundle-always), so this cannot fail; UTC would only shift the windows.
    TimeZone::get("Europe/Berlin").unwrap_or(TimeZone::UTC)
}

/// Local date and time of a Unix second.
pub fn local(unix_s: i64) -> DateTime {
    let at = jiff::Timestamp::from_second(unix_s).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    berlin().to_datetime(at)
}

/// The slots that begin on a local day: 96 quarter hours, 92 when the clocks go forward, 100
/// when they go back.
pub fn day(slots: &[Slot], date: Date) -> Vec<Slot> {
    slots
        .iter()
        .filter(|s| local(s.start_s).date() == date)
        .copied()
        .collect()
}

/// The network fee's band in Modul 3 (§14a EnWG): low, standard, high.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Band {
    Nt,
    St,
    Ht,
}

impl Band {
    pub fn name(self) -> &'static str {
        match self {
            Band::Nt => "nt",
            Band::St => "st",
            Band::Ht => "ht",
        }
    }
}

/// A window of a band in local time, e.g. NT 00:00–06:00; `to_min` may pass midnight
/// (23:00–07:00 is 1380..420).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub band: Band,
    pub from_min: u16,
    pub to_min: u16,
}

impl Window {
    fn contains(&self, minute: u16) -> bool {
        if self.from_min <= self.to_min {
            (self.from_min..self.to_min).contains(&minute)
        } else {
            minute >= self.from_min || minute < self.to_min
        }
    }
}

/// An operator's Modul 3: its three network energy prices and, per quarter of the year, the
/// NT and HT windows; the rest of each day is ST, as is a quarter without windows.
#[derive(Debug, Clone, PartialEq)]
pub struct Modul3 {
    pub nt_ct: f64,
    pub st_ct: f64,
    pub ht_ct: f64,
    /// Quarters Q1..Q4.
    pub quarters: [Vec<Window>; 4],
}

impl Modul3 {
    pub fn band(&self, at: DateTime) -> Band {
        let quarter = usize::from((at.month() as u8 - 1) / 3);
        let minute = (at.hour() as u16) * 60 + at.minute() as u16;
        self.quarters[quarter]
            .iter()
            .find(|w| w.contains(minute))
            .map_or(Band::St, |w| w.band)
    }

    fn ct(&self, band: Band) -> f64 {
        match band {
            Band::Nt => self.nt_ct,
            Band::St => self.st_ct,
            Band::Ht => self.ht_ct,
        }
    }
}

/// What makes up the customer's price besides the spot price, in ct/kWh net, and the VAT.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tariff {
    /// The supplier's procurement surcharge.
    pub surcharge_ct: f64,
    /// The network energy price where no Modul 3 applies.
    pub network_ct: f64,
    /// Electricity tax, concession fee and other levies.
    pub levies_ct: f64,
    pub vat_percent: f64,
    pub modul3: Option<Modul3>,
    /// The slots' prices are the customer's already (Tibber's total).
    pub total_given: bool,
}

impl Tariff {
    /// The customer's price of a slot in EUR/kWh, with the Modul 3 band it falls in.
    pub fn price(&self, slot: &Slot) -> (f64, Option<Band>) {
        let band = self.modul3.as_ref().map(|m| m.band(local(slot.start_s)));
        if self.total_given {
            return (slot.eur_kwh, band);
        }
        let network = match (&self.modul3, band) {
            (Some(m), Some(b)) => m.ct(b),
            _ => self.network_ct,
        };
        let net_ct = slot.eur_kwh * 100.0 + self.surcharge_ct + network + self.levies_ct;
        (net_ct * (1.0 + self.vat_percent / 100.0) / 100.0, band)
    }
}

/// The cheapest run of `n` back-to-back slots: its first slot's start and its average price.
pub fn cheapest(slots: &[Slot], prices: &[f64], n: usize) -> Option<(i64, f64)> {
    if n == 0 || slots.len() < n {
        return None;
    }
    let mut best: Option<(i64, f64)> = None;
    for i in 0..=slots.len() - n {
        let run = &slots[i..i + n];
        if run.windows(2).any(|w| w[0].end_s != w[1].start_s) {
            continue; // a gap in the prices
        }
        let avg = prices[i..i + n].iter().sum::<f64>() / n as f64;
        if best.is_none_or(|(_, b)| avg < b) {
            best = Some((slots[i].start_s, avg));
        }
    }
    best
}

/// Whether the slot running at `now_s` is among the cheapest that together last `need_s`
/// between now and `until_s`; `None` when the known slots do not cover that much time.
pub fn among_cheapest(
    prices: &[(i64, i64, f64)],
    now_s: i64,
    until_s: i64,
    need_s: i64,
) -> Option<bool> {
    let mut open: Vec<&(i64, i64, f64)> = prices
        .iter()
        .filter(|(start, end, _)| *end > now_s && *end <= until_s && *start < until_s)
        .collect();
    let covered: i64 = open.iter().map(|(s, e, _)| e - s.max(&now_s)).sum();
    if covered < need_s {
        return None;
    }
    open.sort_by(|a, b| a.2.total_cmp(&b.2).then(a.0.cmp(&b.0)));
    let mut taken = 0;
    for (start, end, _) in open {
        if taken >= need_s {
            break;
        }
        if *start <= now_s && now_s < *end {
            return Some(true);
        }
        taken += end - start.max(&now_s);
    }
    Some(false)
}

/// Whether `price` lies at or below the `percentile` (0–100) of `prices`.
pub fn cheap(prices: &[f64], price: f64, percentile: f64) -> bool {
    if prices.is_empty() {
        return false;
    }
    let mut sorted = prices.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((percentile / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    price <= sorted[rank.min(sorted.len() - 1)]
}

#[cfg(test)]
mod tests;
