//! What the price services answer, as slots: Energy-Charts and aWATTar (day-ahead spot prices
//! in EUR/MWh) and Tibber (the customer's whole price). Pure: the text of an answer in, slots or
//! a message saying what is wrong out.

use serde_json::Value;

use super::Slot;

/// Energy-Charts `GET /price?bzn=DE-LU`: `unix_seconds` and `price` side by side, in EUR/MWh.
/// Slots run to the next start; the last one as long as the one before (900 s since the
/// 15-minute day-ahead market of October 2025).
pub fn energy_charts(text: &str) -> Result<Vec<Slot>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let starts = v["unix_seconds"]
        .as_array()
        .ok_or("no unix_seconds list in the answer")?;
    let prices = v["price"].as_array().ok_or("no price list in the answer")?;
    if starts.len() != prices.len() {
        return Err(format!(
            "{} start times but {} prices",
            starts.len(),
            prices.len()
        ));
    }
    let unit = v["unit"].as_str().unwrap_or("EUR / MWh");
    let per_kwh = per_kwh(unit)?;
    let starts: Vec<i64> = starts
        .iter()
        .map(|s| {
            s.as_i64()
                .ok_or_else(|| format!("start time {s} is not a whole number"))
        })
        .collect::<Result<_, _>>()?;
    let mut slots = Vec::with_capacity(starts.len());
    for (i, (start, price)) in starts.iter().zip(prices).enumerate() {
        let Some(price) = price.as_f64() else {
            continue; // a slot the exchange has not priced (null)
        };
        let end = match starts.get(i + 1) {
            Some(next) => *next,
            None if i > 0 => start + (start - starts[i - 1]),
            None => start + 900,
        };
        slots.push(Slot::new(*start, end, price * per_kwh)?);
    }
    Ok(slots)
}

/// aWATTar `GET /v1/marketdata`: `data` of `start_timestamp`, `end_timestamp` (ms) and
/// `marketprice` in the answer's `unit`; the slot length is whatever the answer says.
pub fn awattar(text: &str) -> Result<Vec<Slot>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let data = v["data"].as_array().ok_or("no data list in the answer")?;
    data.iter()
        .map(|d| {
            let ms = |key: &str| {
                d[key]
                    .as_i64()
                    .ok_or_else(|| format!("{key} missing or not a whole number"))
            };
            let price = d["marketprice"]
                .as_f64()
                .ok_or("marketprice missing or not a number")?;
            let unit = d["unit"].as_str().unwrap_or("Eur/MWh");
            Slot::new(
                ms("start_timestamp")? / 1000,
                ms("end_timestamp")? / 1000,
                price * per_kwh(unit)?,
            )
        })
        .collect()
}

/// Tibber's GraphQL `priceInfo(resolution: QUARTER_HOURLY)`: `today` and `tomorrow`, each slot
/// with `startsAt` (RFC 3339 with offset) and `total` (energy plus taxes, EUR/kWh). Slots run
/// to the next start; the last one 15 minutes.
pub fn tibber(text: &str) -> Result<Vec<Slot>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    if let Some(e) = v["errors"].as_array().and_then(|e| e.first()) {
        return Err(format!(
            "Tibber says: {}",
            e["message"]
                .as_str()
                .unwrap_or("an error without a message")
        ));
    }
    let info = v["data"]["viewer"]["homes"]
        .as_array()
        .and_then(|homes| homes.first())
        .map(|home| &home["currentSubscription"]["priceInfo"])
        .ok_or("no home with a subscription in the answer")?;
    let mut points = Vec::new();
    for day in ["today", "tomorrow"] {
        for p in info[day].as_array().into_iter().flatten() {
            let at = p["startsAt"].as_str().ok_or("a slot without startsAt")?;
            let start: jiff::Timestamp = at
                .parse()
                .map_err(|e| format!("startsAt '{at}' is not a time: {e}"))?;
            let total = p["total"].as_f64().ok_or("a slot without total")?;
            points.push((start.as_second(), total));
        }
    }
    points.sort_by_key(|(start, _)| *start);
    let mut slots = Vec::with_capacity(points.len());
    for (i, (start, total)) in points.iter().enumerate() {
        let end = points.get(i + 1).map_or(start + 900, |(next, _)| *next);
        slots.push(Slot::new(*start, end, *total)?);
    }
    Ok(slots)
}

/// The factor from the answer's unit to EUR/kWh.
fn per_kwh(unit: &str) -> Result<f64, String> {
    let u: String = unit
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    match u.as_str() {
        "eur/mwh" => Ok(0.001),
        "eur/kwh" => Ok(1.0),
        "ct/kwh" => Ok(0.01),
        _ => Err(format!("prices in '{unit}', expected EUR/MWh")),
    }
}
