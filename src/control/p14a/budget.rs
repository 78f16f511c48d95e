//! Spreading a dimmed site's budget over the devices an energy manager drives.
//!
//! Devices that must keep running (a heat pump, an air conditioner: Stromwart never sets them
//! to 0 W) get the power at which they still run first. The rest goes by priority, highest
//! first; devices of equal priority share evenly, and what one of them does not want goes to
//! the others. A device that can pause (a wallbox, a battery) gets nothing rather than less
//! than it runs on: a wallbox is paused only when its share cannot fund 6 A on its phases.
//! When an even share would starve one but the equals' minimums fit together, each gets its
//! minimum first and the rest evenly; when they do not fit, the last in the configuration
//! pauses first.

/// What a device asks of the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    /// Higher goes first.
    pub priority: i32,
    /// The most it would draw: its rated power, or what it draws now where that is known.
    pub demand_w: u32,
    /// The least it runs on (a wallbox's 6 A on its phases, a heat pump's minimum).
    pub min_run_w: u32,
    /// Whether it may be paused (0 W) rather than run below `min_run_w`.
    pub pausable: bool,
}

/// Watts for each claim, in order; their sum stays within `budget_w` unless devices that must
/// keep running need more than that on their own.
pub fn spread(budget_w: u32, claims: &[Claim]) -> Vec<u32> {
    let mut given = vec![0u32; claims.len()];
    let mut left = budget_w;
    for (i, c) in claims.iter().enumerate() {
        if !c.pausable {
            given[i] = c.min_run_w.min(c.demand_w.max(c.min_run_w));
            left = left.saturating_sub(given[i]);
        }
    }
    let mut priorities: Vec<i32> = claims.iter().map(|c| c.priority).collect();
    priorities.sort_unstable_by(|a, b| b.cmp(a));
    priorities.dedup();
    for p in priorities {
        let mut group: Vec<usize> = (0..claims.len())
            .filter(|&i| claims[i].priority == p && claims[i].demand_w > given[i])
            .collect();
        let mut minimums_funded = false;
        loop {
            let share = fill(left, &group, claims, &given);
            // A pausable device that would get less than it runs on pauses, the last first, and
            // the rest share again; unless the group's minimums fit together, when each gets its
            // minimum first (a wallbox keeps its 6 A beside a battery that runs on any power).
            let starved = group.iter().rposition(|&i| {
                let c = &claims[i];
                c.pausable && given[i] == 0 && (c.demand_w - given[i]).min(share) < c.min_run_w
            });
            match starved {
                Some(pos) => {
                    let minimum = |i: usize| claims[i].min_run_w.min(claims[i].demand_w);
                    let minimums: u32 = group.iter().map(|&i| minimum(i)).sum();
                    if !minimums_funded && minimums <= left {
                        for &i in &group {
                            given[i] += minimum(i);
                        }
                        left -= minimums;
                        minimums_funded = true;
                        continue;
                    }
                    group.remove(pos);
                }
                None => {
                    for &i in &group {
                        let add = (claims[i].demand_w - given[i]).min(share);
                        given[i] += add;
                        left -= add;
                    }
                    break;
                }
            }
        }
    }
    given
}

/// The even share of `left` for `group`, after those that want less than their share took what
/// they want (water-filling).
fn fill(left: u32, group: &[usize], claims: &[Claim], given: &[u32]) -> u32 {
    let mut wants: Vec<u32> = group
        .iter()
        .map(|&i| claims[i].demand_w - given[i])
        .collect();
    wants.sort_unstable();
    let (mut pool, mut rest) = (left, group.len() as u32);
    let mut share = pool.checked_div(rest).unwrap_or(0);
    for w in wants {
        if w > share {
            break;
        }
        pool -= w;
        rest -= 1;
        share = pool.checked_div(rest).unwrap_or(u32::MAX);
    }
    share
}

/// The wallbox current for `allowed_w` on `phases` phases, rounded down to whole amperes, up to
/// `max_a`; `None` when it cannot fund the 6 A a car needs (the wallbox pauses).
pub fn wallbox_current(allowed_w: u32, phases: u32, max_a: u32) -> Option<u32> {
    use crate::model::devices::{MIN_CURRENT_A, VOLTS};
    let amps = allowed_w / (VOLTS * phases.max(1));
    (amps >= u32::from(MIN_CURRENT_A)).then(|| amps.min(max_a))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A wallbox: 1 or 3 phases, 6 to 16 A at 230 V.
    fn wallbox(priority: i32, phases: u32) -> Claim {
        Claim {
            priority,
            demand_w: 16 * 230 * phases,
            min_run_w: 6 * 230 * phases,
            pausable: true,
        }
    }

    fn heat_pump(demand_w: u32, min_run_w: u32) -> Claim {
        Claim {
            priority: 0,
            demand_w,
            min_run_w,
            pausable: false,
        }
    }

    #[test]
    fn equal_priorities_share_evenly() {
        assert_eq!(spread(6000, &[wallbox(1, 1), wallbox(1, 1)]), [3000, 3000]);
        // Two three-phase wallboxes on 7.56 kW: 3,780 W each is below 6 A (4,140 W), so one
        // charges on all of it rather than both not at all.
        assert_eq!(spread(7560, &[wallbox(1, 3), wallbox(1, 3)]), [7560, 0]);
        assert_eq!(spread(9000, &[wallbox(1, 3), wallbox(1, 3)]), [4500, 4500]);
    }

    #[test]
    fn a_device_that_wants_less_leaves_the_rest_to_the_others() {
        let battery = Claim {
            priority: 1,
            demand_w: 1000,
            min_run_w: 0,
            pausable: true,
        };
        let given = spread(7560, &[battery, wallbox(1, 3)]);
        assert_eq!(given, [1000, 6560]);
    }

    #[test]
    fn a_wallbox_keeps_its_6_a_next_to_a_battery_of_equal_priority() {
        // Evenly, each would get 3,780 W: too little for the car, so it would pause while the
        // battery, which runs on any power, kept 5 kW. Minimums first, then the rest evenly.
        let battery = Claim {
            priority: 1,
            demand_w: 5000,
            min_run_w: 0,
            pausable: true,
        };
        assert_eq!(spread(7560, &[wallbox(1, 3), battery]), [5850, 1710]);
        assert_eq!(spread(4000, &[wallbox(1, 3), battery]), [0, 4000]);
    }

    #[test]
    fn higher_priority_first() {
        assert_eq!(spread(10_000, &[wallbox(1, 3), wallbox(2, 3)]), [0, 10_000]);
        assert_eq!(
            spread(16_000, &[wallbox(1, 3), wallbox(2, 3)]),
            [4960, 11_040]
        );
    }

    #[test]
    fn a_wallbox_pauses_rather_than_run_below_6_a() {
        // 4.2 kW between two three-phase wallboxes: 2.1 kW each is below 6 A × 3 × 230 V
        // (4,140 W), so the second pauses and the first gets it all.
        let given = spread(4200, &[wallbox(1, 3), wallbox(1, 3)]);
        assert_eq!(given, [4200, 0]);
        // Too little even for one.
        assert_eq!(spread(4000, &[wallbox(1, 3)]), [0]);
        // A one-phase wallbox runs on 1,380 W.
        assert_eq!(spread(4000, &[wallbox(1, 3), wallbox(1, 1)]), [0, 3680]);
    }

    #[test]
    fn a_heat_pump_is_never_set_to_zero() {
        let given = spread(4200, &[wallbox(5, 3), heat_pump(6000, 1500)]);
        assert_eq!(given, [0, 4200], "the wallbox cannot run on what is left");
        let given = spread(9760, &[wallbox(5, 3), heat_pump(6000, 1500)]);
        assert_eq!(given, [8260, 1500]);
        // Even when the budget is below what it needs to run.
        assert_eq!(spread(1000, &[heat_pump(6000, 1500)]), [1500]);
    }

    #[test]
    fn a_wallbox_current_is_rounded_down_and_never_below_6_a() {
        assert_eq!(wallbox_current(4200, 3, 16), Some(6));
        assert_eq!(wallbox_current(4139, 3, 16), None);
        assert_eq!(wallbox_current(7560, 3, 16), Some(10));
        assert_eq!(wallbox_current(7560, 1, 16), Some(16));
    }

    #[test]
    fn the_sum_stays_within_the_budget() {
        let claims = [wallbox(1, 3), wallbox(1, 1), wallbox(2, 3), wallbox(0, 3)];
        for budget in (0..40_000).step_by(777) {
            let given = spread(budget, &claims);
            assert!(given.iter().sum::<u32>() <= budget, "{budget}: {given:?}");
            for (g, c) in given.iter().zip(&claims) {
                assert!(*g == 0 || *g >= c.min_run_w, "{budget}: {given:?}");
                assert!(*g <= c.demand_w);
            }
        }
    }
}
