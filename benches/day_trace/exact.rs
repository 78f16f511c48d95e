//! The optimum of the problem the strategies face: with perfect foresight of the day, the
//! schedule over 1-minute slots that uses the most PV, as an integer program that HiGHS solves
//! (`--features exact-optimum`; it builds HiGHS from source with cmake, a few minutes, so CI
//! does not build it).
//!
//! Unlike the LP bound, each load takes only its own levels (a boiler 0 or 2 kW, a car 6 to
//! 16 A or nothing), keeps its minimum on and off times, its window, its energy and its runtime
//! target. The schedule is then run second by second through the same tally as the strategies,
//! so its figures (switchings and breaches included) are measured the same way.

use good_lp::{
    Expression, ProblemVariables, SolverModel, Variable, constraint, highs, variable, variables,
};
use std::collections::HashMap;

use stromwart::control::surplus::load::{LoadKind, LoadSettings};

use super::day::{Day, SECONDS};
use super::sim::{Devices, Tally};

const SLOT_S: usize = 60;
const SLOTS: usize = SECONDS / SLOT_S;

/// What the solver found: the schedule's tally, the PV it uses by the program's own reckoning
/// and how close to proven that is, and how long it took.
pub struct Exact {
    pub tally: Tally,
    /// The PV the program's schedule uses, over 1-minute means.
    pub used_wh: f64,
    /// How far from optimal the most PV found may be: 0 when proven.
    pub gap_pct: f64,
    pub seconds: f64,
}

/// One load's variables: on in each slot, and how many levels above its first.
struct LoadVars {
    on: Vec<Variable>,
    extra: Option<Vec<Variable>>,
    first_w: f64,
    step_w: f64,
}

impl LoadVars {
    fn new(vars: &mut ProblemVariables, l: &LoadSettings) -> Self {
        let levels = l.levels();
        let first_w = f64::from(levels[1]);
        let steps = levels.len() - 2;
        let step_w = if steps > 0 {
            f64::from(levels[2] - levels[1])
        } else {
            0.0
        };
        assert!(
            levels
                .windows(2)
                .skip(1)
                .all(|w| f64::from(w[1] - w[0]) == step_w),
            "{}: the program takes evenly spaced levels",
            l.id
        );
        let on = (0..SLOTS)
            .map(|m| {
                let open = l.in_window((m * SLOT_S * 1000) as u64);
                vars.add(variable().binary().max(if open { 1 } else { 0 }))
            })
            .collect();
        let extra = (steps > 0).then(|| {
            (0..SLOTS)
                .map(|_| vars.add(variable().integer().min(0).max(steps as f64)))
                .collect()
        });
        Self {
            on,
            extra,
            first_w,
            step_w,
        }
    }

    fn power(&self, m: usize) -> Expression {
        let mut p = self.first_w * self.on[m];
        if let Some(extra) = &self.extra {
            p += self.step_w * extra[m];
        }
        p
    }
}

/// What to ask of the program: the most PV, or the fewest switchings that still use at least
/// `pv_wh` of it.
#[derive(Clone, Copy)]
enum Goal {
    MostPv,
    FewestSwitchings { pv_wh: f64 },
}

/// The most PV any schedule can use, then among those, the one with the fewest switchings
/// found in the time left, started from the first. Two steps because one weighted objective
/// left HiGHS without a good schedule on the clear day, whose optima are many and alike.
/// `max_switchings`: at most this many switchings on and off over the day, all loads together.
pub fn optimum(
    day: &Day,
    loads: &[(LoadSettings, f64)],
    max_switchings: Option<u32>,
    time_limit_s: f64,
) -> Exact {
    let started = std::time::Instant::now();
    let most = solve(day, loads, Goal::MostPv, max_switchings, None, time_limit_s);
    // A watt-hour below, so that rounding in the solver does not make the second infeasible.
    let goal = Goal::FewestSwitchings {
        pv_wh: most.used_wh - 1.0,
    };
    let left = (time_limit_s - started.elapsed().as_secs_f64()).max(10.0);
    let fewest = solve(day, loads, goal, max_switchings, Some(&most.columns), left);
    Exact {
        tally: replay(day, loads, &fewest.schedule),
        used_wh: most.used_wh,
        gap_pct: 100.0 * (most.bound - most.objective).max(0.0) / most.objective,
        seconds: started.elapsed().as_secs_f64(),
    }
}

struct Solved {
    columns: Vec<f64>,
    schedule: Vec<Vec<usize>>,
    used_wh: f64,
    /// The solver's objective, and the best it proved possible for it.
    objective: f64,
    bound: f64,
}

fn solve(
    day: &Day,
    loads: &[(LoadSettings, f64)],
    goal: Goal,
    max_switchings: Option<u32>,
    start_from: Option<&[f64]>,
    time_limit_s: f64,
) -> Solved {
    let (pv, base) = day.means(SLOT_S);
    let mut vars = variables!();
    let per_load: Vec<LoadVars> = loads
        .iter()
        .map(|(l, _)| LoadVars::new(&mut vars, l))
        .collect();
    let used_pv: Vec<_> = pv
        .iter()
        .map(|p| vars.add(variable().min(0.0).max(*p)))
        .collect();
    let mut rows = Vec::new();
    let mut starts: Vec<Variable> = Vec::new();
    for (v, (l, cap_wh)) in per_load.iter().zip(loads) {
        if let Some(extra) = &v.extra {
            let most = (l.levels().len() - 2) as f64;
            for (e, on) in extra.iter().zip(&v.on) {
                rows.push(constraint!(*e <= most * *on));
            }
        }
        let energy: Expression = (0..SLOTS).map(|m| v.power(m) / 60.0).sum();
        rows.push(constraint!(energy <= *cap_wh));
        if let Some(r) = l.runtime {
            let before = (r.deadline_ms / 1000) as usize / SLOT_S;
            let minutes: Expression = v.on[..before].iter().sum();
            rows.push(constraint!(minutes >= (r.ms / 60_000) as f64));
        }
        minimum_times(&mut vars, &mut rows, &mut starts, v, l);
    }
    for m in 0..SLOTS {
        let loads_then: Expression = per_load.iter().map(|v| v.power(m)).sum();
        rows.push(constraint!(used_pv[m] <= base[m] + loads_then));
    }
    let used: Expression = used_pv.iter().map(|u| *u / 60.0).sum();
    // Among equals, the schedule that draws least.
    let drawn: Expression = (0..SLOTS)
        .flat_map(|m| per_load.iter().map(move |v| v.power(m) / 60.0))
        .sum();
    let switched: Expression = starts.iter().sum();
    if let Some(n) = max_switchings {
        // Each start has its stop.
        rows.push(constraint!(2.0 * switched.clone() <= f64::from(n)));
    }
    let objective = match goal {
        Goal::MostPv => used - 0.001 * drawn,
        Goal::FewestSwitchings { pv_wh } => {
            rows.push(constraint!(used >= pv_wh));
            -switched - 0.001 * drawn
        }
    };
    // HiGHS numbers its columns in the order the variables were made.
    let column: HashMap<Variable, usize> = vars
        .iter_variables_with_def()
        .enumerate()
        .map(|(i, (v, _))| (v, i))
        .collect();
    let mut problem = vars.maximise(objective).using(highs);
    for row in rows {
        problem.add_constraint(row);
    }
    let mut model = problem.into_inner();
    model.set_option("time_limit", time_limit_s);
    if std::env::var_os("DAY_TRACE_VERBOSE").is_some() {
        model.set_option("output_flag", true);
        model.set_option("log_to_console", true);
    }
    if let Some(columns) = start_from {
        model.set_solution(Some(columns), None, None, None);
    }
    let solved = model.solve();
    let columns = solved.get_solution().columns().to_vec();
    let value = |v: Variable| columns[column[&v]];
    let schedule = per_load
        .iter()
        .map(|v| {
            (0..SLOTS)
                .map(|m| {
                    let extra = v.extra.as_ref().map_or(0.0, |e| value(e[m]).round());
                    if value(v.on[m]).round() > 0.0 {
                        1 + extra as usize
                    } else {
                        0
                    }
                })
                .collect()
        })
        .collect();
    let used_wh = used_pv.iter().map(|u| value(*u) / 60.0).sum();
    Solved {
        schedule,
        used_wh,
        objective: solved.objective_value(),
        bound: solved
            .double_info_value(c"mip_dual_bound")
            .unwrap_or(f64::NAN),
        columns,
    }
}

/// Minimum on and off times as rows: a start in the last `min_on` slots keeps the load on, a
/// stop in the last `min_off` slots keeps it off. Starts and stops are continuous; the rows
/// make them at least the switchings the binaries show, which is all the times need.
fn minimum_times(
    vars: &mut ProblemVariables,
    rows: &mut Vec<good_lp::Constraint>,
    starts: &mut Vec<Variable>,
    v: &LoadVars,
    l: &LoadSettings,
) {
    let min_on = (l.min_on_ms / 1000) as usize / SLOT_S;
    let min_off = (l.min_off_ms / 1000) as usize / SLOT_S;
    let start: Vec<Variable> = (0..SLOTS)
        .map(|_| vars.add(variable().min(0).max(1)))
        .collect();
    let stop: Vec<Variable> = (0..SLOTS)
        .map(|_| vars.add(variable().min(0).max(1)))
        .collect();
    for m in 0..SLOTS {
        let before: Expression = if m == 0 { 0.into() } else { v.on[m - 1].into() };
        rows.push(constraint!(start[m] >= v.on[m] - before.clone()));
        rows.push(constraint!(stop[m] >= before - v.on[m]));
        if min_on > 1 {
            let recent: Expression = start[m.saturating_sub(min_on - 1)..=m].iter().sum();
            rows.push(constraint!(recent <= v.on[m]));
        }
        if min_off > 1 {
            let recent: Expression = stop[m.saturating_sub(min_off - 1)..=m].iter().sum();
            rows.push(constraint!(recent <= 1 - v.on[m]));
        }
    }
    starts.extend(start);
}

/// The schedule second by second: each load set to its slot's level, the devices and tally as
/// for the strategies.
fn replay(day: &Day, loads: &[(LoadSettings, f64)], schedule: &[Vec<usize>]) -> Tally {
    let mut devices = Devices::new(loads.len());
    let mut tally = Tally::new(loads.len());
    for t in 0..SECONDS as u64 {
        let m = t as usize / SLOT_S;
        for ((l, _), levels) in loads.iter().zip(schedule) {
            set_level(&mut devices, l, levels[m]);
        }
        tally.second(t, day, loads, &mut devices);
    }
    tally
}

/// Sets a load's devices to a level, as `Devices::level` reads it back.
fn set_level(d: &mut Devices, load: &LoadSettings, level: usize) {
    match &load.kind {
        LoadKind::Switched { plug, .. } => d.plugs[*plug] = level > 0,
        LoadKind::Stepped { plugs, .. } => {
            for (k, p) in plugs.iter().enumerate() {
                d.plugs[*p] = k < level;
            }
        }
        LoadKind::Variable { .. } => {
            d.wallbox_on = level > 0;
            if level > 0 {
                d.wallbox_a = 5 + level as u8;
            }
        }
        LoadKind::Setpoint { .. } => {}
    }
}
