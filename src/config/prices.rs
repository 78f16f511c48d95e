//! The `prices:` section: where prices come from, what makes up the customer's price, the
//! operator's Modul 3 windows (see `docs/prices.md`).

use super::{clock_minutes, find_id};
use crate::control::prices::{Band, Modul3, Source, Tariff, Window};
use crate::reader::Section;

#[derive(Debug, Clone, PartialEq)]
pub struct PriceConfig {
    /// `None`: a fixed price, `fixed_price` in ct/kWh gross.
    pub source: Option<Source>,
    /// Another host than the service's own (proxies, tests).
    pub url: Option<String>,
    pub fixed_ct: f64,
    pub tariff: Tariff,
    /// "Cheap now" below this percentile of today's prices ...
    pub cheap_percentile: f64,
    /// ... or below this price, ct/kWh gross.
    pub cheap_limit_ct: Option<f64>,
    /// The length of the cheapest window shown, in hours.
    pub window_hours: f64,
    /// Charge this battery (its position) from the grid at or below a price (ct/kWh with
    /// VAT) up to a state of charge (%).
    pub grid_charge: Option<(usize, f64, f64)>,
}

pub fn read(s: &Section<'_>, batteries: &[&str]) -> Option<PriceConfig> {
    if !s.has("source") {
        s.finish();
        return None;
    }
    let source_name = s.choice(
        "source",
        &["energy-charts", "awattar", "tibber", "fixed"],
        "energy-charts",
    );
    let zone = s.opt_string("zone");
    let token = s.opt_string("token");
    let url = s.opt_string("url");
    if url
        .as_ref()
        .is_some_and(|u| !(u.starts_with("http://") || u.starts_with("https://")))
    {
        s.error(
            "url",
            "is an address such as https://api.energy-charts.info",
        );
    }
    let fixed_ct = s.opt_float("fixed_price", 0.0, 1000.0);
    let source = match source_name {
        "awattar" => {
            let country = zone.unwrap_or_else(|| "de".into()).to_ascii_lowercase();
            if country != "de" && country != "at" {
                s.error("zone", format!("aWATTar serves de and at, not '{country}'"));
            }
            Some(Source::Awattar { country })
        }
        "tibber" => {
            if token.is_none() {
                s.error(
                    "token",
                    "required for Tibber: your API token from developer.tibber.com",
                );
            }
            Some(Source::Tibber {
                token: token.unwrap_or_default(),
            })
        }
        "fixed" => {
            if fixed_ct.is_none() {
                s.error(
                    "fixed_price",
                    "required with source: fixed, in ct/kWh with VAT",
                );
            }
            None
        }
        _ => Some(Source::EnergyCharts {
            zone: zone.unwrap_or_else(|| "DE-LU".into()),
        }),
    };
    let tariff = Tariff {
        surcharge_ct: s.opt_float("surcharge", -100.0, 100.0).unwrap_or(0.0),
        network_ct: s.opt_float("network_fee", 0.0, 100.0).unwrap_or(0.0),
        levies_ct: s.opt_float("levies", 0.0, 100.0).unwrap_or(0.0),
        vat_percent: s.opt_float("vat", 0.0, 50.0).unwrap_or(19.0),
        modul3: read_modul3(&s.section("modul3")),
        total_given: matches!(source, Some(Source::Tibber { .. })),
    };
    let cheap_percentile = s.opt_float("cheap_percentile", 0.0, 100.0).unwrap_or(25.0);
    let cheap_limit_ct = s.opt_float("cheap_limit", -100.0, 1000.0);
    let window_hours = s.opt_float("window_hours", 0.25, 24.0).unwrap_or(3.0);
    let grid_charge = read_grid_charge(&s.section("grid_charge"), batteries);
    s.finish();
    Some(PriceConfig {
        source,
        url,
        fixed_ct: fixed_ct.unwrap_or(0.0),
        tariff,
        cheap_percentile,
        cheap_limit_ct,
        window_hours,
        grid_charge,
    })
}

fn read_grid_charge(s: &Section<'_>, batteries: &[&str]) -> Option<(usize, f64, f64)> {
    let battery = s.opt_string("battery");
    let below = s.opt_float("below", -100.0, 1000.0);
    let target = s.opt_float("target", 1.0, 100.0).unwrap_or(80.0);
    s.finish();
    let battery = battery?;
    let at = find_id(s, "battery", &battery, "batteries", batteries)?;
    let Some(below) = below else {
        s.error(
            "below",
            "required: the price in ct/kWh (with VAT) at or below which to charge",
        );
        return None;
    };
    Some((at, below, target))
}

fn read_modul3(s: &Section<'_>) -> Option<Modul3> {
    if !s.has("st") {
        s.finish();
        return None;
    }
    let ct = |key: &'static str| s.opt_float(key, 0.0, 100.0).unwrap_or(0.0);
    let (nt_ct, st_ct, ht_ct) = (ct("nt"), ct("st"), ct("ht"));
    let mut quarters: [Vec<Window>; 4] = Default::default();
    for (q, key) in ["q1", "q2", "q3", "q4"].into_iter().enumerate() {
        let text = s.string(key, "");
        match parse_windows(&text) {
            Ok(w) => quarters[q] = w,
            Err(e) => s.error(key, e),
        }
    }
    s.finish();
    Some(Modul3 {
        nt_ct,
        st_ct,
        ht_ct,
        quarters,
    })
}

/// A quarter's windows as one line of text (the add-on's form has one field per quarter):
/// `NT 00:00-06:00, HT 17:00-21:00`; empty for ST all day.
pub fn parse_windows(text: &str) -> Result<Vec<Window>, String> {
    let mut windows = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (band, span) = part
            .split_once(char::is_whitespace)
            .ok_or_else(|| format!("'{part}' is not a window such as NT 00:00-06:00"))?;
        let band = match band.to_ascii_uppercase().as_str() {
            "NT" => Band::Nt,
            "HT" => Band::Ht,
            "ST" => Band::St,
            other => return Err(format!("'{other}' is not NT, ST or HT")),
        };
        let minutes = |t: &str| clock_minutes(t).map(|m| m as u16);
        let (from, to) = span
            .split_once(['-', '–'])
            .and_then(|(a, b)| Some((minutes(a)?, minutes(b)?)))
            .ok_or_else(|| format!("'{span}' is not a span such as 00:00-06:00"))?;
        windows.push(Window {
            band,
            from_min: from,
            to_min: to % 1440,
        });
    }
    Ok(windows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quarters_windows_read_from_one_line() {
        let w = parse_windows("NT 23:00-07:00, HT 10:00–13:00,HT 17:00-19:30").unwrap();
        assert_eq!(w.len(), 3);
        assert_eq!(
            (w[0].band, w[0].from_min, w[0].to_min),
            (Band::Nt, 1380, 420)
        );
        assert_eq!((w[2].from_min, w[2].to_min), (1020, 1170));
        assert_eq!(parse_windows("").unwrap(), vec![]);
        assert_eq!(
            parse_windows("LT 00:00-06:00").unwrap_err(),
            "'LT' is not NT, ST or HT"
        );
        assert!(
            parse_windows("NT 25:00-06:00")
                .unwrap_err()
                .contains("not a span")
        );
    }
}
