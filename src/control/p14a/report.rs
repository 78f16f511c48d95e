//! The proof log read back: records of some days, and a summary per day (time dimmed, the
//! highest draw of the controlled devices against what was allowed then).

use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Day {
    pub day: String,
    pub minutes_dimmed: f64,
    /// The highest summed draw the driven devices reported while dimmed, W.
    pub highest_draw_w: Option<f64>,
    /// What was allowed at that moment, W.
    pub allowed_w: Option<f64>,
    pub dimmings: u32,
    pub tests: u32,
}

/// Whether a record's local day lies within `from` ..= `to` (`YYYY-MM-DD`; open ends).
pub fn within(record: &Value, from: Option<&str>, to: Option<&str>) -> bool {
    let Some(day) = record["day"].as_str() else {
        return false;
    };
    from.is_none_or(|f| day >= f) && to.is_none_or(|t| day <= t)
}

pub fn summarize(records: &[Value]) -> Vec<Day> {
    let mut days: Vec<Day> = Vec::new();
    for r in records {
        let Some(day) = r["day"].as_str() else {
            continue;
        };
        if days.last().is_none_or(|d| d.day != day) {
            days.push(Day {
                day: day.to_string(),
                minutes_dimmed: 0.0,
                highest_draw_w: None,
                allowed_w: None,
                dimmings: 0,
                tests: 0,
            });
        }
        let d = days.last_mut().expect("pushed above");
        match r["event"].as_str() {
            Some("start") if r["test"].as_bool() == Some(true) => d.tests += 1,
            Some("start") => d.dimmings += 1,
            Some("end") => {
                let minutes = r["seconds"].as_f64().unwrap_or(0.0) / 60.0;
                d.minutes_dimmed = ((d.minutes_dimmed + minutes) * 10.0).round() / 10.0;
            }
            Some("setpoints") => {
                let draws = r["devices"].as_array().into_iter().flatten();
                let draw: f64 = draws.filter_map(|dev| dev["measured_w"].as_f64()).sum();
                if d.highest_draw_w.is_none_or(|h| draw > h) {
                    d.highest_draw_w = Some(draw);
                    d.allowed_w = r["allowed_w"].as_f64();
                }
            }
            _ => {}
        }
    }
    days
}

/// The records and the days as CSV, one table after the other.
pub fn csv(records: &[Value], days: &[Day]) -> String {
    let cell = |v: &Value| match v {
        Value::Null => String::new(),
        Value::String(s) => format!("\"{}\"", s.replace('"', "\"\"")),
        other => other.to_string(),
    };
    let mut out = String::from("at,day,event,why,allowed_w,minimum_w,seconds\n");
    for r in records {
        let row: Vec<String> = [
            "at",
            "day",
            "event",
            "why",
            "allowed_w",
            "minimum_w",
            "seconds",
        ]
        .iter()
        .map(|k| cell(&r[*k]))
        .collect();
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out.push_str("\nday,minutes_dimmed,highest_draw_w,allowed_w,dimmings,tests\n");
    for d in days {
        let opt = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
        out.push_str(&format!(
            "{},{},{},{},{},{}\n",
            d.day,
            d.minutes_dimmed,
            opt(d.highest_draw_w),
            opt(d.allowed_w),
            d.dimmings,
            d.tests
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn log() -> Vec<Value> {
        vec![
            json!({"day": "2026-11-29", "event": "start", "why": "signal box", "allowed_w": 7560, "test": false}),
            json!({"day": "2026-11-29", "event": "setpoints", "allowed_w": 7560,
                   "devices": [{"measured_w": 6900.0}, {"measured_w": 0.0}]}),
            json!({"day": "2026-11-29", "event": "setpoints", "allowed_w": 7560,
                   "devices": [{"measured_w": 7100.0}, {"measured_w": null}]}),
            json!({"day": "2026-11-29", "event": "end", "seconds": 5400}),
            json!({"day": "2026-11-30", "event": "start", "test": true}),
            json!({"day": "2026-11-30", "event": "end", "seconds": 60}),
        ]
    }

    #[test]
    fn each_day_is_summed() {
        let days = summarize(&log());
        assert_eq!(days.len(), 2);
        assert_eq!(
            (
                days[0].minutes_dimmed,
                days[0].highest_draw_w,
                days[0].allowed_w,
                days[0].dimmings
            ),
            (90.0, Some(7100.0), Some(7560.0), 1)
        );
        assert_eq!(
            (days[1].tests, days[1].dimmings, days[1].minutes_dimmed),
            (1, 0, 1.0)
        );
    }

    #[test]
    fn days_are_chosen_by_their_local_date() {
        let log = log();
        let picked: Vec<&Value> = log
            .iter()
            .filter(|r| within(r, Some("2026-11-30"), None))
            .collect();
        assert_eq!(picked.len(), 2);
        assert_eq!(
            log.iter()
                .filter(|r| within(r, None, Some("2026-11-29")))
                .count(),
            4
        );
    }

    #[test]
    fn csv_quotes_text_and_lists_the_days_after_the_records() {
        let log = log();
        let text = csv(&log[..1], &summarize(&log));
        assert!(text.starts_with("at,day,event,why,allowed_w,minimum_w,seconds\n,\"2026-11-29\",\"start\",\"signal box\",7560,,\n"), "{text}");
        assert!(text.contains("\n2026-11-29,90,7100,7560,1,0\n"), "{text}");
    }
}
