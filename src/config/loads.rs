//! The `loads:` and `surplus:` sections: what the PV surplus runs, and how (see
//! `docs/surplus.md`).

use super::{clock_minutes, find_id};
use crate::control::surplus::SurplusSettings;
use crate::control::surplus::load::{ChargeMode, LoadKind, LoadSettings, Runtime};
use crate::reader::Section;

/// The devices a load may name, by id, in config order.
pub struct Known<'a> {
    pub plugs: Vec<&'a str>,
    /// Wallboxes with their highest current.
    pub wallboxes: Vec<(&'a str, u8)>,
    /// Modbus devices with their controls' names.
    pub modbus: Vec<(&'a str, Vec<&'a str>)>,
}

const DAY_MS: u64 = 86_400_000;

pub fn read_surplus(s: &Section<'_>) -> SurplusSettings {
    let stale_ms = (s.seconds("stale_after", 60.0, 5.0, 3600.0) * 1000.0) as u64;
    let priority_soc = s.opt_float("priority_soc", 0.0, 100.0);
    let buffer_soc = s.opt_float("buffer_soc", 0.0, 100.0);
    if let (Some(p), Some(b)) = (priority_soc, buffer_soc) {
        if b < p {
            s.error(
                "buffer_soc",
                format!("is below priority_soc ({p} %): loads would ride on a battery that charges first"),
            );
        }
    }
    let manual_ms = duration(s, "manual_for", 0, 7 * DAY_MS).filter(|ms| *ms > 0);
    let hold_battery = s.bool("hold_battery", false);
    let start_average_s =
        duration(s, "start_average", 300_000, DAY_MS).unwrap_or(300_000) as f64 / 1000.0;
    s.finish();
    SurplusSettings {
        stale_ms,
        priority_soc,
        buffer_soc,
        manual_ms,
        hold_battery,
        start_average_s,
    }
}

pub fn read_load(s: &Section<'_>, known: &Known<'_>) -> Option<LoadSettings> {
    let plug = s.opt_string("plug");
    let relays: Vec<String> = words(s, "plugs").into_iter().map(|(_, v)| v).collect();
    let wallbox = s.opt_string("wallbox");
    let modbus = s.opt_string("modbus");
    let control = s.string("control", "power_limit");
    let power = s.opt_int("power", 1, 100_000).map(|w| w as u32);
    let steps: Vec<u32> = words(s, "steps")
        .into_iter()
        .filter_map(|(path, v)| match v.parse::<u32>() {
            Ok(w) if (1..=100_000).contains(&w) => Some(w),
            _ => {
                s.ctx()
                    .error(&path, format!("'{v}' is not a power in W from 1 to 100000"));
                None
            }
        })
        .collect();
    let phases = match s.choice("phases", &["1", "3", "auto"], "3") {
        "1" => 1,
        "auto" => 0,
        _ => 3,
    };
    let phase_delay_ms = duration(s, "phase_delay", 60_000, DAY_MS).unwrap_or(60_000);
    let phase_switches_per_hour = s.int("phase_switches", 4, 1, 60) as u32;
    let mode = s.opt_string("mode");
    let given = [
        plug.is_some(),
        !relays.is_empty(),
        wallbox.is_some(),
        modbus.is_some(),
    ];
    let (kind, id) = match (plug, wallbox) {
        _ if given.iter().filter(|g| **g).count() != 1 => {
            s.error(
                "plug",
                "set exactly one of plug (a plug or relay), plugs (the relays of a heating rod's steps), modbus (a device whose control takes the power) or wallbox",
            );
            return None;
        }
        _ if modbus.is_some() => {
            let id = modbus.unwrap_or_default();
            let ids: Vec<&str> = known.modbus.iter().map(|(id, _)| *id).collect();
            let device = find_id(s, "modbus", &id, "devices", &ids)?;
            let names = &known.modbus[device].1;
            let Some(control) = names.iter().position(|n| *n == control) else {
                s.error(
                    "control",
                    format!(
                        "'{control}' is not a control of {id}'s profile ({}); add the register that takes the power under controls: in its profile",
                        if names.is_empty() { "none".to_string() } else { names.join(", ") }
                    ),
                );
                return None;
            };
            let step_w = match (steps.len(), power) {
                (0, Some(w)) => vec![w],
                (n, _) if n > 0 => steps,
                _ => {
                    s.error(
                        "steps",
                        "give the power each step adds in W (or power for one step)",
                    );
                    return None;
                }
            };
            (
                LoadKind::Setpoint {
                    device,
                    control,
                    step_w,
                },
                id,
            )
        }
        (Some(id), _) => {
            let plug = find_id(s, "plug", &id, "plugs", &known.plugs)?;
            if power.is_none() {
                s.error("power", "required: what the device draws when on, in W");
            }
            let power_w = power.unwrap_or(0);
            (LoadKind::Switched { plug, power_w }, id)
        }
        (_, Some(id)) => {
            let ids: Vec<&str> = known.wallboxes.iter().map(|(id, _)| *id).collect();
            let at = find_id(s, "wallbox", &id, "wallboxes", &ids)?;
            let max_a = known.wallboxes[at].1;
            let kind = LoadKind::Variable {
                wallbox: at,
                phases,
                max_a,
            };
            (kind, id)
        }
        (None, None) => {
            let mut plugs = Vec::new();
            for id in &relays {
                plugs.extend(find_id(s, "plugs", id, "plugs", &known.plugs));
            }
            let step_w = match (steps.len(), power) {
                (0, Some(w)) => vec![w; relays.len()],
                (n, _) if n == relays.len() => steps,
                _ => {
                    s.error(
                        "steps",
                        format!(
                            "give one power in W per relay ({} relays), or power for all of them",
                            relays.len()
                        ),
                    );
                    return None;
                }
            };
            if plugs.len() != relays.len() {
                return None;
            }
            (LoadKind::Stepped { plugs, step_w }, relays[0].clone())
        }
    };
    let is_wallbox = matches!(kind, LoadKind::Variable { .. });
    let charge_mode = match (&mode, is_wallbox) {
        (None, true) => Some(ChargeMode::Pv),
        (Some(m), true) => {
            let parsed = ChargeMode::parse(m);
            if parsed.is_none() {
                s.error(
                    "mode",
                    format!("'{m}' is not one of {}", ChargeMode::NAMES.join(", ")),
                );
            }
            parsed
        }
        (Some(_), false) => {
            s.error("mode", "is a wallbox's charge mode; other loads have none");
            None
        }
        (None, false) => None,
    };
    let id = s.string("id", &id);
    let name = s.string("name", &super::capitalise(&id));
    let priority = s.int("priority", 0, -100, 100) as i32;
    let min_on_ms = duration(s, "min_on", 0, DAY_MS).unwrap_or(0);
    let min_off_ms = duration(s, "min_off", 0, DAY_MS).unwrap_or(0);
    // evcc's defaults for a wallbox: enable after 1 min, disable after 3 min.
    let on_delay_ms = duration(s, "on_delay", 60_000, DAY_MS).unwrap_or(60_000);
    let off_delay_ms = duration(s, "off_delay", 180_000, DAY_MS).unwrap_or(180_000);
    let on_threshold_w = s.int("on_threshold", 0, -100_000, 100_000) as i32;
    let off_threshold_w = s.int("off_threshold", 0, -100_000, 100_000) as i32;
    let runtime_ms = duration(s, "runtime", 0, DAY_MS);
    let deadline_ms = time_of_day(s, "deadline");
    let max_runtime_ms = duration(s, "max_runtime", 0, DAY_MS);
    let window = read_window(s);
    let never_off = s.bool("never_off", false);
    let min_soc = s.opt_float("min_soc", 0.0, 100.0);
    let runtime = match (runtime_ms, deadline_ms) {
        (Some(ms), Some(deadline_ms)) => Some(Runtime { ms, deadline_ms }),
        (Some(_), None) => {
            s.error(
                "deadline",
                "a runtime needs the time it is due by, e.g. 18:00",
            );
            None
        }
        (None, Some(_)) => {
            s.error("runtime", "a deadline needs the runtime due by it, e.g. 2h");
            None
        }
        (None, None) => None,
    };
    check_runtime(s, runtime, window, max_runtime_ms);
    Some(LoadSettings {
        id,
        name,
        kind,
        priority,
        min_on_ms,
        min_off_ms,
        on_delay_ms,
        off_delay_ms,
        on_threshold_w,
        off_threshold_w,
        runtime,
        max_runtime_ms,
        window,
        never_off,
        min_soc,
        charge_mode,
        phase_delay_ms,
        phase_switches_per_hour,
    })
}

/// A runtime must fit its day: inside the window, before the deadline, within the maximum.
fn check_runtime(
    s: &Section<'_>,
    runtime: Option<Runtime>,
    window: Option<(u64, u64)>,
    max_runtime_ms: Option<u64>,
) {
    let Some(r) = runtime else {
        return;
    };
    if let Some(max) = max_runtime_ms.filter(|max| *max < r.ms) {
        s.error(
            "max_runtime",
            format!(
                "is shorter than the runtime ({} min < {} min)",
                max / 60_000,
                r.ms / 60_000
            ),
        );
    }
    if let Err((key, why)) = r.fits(window) {
        s.error(key, why);
    }
}

/// A list, or comma-separated text (what the add-on's form offers), each with its path.
fn words(s: &Section<'_>, key: &'static str) -> Vec<(String, String)> {
    if s.raw_value(key).is_some_and(|v| v.is_array()) {
        return s.strings(key);
    }
    let text = s.opt_string(key).unwrap_or_default();
    let path = s.path_of(key);
    text.split(',')
        .map(|w| w.trim())
        .filter(|w| !w.is_empty())
        .map(|w| (path.clone(), w.to_string()))
        .collect()
}

/// A span: seconds as a number, or text such as `90s`, `5m`, `2h`, `1h30m`.
fn duration(s: &Section<'_>, key: &'static str, default_ms: u64, max_ms: u64) -> Option<u64> {
    let text = s.opt_string(key)?;
    match parse_duration(&text) {
        Some(ms) if ms <= max_ms => Some(ms),
        _ => {
            s.error(
                key,
                format!(
                    "'{text}' is not a span of time up to {} h: give seconds, or e.g. 90s, 5m, 2h, 1h30m",
                    max_ms / 3_600_000
                ),
            );
            Some(default_ms)
        }
    }
}

pub fn parse_duration(text: &str) -> Option<u64> {
    let t = text.trim();
    if let Ok(s) = t.parse::<f64>() {
        return (s.is_finite() && s >= 0.0).then_some((s * 1000.0) as u64);
    }
    let mut total = 0.0;
    let mut number = String::new();
    let mut any = false;
    for c in t.chars() {
        match c {
            '0'..='9' | '.' => number.push(c),
            'h' | 'm' | 's' if !number.is_empty() => {
                let v: f64 = number.parse().ok()?;
                total += v * match c {
                    'h' => 3_600_000.0,
                    'm' => 60_000.0,
                    _ => 1000.0,
                };
                number.clear();
                any = true;
            }
            ' ' => {}
            _ => return None,
        }
    }
    (any && number.is_empty()).then_some(total as u64)
}

/// `HH:MM` as ms after midnight.
fn parse_clock(text: &str) -> Option<u64> {
    clock_minutes(text).map(|m| u64::from(m) * 60_000)
}

fn time_of_day(s: &Section<'_>, key: &'static str) -> Option<u64> {
    let text = s.opt_string(key)?;
    let ms = parse_clock(&text);
    if ms.is_none() {
        s.error(key, format!("'{text}' is not a time of day such as 18:00"));
    }
    ms
}

fn read_window(s: &Section<'_>) -> Option<(u64, u64)> {
    let text = s.opt_string("window")?;
    let parsed = text
        .split_once(['-', '–'])
        .and_then(|(a, b)| Some((parse_clock(a)?, parse_clock(b)?)))
        .filter(|(a, b)| a != b);
    if parsed.is_none() {
        s.error(
            "window",
            format!("'{text}' is not a span of the day such as 08:00-20:00 (it may run past midnight: 22:00-06:00)"),
        );
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_as_people_write_them() {
        assert_eq!(parse_duration("90"), Some(90_000));
        assert_eq!(parse_duration("5m"), Some(300_000));
        assert_eq!(parse_duration("1h30m"), Some(5_400_000));
        assert_eq!(parse_duration("1.5h"), Some(5_400_000));
        assert_eq!(parse_duration("2 h"), Some(7_200_000));
        assert_eq!(parse_duration("h"), None);
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(parse_duration("-3"), None);
        assert_eq!(parse_clock("18:00"), Some(18 * 3_600_000));
        assert_eq!(parse_clock("24:00"), Some(24 * 3_600_000));
        assert_eq!(parse_clock("24:01"), None);
    }
}
