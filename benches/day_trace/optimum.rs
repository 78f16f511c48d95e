//! A bound no strategy can beat: with perfect foresight of the day, the most PV the loads
//! could take, minute by minute, as a linear program (good_lp with the pure-Rust microlp
//! solver, so it builds anywhere without a system library).
//!
//! It is the LP relaxation of the integer program: a load may take any power between 0 and
//! its highest level in any minute, and minimum on and off times do not bind it. Any real
//! schedule is a feasible point of this program, so its self-consumption is an upper bound;
//! its switchings and violations say nothing and are not reported.

use good_lp::{Expression, Solution, SolverModel, constraint, microlp, variable, variables};
use stromwart::control::surplus::load::LoadSettings;

use super::day::Day;

pub struct Bound {
    pub pv_wh: f64,
    pub self_wh: f64,
    pub import_wh: f64,
    pub targets_met: u32,
    pub targets: u32,
}

const SLOT_S: usize = 60;

pub fn optimum(day: &Day, loads: &[(LoadSettings, f64)]) -> Bound {
    let slots = day.pv_w.len() / SLOT_S;
    let (pv, base) = day.means(SLOT_S);
    let mut vars = variables!();
    let power: Vec<Vec<_>> = loads
        .iter()
        .map(|(l, _)| {
            let top = f64::from(*l.levels().last().unwrap_or(&0));
            (0..slots)
                .map(|m| {
                    let open = l.in_window((m * SLOT_S * 1000) as u64);
                    vars.add(variable().min(0.0).max(if open { top } else { 0.0 }))
                })
                .collect()
        })
        .collect();
    let used_pv: Vec<_> = pv
        .iter()
        .map(|p| vars.add(variable().min(0.0).max(*p)))
        .collect();
    let objective: Expression = used_pv.iter().sum();
    let mut model = vars.maximise(objective).using(microlp);
    for m in 0..slots {
        let loads_then: Expression = power.iter().map(|p| p[m]).sum();
        model = model.with(constraint!(used_pv[m] <= base[m] + loads_then));
    }
    let mut targets = 0;
    for (i, (l, cap_wh)) in loads.iter().enumerate() {
        let energy: Expression = power[i].iter().map(|p| *p * (SLOT_S as f64 / 3600.0)).sum();
        model = model.with(constraint!(energy <= *cap_wh));
        if let Some(r) = l.runtime {
            // The runtime at the load's power, by the deadline (what the thermostat allows).
            targets += 1;
            let top = f64::from(*l.levels().last().unwrap_or(&0));
            let need = (r.ms as f64 / 3_600_000.0 * top).min(*cap_wh);
            let before = (r.deadline_ms / 1000) as usize / SLOT_S;
            let by_deadline: Expression = power[i][..before]
                .iter()
                .map(|p| *p * (SLOT_S as f64 / 3600.0))
                .sum();
            model = model.with(constraint!(by_deadline >= need));
        }
    }
    let solution = model.solve().expect("the bound's program is feasible");
    let mut bound = Bound {
        pv_wh: pv.iter().sum::<f64>() * SLOT_S as f64 / 3600.0,
        self_wh: 0.0,
        import_wh: 0.0,
        targets_met: targets,
        targets,
    };
    for m in 0..slots {
        let loads_then: f64 = power.iter().map(|p| solution.value(p[m])).sum();
        let used = base[m] + loads_then;
        bound.self_wh += pv[m].min(used) * SLOT_S as f64 / 3600.0;
        bound.import_wh += (used - pv[m]).max(0.0) * SLOT_S as f64 / 3600.0;
    }
    bound
}
