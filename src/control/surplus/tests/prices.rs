//! Prices in the surplus: runtimes and charge plans in the cheapest slots.

use super::*;

/// The day's quarter hours at 30 ct, but 13:00–14:00 at 12 ct.
fn cheap_after_one() -> Vec<(i64, i64, f64)> {
    let midnight = at(0).unix_ms / 1000;
    (0..96)
        .map(|q| {
            let start = midnight + q * 900;
            let price = if (52..56).contains(&q) { 0.12 } else { 0.30 };
            (start, start + 900, price)
        })
        .collect()
}

#[test]
fn with_prices_a_runtime_target_runs_in_the_cheapest_slots_before_its_deadline() {
    let mut load = plug_load("boiler", 0, 2000, 0);
    load.runtime = Some(Runtime {
        ms: H * 1000,
        deadline_ms: 18 * H * 1000,
    });
    let mut alloc = Allocator::new(instant(), vec![load]);
    let mut h = House::new(&alloc, 1);
    h.snap.prices = cheap_after_one();
    h.run(&mut alloc, 12 * H, 13 * H - 1);
    assert!(!h.on(0), "not yet: dearer");
    let d = h.run(&mut alloc, 13 * H, 13 * H + 10);
    assert!(h.on(0));
    let why = reason(&d, Driven::Plug(0));
    assert!(
        why.ends_with("of 1 h left before 18:00, in the cheapest slots"),
        "{why}"
    );
    h.run(&mut alloc, 13 * H + 11, 14 * H + 120);
    assert!(!h.on(0), "its hour is done");
}

#[test]
fn a_charge_plan_charges_at_full_power_in_the_cheapest_slots_and_ends_when_met() {
    let mut alloc = Allocator::new(instant(), vec![wallbox_load()]);
    let mut h = House::new(&alloc, 0);
    // 16 A on one phase is 3.68 kW: 3 kWh take 49 min, 54 with the margin. 13:00–14:00 is
    // the cheapest hour before 18:00.
    h.snap.prices = cheap_after_one();
    alloc.set_plan_time(0, 18 * H * 1000);
    alloc.set_plan(0, 3000.0);
    h.run(&mut alloc, 12 * H, 13 * H - 1);
    assert!(!h.snap.wallboxes[0].enabled, "no sun, dearer: it waits");
    let d = h.run(&mut alloc, 13 * H, 13 * H + 5);
    assert!(h.snap.wallboxes[0].enabled);
    assert_eq!(h.snap.wallboxes[0].current_a, 16, "full power");
    assert_eq!(
        reason(&d, Driven::Wallbox(0)),
        "charging at 16 A: plan: 3.0 kWh left before 18:00, in the cheapest slots"
    );
    let mut ended = Vec::new();
    for s in 13 * H + 6..=14 * H {
        ended.extend(h.second(&mut alloc, s).log);
    }
    assert_eq!(ended.len(), 1, "{ended:?} {:?}", alloc.plan(0));
    assert_eq!(
        ended[0].message,
        "car: charge plan met, 3.0 kWh before 18:00."
    );
    assert_eq!(alloc.plan(0).0, None, "a plan met is gone");
    h.run(&mut alloc, 14 * H + 1, 14 * H + 300);
    assert!(!h.snap.wallboxes[0].enabled, "pv mode again, no sun");
}
