//! A day in 86,400 seconds, run through Stromwart's PV surplus allocator, a baseline made the
//! way evcc works, and the bound of perfect foresight; prints a table and one JSON line per
//! day and strategy. `cargo bench --bench day_trace`; the model is in `day.rs` and `sim.rs`.

mod day;
mod optimum;
mod sim;
mod strategies;

use serde_json::json;

fn main() {
    let loads = sim::loads();
    println!(
        "{:<7} {:<9} {:>16} {:>12} {:>11} {:>19} {:>8}",
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
        for (name, tally) in [
            ("allocator", strategies::allocator(&day, &loads)),
            ("baseline", strategies::baseline(&day, &loads)),
        ] {
            let (met, set) = tally.targets(&loads);
            let pct = 100.0 * tally.self_wh / tally.pv_wh;
            let switchings: u32 = tally.switchings.iter().sum();
            println!(
                "{:<7} {:<9} {:>15.1}% {:>9.2} kWh {:>11} {:>19} {:>6}/{}",
                day.name,
                name,
                pct,
                tally.import_wh / 1000.0,
                switchings,
                tally.violations,
                met,
                set
            );
            let per_load: serde_json::Map<String, serde_json::Value> = loads
                .iter()
                .zip(&tally.switchings)
                .map(|((l, _), n)| (l.id.clone(), json!(n)))
                .collect();
            lines.push(json!({
                "day": day.name, "strategy": name,
                "self_consumption_pct": (pct * 10.0).round() / 10.0,
                "grid_import_kwh": (tally.import_wh / 10.0).round() / 100.0,
                "switchings": switchings, "switchings_per_load": per_load,
                "energy_kwh_per_load": loads.iter().zip(&tally.energy_wh)
                    .map(|((l, _), wh)| (l.id.clone(), json!((wh / 100.0).round() / 10.0)))
                    .collect::<serde_json::Map<_, _>>(),
                "min_on_off_violations": tally.violations,
                "runtime_targets_met": met, "runtime_targets": set,
            }));
        }
        let started = std::time::Instant::now();
        let bound = optimum::optimum(&day, &loads);
        let pct = 100.0 * bound.self_wh / bound.pv_wh;
        println!(
            "{:<7} {:<9} {:>15.1}% {:>9.2} kWh {:>11} {:>19} {:>6}/{}   (LP bound, {:.1} s)",
            day.name,
            "optimum",
            pct,
            bound.import_wh / 1000.0,
            "-",
            "-",
            bound.targets_met,
            bound.targets,
            started.elapsed().as_secs_f64()
        );
        lines.push(json!({
            "day": day.name, "strategy": "optimum",
            "self_consumption_pct": (pct * 10.0).round() / 10.0,
            "grid_import_kwh": (bound.import_wh / 10.0).round() / 100.0,
            "switchings": null, "min_on_off_violations": null,
            "runtime_targets_met": bound.targets_met, "runtime_targets": bound.targets,
        }));
    }
    for l in lines {
        println!("{l}");
    }
}
