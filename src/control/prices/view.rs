//! The prices as entities: now and next, today's lowest, highest and average, the cheapest
//! window today and tonight, "cheap now", the Modul 3 band now, and whether the prices are
//! current.

use super::{Slot, Tariff, cheap, cheapest, day, local};
use crate::control::{Decisions, Level, Record, State};
use crate::model::Now;
use crate::model::time::iso8601;

#[derive(Debug, Clone, PartialEq)]
pub struct ViewSettings {
    pub tariff: Tariff,
    /// A fixed price in EUR/kWh (with VAT) instead of slots.
    pub fixed_eur: Option<f64>,
    pub cheap_percentile: f64,
    pub cheap_limit_eur: Option<f64>,
    pub window_hours: f64,
}

#[derive(Debug)]
pub struct PriceView {
    settings: ViewSettings,
    slots: Vec<Slot>,
    /// Why the last fetch failed, while it does.
    problem: Option<String>,
    /// The schedule for chart cards, made when the slots change rather than every second.
    schedule_json: String,
}

/// How long slots are kept: yesterday's for the day boundary, and the days ahead.
const KEEP_S: i64 = 2 * 86_400;

impl PriceView {
    pub fn new(settings: ViewSettings) -> Self {
        Self {
            settings,
            slots: Vec::new(),
            problem: None,
            schedule_json: String::new(),
        }
    }

    /// Slots from a fetch or the cache: each replaces the one with the same start.
    pub fn add(&mut self, slots: Vec<Slot>, now: Now) {
        let now_s = now.unix_ms / 1000;
        self.slots
            .retain(|s| !slots.iter().any(|n| n.start_s == s.start_s));
        self.slots.extend(slots);
        self.slots.retain(|s| s.end_s > now_s - KEEP_S);
        self.slots.sort_by_key(|s| s.start_s);
        self.problem = None;
        self.schedule_json = self.render_schedule();
    }

    /// The last fetch failed; the known prices stay in use. A log record when that is news.
    pub fn failed(&mut self, why: String) -> Option<Record> {
        let news = self.problem.as_deref() != Some(why.as_str());
        self.problem = Some(why.clone());
        news.then(|| Record {
            level: Level::Warn,
            message: format!(
                "Fetching prices failed: {why}. The {} known slots stay in use; trying again later.",
                self.slots.len()
            ),
        })
    }

    /// The customer's price now, where a slot covers now (or the fixed price).
    pub fn price_at(&self, now: Now) -> Option<f64> {
        if self.settings.fixed_eur.is_some() {
            return self.settings.fixed_eur;
        }
        let now_s = now.unix_ms / 1000;
        self.slots
            .iter()
            .find(|s| s.start_s <= now_s && now_s < s.end_s)
            .map(|s| self.settings.tariff.price(s).0)
    }

    /// Each known slot with the customer's price, for the controllers.
    pub fn schedule(&self) -> Vec<(i64, i64, f64)> {
        if self.settings.fixed_eur.is_some() {
            return Vec::new(); // one price all day: no slot is cheaper than another
        }
        let price = |s: &Slot| self.settings.tariff.price(s).0;
        self.slots
            .iter()
            .map(|s| (s.start_s, s.end_s, price(s)))
            .collect()
    }

    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }

    pub fn decide(&self, now: Now) -> Decisions {
        let mut d = Decisions::default();
        let now_s = now.unix_ms / 1000;
        if let Some(fixed) = self.settings.fixed_eur {
            d.states.push(("price_now", State::Number(fixed)));
            return d;
        }
        let price = |s: &Slot| self.settings.tariff.price(s).0;
        let current = self
            .slots
            .iter()
            .position(|s| s.start_s <= now_s && now_s < s.end_s);
        let today = day(&self.slots, local(now_s).date());
        let today_prices: Vec<f64> = today.iter().map(price).collect();
        if let Some(i) = current {
            let (now_price, band) = self.settings.tariff.price(&self.slots[i]);
            d.states.push(("price_now", State::Number(now_price)));
            d.attributes.push(("price_now", self.schedule_json.clone()));
            if let Some(next) = self.slots.get(i + 1) {
                d.states.push(("price_next", State::Number(price(next))));
            }
            let cheap_now = cheap(&today_prices, now_price, self.settings.cheap_percentile)
                || self
                    .settings
                    .cheap_limit_eur
                    .is_some_and(|l| now_price <= l);
            d.states.push(("price_cheap", State::Switch(cheap_now)));
            if let Some(band) = band {
                d.states
                    .push(("price_band", State::Text(band.name().into())));
            }
        }
        if !today_prices.is_empty() {
            let min = today_prices.iter().copied().fold(f64::INFINITY, f64::min);
            let max = today_prices
                .iter()
                .copied()
                .fold(f64::NEG_INFINITY, f64::max);
            let avg = today_prices.iter().sum::<f64>() / today_prices.len() as f64;
            d.states.extend([
                ("price_min_today", State::Number(min)),
                ("price_max_today", State::Number(max)),
                ("price_avg_today", State::Number(avg)),
            ]);
        }
        let n = self.window_slots();
        if let Some((start, avg)) = cheapest(&today, &today_prices, n) {
            d.states
                .push(("cheapest_start_today", State::Text(iso8601(start * 1000))));
            d.states.push(("cheapest_avg_today", State::Number(avg)));
        }
        let tonight = self.tonight(now_s);
        let tonight_prices: Vec<f64> = tonight.iter().map(price).collect();
        if let Some((start, avg)) = cheapest(&tonight, &tonight_prices, n) {
            d.states
                .push(("cheapest_start_tonight", State::Text(iso8601(start * 1000))));
            d.states.push(("cheapest_avg_tonight", State::Number(avg)));
        }
        let status = match (&self.problem, current) {
            (None, Some(_)) => "ok".to_string(),
            (None, None) => "no price for now".to_string(),
            (Some(why), _) => format!("last known prices; fetching failed: {why}"),
        };
        d.diagnostics.push(("price_status", State::Text(status)));
        d
    }

    /// The known slots for chart cards: `[[start in Unix ms, EUR/kWh], …]`, compact so that
    /// two days stay well below Home Assistant's 16 KB for recorded attributes.
    fn render_schedule(&self) -> String {
        let prices: Vec<serde_json::Value> = self
            .schedule()
            .into_iter()
            .map(|(start, _, eur)| {
                serde_json::json!([start * 1000, (eur * 10_000.0).round() / 10_000.0])
            })
            .collect();
        serde_json::json!({ "unit": "EUR/kWh", "prices": prices }).to_string()
    }

    /// How many slots the cheapest window spans (slots of the day's length, usually 15 min).
    fn window_slots(&self) -> usize {
        let slot_s = self
            .slots
            .first()
            .map_or(900, |s| (s.end_s - s.start_s).max(1));
        ((self.settings.window_hours * 3600.0) / slot_s as f64)
            .round()
            .max(1.0) as usize
    }

    /// From 18:00 today to 08:00 tomorrow, local time, where it has not passed yet.
    fn tonight(&self, now_s: i64) -> Vec<Slot> {
        let here = local(now_s);
        self.slots
            .iter()
            .filter(|s| s.start_s >= now_s - 900)
            .filter(|s| {
                let at = local(s.start_s);
                let evening = at.date() == here.date() && at.hour() >= 18;
                let morning = Some(at.date()) == here.date().tomorrow().ok() && at.hour() < 8;
                evening || morning
            })
            .copied()
            .collect()
    }
}
