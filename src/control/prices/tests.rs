use jiff::civil::date;

use super::sources::{awattar, energy_charts, tibber};
use super::*;

/// An Energy-Charts answer from `from_s`, `n` quarter hours, priced 100 + i EUR/MWh.
fn energy_charts_answer(from_s: i64, n: i64) -> String {
    let starts: Vec<i64> = (0..n).map(|i| from_s + i * 900).collect();
    let prices: Vec<f64> = (0..n).map(|i| 100.0 + i as f64).collect();
    serde_json::json!({
        "license_info": "CC BY 4.0 (creativecommons.org/licenses/by/4.0) from Bundesnetzagentur | SMARD.de",
        "unix_seconds": starts, "price": prices, "unit": "EUR / MWh", "deprecated": false
    })
    .to_string()
}

fn unix(s: &str) -> i64 {
    s.parse::<jiff::Timestamp>().unwrap().as_second()
}

#[test]
fn local_days_have_92_96_and_100_quarter_hours() {
    // Three days around each clock change, from local midnight before them.
    let spring =
        energy_charts(&energy_charts_answer(unix("2026-03-27T23:00:00Z"), 4 * 71)).unwrap();
    assert_eq!(day(&spring, date(2026, 3, 28)).len(), 96);
    assert_eq!(day(&spring, date(2026, 3, 29)).len(), 92);
    assert_eq!(day(&spring, date(2026, 3, 30)).len(), 96);
    let autumn =
        energy_charts(&energy_charts_answer(unix("2026-10-23T22:00:00Z"), 4 * 73)).unwrap();
    assert_eq!(day(&autumn, date(2026, 10, 24)).len(), 96);
    assert_eq!(day(&autumn, date(2026, 10, 25)).len(), 100);
    assert_eq!(day(&autumn, date(2026, 10, 26)).len(), 96);
    // The 25 October day begins at 00:00 summer time, 22:00 UTC the evening before.
    assert_eq!(
        day(&autumn, date(2026, 10, 25))[0].start_s,
        unix("2026-10-24T22:00:00Z")
    );
}

#[test]
fn energy_charts_prices_become_eur_per_kwh_and_slots_end_where_the_next_begins() {
    let slots = energy_charts(&energy_charts_answer(unix("2026-11-30T23:00:00Z"), 3)).unwrap();
    assert_eq!(slots.len(), 3);
    assert!((slots[0].eur_kwh - 0.100).abs() < 1e-12);
    assert_eq!(slots[0].end_s - slots[0].start_s, 900);
    assert_eq!(
        slots[2].end_s - slots[2].start_s,
        900,
        "the last as long as the one before"
    );
    // A slot the exchange left unpriced (null) is left out, not priced at 0.
    let gap = r#"{"unix_seconds":[0,900,1800],"price":[50.0,null,60.0],"unit":"EUR / MWh"}"#;
    assert_eq!(energy_charts(gap).unwrap().len(), 2);
}

#[test]
fn broken_answers_say_what_is_wrong() {
    assert!(
        energy_charts("<html>502</html>")
            .unwrap_err()
            .starts_with("not JSON")
    );
    assert_eq!(
        energy_charts(r#"{"unix_seconds":[0,900],"price":[1.0],"unit":"EUR / MWh"}"#).unwrap_err(),
        "2 start times but 1 prices"
    );
    assert_eq!(
        energy_charts(r#"{"unix_seconds":[0],"price":[1.0],"unit":"USD / MWh"}"#).unwrap_err(),
        "prices in 'USD / MWh', expected EUR/MWh"
    );
    assert_eq!(
        energy_charts(r#"{"unix_seconds":[],"price":[]}"#).unwrap(),
        vec![]
    );
    assert_eq!(awattar("{}").unwrap_err(), "no data list in the answer");
    assert_eq!(
        tibber(r#"{"errors":[{"message":"Too many requests"}]}"#).unwrap_err(),
        "Tibber says: Too many requests"
    );
}

#[test]
fn awattar_slots_are_as_long_as_the_answer_says() {
    let answer = r#"{"object":"list","data":[
        {"start_timestamp":1796079600000,"end_timestamp":1796083200000,"marketprice":87.5,"unit":"Eur/MWh"},
        {"start_timestamp":1796083200000,"end_timestamp":1796086800000,"marketprice":-3.2,"unit":"Eur/MWh"}],
        "url":"/at/v1/marketdata"}"#;
    let slots = awattar(answer).unwrap();
    assert_eq!(slots[0].end_s - slots[0].start_s, 3600, "hourly");
    assert!(
        (slots[1].eur_kwh + 0.0032).abs() < 1e-12,
        "negative prices stay negative"
    );
}

#[test]
fn tibber_totals_are_taken_as_they_come() {
    let answer = r#"{"data":{"viewer":{"homes":[{"currentSubscription":{"priceInfo":{
        "today":[{"total":0.3012,"energy":0.1102,"tax":0.1910,"startsAt":"2026-11-30T23:45:00.000+01:00","currency":"EUR"}],
        "tomorrow":[{"total":0.2987,"energy":0.1081,"tax":0.1906,"startsAt":"2026-12-01T00:00:00.000+01:00","currency":"EUR"}]
    }}}]}}}"#;
    let slots = tibber(answer).unwrap();
    assert_eq!(slots.len(), 2);
    assert_eq!(slots[0].start_s, unix("2026-11-30T22:45:00Z"));
    assert_eq!(slots[0].end_s, slots[1].start_s);
    assert_eq!(slots[1].end_s - slots[1].start_s, 900);
    let tariff = Tariff {
        total_given: true,
        vat_percent: 19.0,
        ..Tariff::default()
    };
    assert_eq!(tariff.price(&slots[0]).0, 0.3012);
}

/// Albstadtwerke's Modul 3 for 2026 (ct/kWh net): Q1 and Q4 NT 00–06, HT 17–21, ST the rest;
/// Q2 and Q3 ST all day.
fn albstadt() -> Modul3 {
    let winter = vec![
        Window {
            band: Band::Nt,
            from_min: 0,
            to_min: 6 * 60,
        },
        Window {
            band: Band::Ht,
            from_min: 17 * 60,
            to_min: 21 * 60,
        },
    ];
    Modul3 {
        nt_ct: 1.31,
        st_ct: 6.54,
        ht_ct: 8.90,
        quarters: [winter.clone(), Vec::new(), Vec::new(), winter],
    }
}

#[test]
fn the_customer_price_adds_up_with_the_network_fee_of_its_window() {
    let tariff = Tariff {
        surcharge_ct: 1.5,
        network_ct: 8.62,
        levies_ct: 2.5,
        vat_percent: 19.0,
        modul3: None,
        total_given: false,
    };
    // 80 EUR/MWh = 8 ct; (8 + 1.5 + 8.62 + 2.5) × 1.19 = 24.5378 ct.
    let slot = Slot::new(
        unix("2026-11-30T11:00:00Z"),
        unix("2026-11-30T11:15:00Z"),
        0.080,
    )
    .unwrap();
    let (price, band) = tariff.price(&slot);
    assert!((price - 0.245378).abs() < 1e-9, "{price}");
    assert_eq!(band, None);
    // With Modul 3 the network fee follows the window the slot begins in, in local time.
    let tariff = Tariff {
        modul3: Some(albstadt()),
        ..tariff
    };
    let at = |utc: &str| Slot::new(unix(utc), unix(utc) + 900, 0.080).unwrap();
    let (night, band) = tariff.price(&at("2026-11-30T04:45:00Z")); // 05:45 local
    assert_eq!(band, Some(Band::Nt));
    assert!((night - (8.0 + 1.5 + 1.31 + 2.5) * 1.19 / 100.0).abs() < 1e-9);
    assert_eq!(tariff.price(&at("2026-11-30T16:00:00Z")).1, Some(Band::Ht)); // 17:00
    assert_eq!(tariff.price(&at("2026-11-30T20:00:00Z")).1, Some(Band::St)); // 21:00
    assert_eq!(
        tariff.price(&at("2026-07-01T02:00:00Z")).1,
        Some(Band::St),
        "summer: ST"
    );
    // Summer time: 16:00 UTC is 18:00 local, in the high window of the fourth quarter's start.
    assert_eq!(tariff.price(&at("2026-10-01T16:00:00Z")).1, Some(Band::Ht));
}

#[test]
fn a_window_may_run_past_midnight() {
    let w = Window {
        band: Band::Nt,
        from_min: 23 * 60,
        to_min: 7 * 60,
    };
    assert!(w.contains(23 * 60 + 30) && w.contains(0) && w.contains(6 * 60 + 59));
    assert!(!w.contains(7 * 60) && !w.contains(12 * 60));
}

#[test]
fn now_is_among_the_cheapest_slots_that_give_the_time_still_needed() {
    let prices: Vec<(i64, i64, f64)> = [0.30, 0.10, 0.25, 0.05, 0.40]
        .iter()
        .enumerate()
        .map(|(i, p)| (i as i64 * 900, (i as i64 + 1) * 900, *p))
        .collect();
    // Half an hour needed before 4500: the slots at 900 (10 ct) and 2700 (5 ct).
    assert_eq!(among_cheapest(&prices, 0, 4500, 1800), Some(false));
    assert_eq!(among_cheapest(&prices, 900, 4500, 1800), Some(true));
    assert_eq!(among_cheapest(&prices, 2700, 4500, 900), Some(true));
    // A quarter hour still needed at 1800: the 5-ct slot, not this 25-ct one.
    assert_eq!(among_cheapest(&prices, 1800, 4500, 900), Some(false));
    // The known slots do not cover the time still needed: no answer.
    assert_eq!(among_cheapest(&prices, 0, 4500, 5000), None);
}

#[test]
fn the_cheapest_window_is_back_to_back_and_a_percentile_says_cheap() {
    let slots: Vec<Slot> = (0..8)
        .map(|i| Slot::new(i * 900, (i + 1) * 900, 0.0).unwrap())
        .collect();
    let prices = [0.30, 0.20, 0.10, 0.12, 0.25, 0.05, 0.40, 0.06];
    assert_eq!(cheapest(&slots, &prices, 2), Some((2 * 900, 0.11)));
    assert_eq!(cheapest(&slots, &prices, 1), Some((5 * 900, 0.05)));
    assert_eq!(cheapest(&slots, &prices, 9), None);
    // A gap in the slots is not bridged.
    let mut gappy = slots.clone();
    gappy[3] = Slot::new(4 * 900, 5 * 900, 0.0).unwrap();
    let (start, _) = cheapest(&gappy, &prices, 2).unwrap();
    assert_ne!(start, 2 * 900);
    assert!(cheap(&prices, 0.06, 25.0));
    assert!(!cheap(&prices, 0.20, 25.0));
    assert!(!cheap(&[], 0.0, 50.0));
}

mod view {
    use super::super::view::{PriceView, ViewSettings};
    use super::super::*;
    use crate::control::State;
    use crate::model::Now;

    fn at(utc: &str) -> Now {
        let unix = utc.parse::<jiff::Timestamp>().unwrap().as_second();
        Now {
            mono_ms: 1,
            unix_ms: unix * 1000,
            utc_offset_s: 3600,
        }
    }

    /// 30 November and 1 December 2026, quarter hours priced by the hour of day: cheapest at
    /// 03:00, dearest at 18:00 (ct/kWh spot).
    fn two_days() -> Vec<Slot> {
        let from = "2026-11-29T23:00:00Z"
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_second();
        (0..192)
            .map(|i| {
                let hour = (i / 4) % 24;
                let ct = 10.0 + (hour as f64 - 3.0).abs() + if hour == 18 { 20.0 } else { 0.0 };
                Slot::new(from + i * 900, from + (i + 1) * 900, ct / 100.0).unwrap()
            })
            .collect()
    }

    fn number(d: &crate::control::Decisions, key: &str) -> Option<f64> {
        d.states.iter().find_map(|(k, s)| match s {
            State::Number(v) if *k == key => Some(*v),
            _ => None,
        })
    }

    fn text(d: &crate::control::Decisions, key: &str) -> Option<String> {
        d.states
            .iter()
            .chain(&d.diagnostics)
            .find_map(|(k, s)| match s {
                State::Text(t) if *k == key => Some(t.clone()),
                _ => None,
            })
    }

    fn view() -> PriceView {
        PriceView::new(ViewSettings {
            tariff: Tariff::default(),
            fixed_eur: None,
            cheap_percentile: 25.0,
            cheap_limit_eur: None,
            window_hours: 2.0,
        })
    }

    #[test]
    fn now_next_today_and_the_cheapest_windows() {
        let mut v = view();
        v.add(two_days(), at("2026-11-30T09:00:00Z"));
        let d = v.decide(at("2026-11-30T09:05:00Z")); // 10:05 local
        assert_eq!(number(&d, "price_now"), Some(0.17));
        assert_eq!(number(&d, "price_next"), Some(0.17));
        assert_eq!(number(&d, "price_min_today"), Some(0.10));
        assert_eq!(number(&d, "price_max_today"), Some(0.45));
        // Two hours around 03:00 local: 02:00–04:00 averages 10.5 ct.
        assert_eq!(
            text(&d, "cheapest_start_today").as_deref(),
            Some("2026-11-30T01:00:00+00:00")
        );
        assert!((number(&d, "cheapest_avg_today").unwrap() - 0.105).abs() < 1e-9);
        // Tonight: 18:00 today to 08:00 tomorrow, the same hours of the next night.
        assert_eq!(
            text(&d, "cheapest_start_tonight").as_deref(),
            Some("2026-12-01T01:00:00+00:00")
        );
        assert!(d.states.contains(&("price_cheap", State::Switch(false))));
        assert_eq!(text(&d, "price_status").as_deref(), Some("ok"));
        let night = v.decide(at("2026-11-30T02:00:00Z"));
        assert!(night.states.contains(&("price_cheap", State::Switch(true))));
    }

    #[test]
    fn a_failed_fetch_keeps_the_known_prices_and_says_so_once() {
        let mut v = view();
        v.add(two_days(), at("2026-11-30T09:00:00Z"));
        let first = v.failed("api.energy-charts.info answered 500".into());
        assert!(
            first
                .unwrap()
                .message
                .contains("The 192 known slots stay in use")
        );
        assert!(
            v.failed("api.energy-charts.info answered 500".into())
                .is_none()
        );
        let d = v.decide(at("2026-11-30T09:05:00Z"));
        assert_eq!(number(&d, "price_now"), Some(0.17));
        assert_eq!(
            text(&d, "price_status").as_deref(),
            Some("last known prices; fetching failed: api.energy-charts.info answered 500")
        );
        // Old slots are dropped two days on.
        v.add(Vec::new(), at("2026-12-04T00:00:00Z"));
        assert!(v.slots().is_empty());
    }
}

#[test]
fn awattar_and_tibber_days_follow_the_clock_change_too() {
    // aWATTar, hourly, from 29 March 00:00 CET: the day has 23 hours.
    let from = unix("2026-03-28T23:00:00Z");
    let data: Vec<serde_json::Value> = (0..25)
        .map(|h| {
            let start = (from + h * 3600) * 1000;
            serde_json::json!({"start_timestamp": start, "end_timestamp": start + 3_600_000,
                               "marketprice": 90.0, "unit": "Eur/MWh"})
        })
        .collect();
    let slots =
        awattar(&serde_json::json!({ "object": "list", "data": data }).to_string()).unwrap();
    assert_eq!(day(&slots, date(2026, 3, 29)).len(), 23);
    // Tibber, quarter hours of 25 October with their offsets: 100 of them.
    let start = unix("2026-10-24T22:00:00Z");
    let today: Vec<serde_json::Value> = (0..100)
        .map(|q| {
            let at = jiff::Timestamp::from_second(start + q * 900)
                .unwrap()
                .to_zoned_datetime(berlin());
            serde_json::json!({"total": 0.30, "energy": 0.11, "tax": 0.19, "currency": "EUR",
                               "startsAt": at.strftime("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string()})
        })
        .collect();
    let answer = serde_json::json!({"data": {"viewer": {"homes": [{"currentSubscription": {
        "priceInfo": {"today": today, "tomorrow": []}}}]}}});
    let slots = tibber(&answer.to_string()).unwrap();
    assert_eq!(day(&slots, date(2026, 10, 25)).len(), 100);
    // 02:00–03:00 comes twice, first in summer time, then in winter time.
    assert_eq!(slots[8].start_s, unix("2026-10-25T00:00:00Z"));
    assert_eq!(slots[12].start_s, unix("2026-10-25T01:00:00Z"));
}
