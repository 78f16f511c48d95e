//! A day in 86,400 seconds, run through Stromwart's PV surplus allocator, a baseline made the
//! way evcc works, and the bound of perfect foresight; prints a table and one JSON line per
//! day and strategy. `cargo bench --bench day_trace`; the model is in `day.rs` and `sim.rs`.
//!
//! `--features exact-optimum` adds the optimum of perfect foresight under the loads' own
//! constraints, an integer program solved by HiGHS (`exact.rs`): once as it is, once with at
//! most the baseline's switchings. `DAY_TRACE_MILP_SECS` bounds each solve (default 300).

mod day;
#[cfg(feature = "exact-optimum")]
mod exact;
mod optimum;
mod sim;
mod strategies;

use serde_json::{Value, json};
use stromwart::control::surplus::load::LoadSettings;

use sim::Tally;

fn main() {
    let loads = sim::loads();
    println!(
        "{:<7} {:<14} {:>16} {:>12} {:>11} {:>19} {:>8}",
        "day",
        "strategy",
        "self-consumption",
        "grid import",
        "switchings",
        "min on/off breaches",
        "targets"
    );
    let mut lines = Vec::new();
    for day in [day::clear(), day::cloudy()] {
        let baseline = strategies::baseline(&day, &loads);
        #[cfg(feature = "exact-optimum")]
        let baseline_switchings: u32 = baseline.switchings.iter().sum();
        for (name, tally) in [
            ("allocator", strategies::allocator(&day, &loads)),
            ("baseline", baseline),
        ] {
            lines.push(row(day.name, name, &tally, &loads, String::new()));
        }
        #[cfg(feature = "exact-optimum")]
        {
            let limit = std::env::var("DAY_TRACE_MILP_SECS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(300.0);
            for (name, cap) in [
                ("optimum", None),
                ("optimum_capped", Some(baseline_switchings - 1)),
            ] {
                let e = exact::optimum(&day, &loads, cap, limit);
                let note = format!(
                    "(integer program, {:.0} s; PV {:.0} Wh, gap {:.2} %)",
                    e.seconds, e.used_wh, e.gap_pct
                );
                let mut line = row(day.name, name, &e.tally, &loads, note);
                line["max_switchings"] = json!(cap);
                lines.push(line);
            }
        }
        let started = std::time::Instant::now();
        let bound = optimum::optimum(&day, &loads);
        let pct = 100.0 * bound.self_wh / bound.pv_wh;
        println!(
            "{:<7} {:<14} {:>15.1}% {:>9.2} kWh {:>11} {:>19} {:>6}/{}   (LP relaxation, {:.1} s)",
            day.name,
            "bound",
            pct,
            bound.import_wh / 1000.0,
            "-",
            "-",
            bound.targets_met,
            bound.targets,
            started.elapsed().as_secs_f64()
        );
        lines.push(json!({
            "day": day.name, "strategy": "bound",
            "self_consumption_pct": (pct * 10.0).round() / 10.0,
            "grid_import_kwh": (bound.import_wh / 10.0).round() / 100.0,
            "switchings": null, "min_on_off_violations": null,
            "runtime_targets_met": bound.targets_met, "runtime_targets": bound.targets,
        }));
    }
    #[cfg(not(feature = "exact-optimum"))]
    println!(
        "(the optimum under the loads' own constraints: --features exact-optimum, figures in docs/benchmarks.md)"
    );
    for l in lines {
        println!("{l}");
    }
}

/// Prints a strategy's row of the table and gives its JSON line.
fn row(day: &str, name: &str, tally: &Tally, loads: &[(LoadSettings, f64)], note: String) -> Value {
    let (met, set) = tally.targets(loads);
    let pct = 100.0 * tally.self_wh / tally.pv_wh;
    let switchings: u32 = tally.switchings.iter().sum();
    println!(
        "{:<7} {:<14} {:>15.1}% {:>9.2} kWh {:>11} {:>19} {:>6}/{}   {note}",
        day,
        name,
        pct,
        tally.import_wh / 1000.0,
        switchings,
        tally.violations,
        met,
        set
    );
    let per_load = |values: Vec<Value>| -> serde_json::Map<String, Value> {
        loads
            .iter()
            .zip(values)
            .map(|((l, _), v)| (l.id.clone(), v))
            .collect()
    };
    json!({
        "day": day, "strategy": name,
        "self_consumption_pct": (pct * 10.0).round() / 10.0,
        "grid_import_kwh": (tally.import_wh / 10.0).round() / 100.0,
        "switchings": switchings,
        "switchings_per_load": per_load(tally.switchings.iter().map(|n| json!(n)).collect()),
        "energy_kwh_per_load": per_load(
            tally.energy_wh.iter().map(|wh| json!((wh / 100.0).round() / 10.0)).collect()
        ),
        "min_on_off_violations": tally.violations,
        "runtime_targets_met": met, "runtime_targets": set,
    })
}
