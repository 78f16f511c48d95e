//! The battery in the surplus: its priority and buffer state of charge, held while the car
//! charges fast.

use super::*;

#[test]
fn the_battery_charges_first_below_its_priority_soc_and_carries_loads_above_its_buffer() {
    let settings = SurplusSettings {
        priority_soc: Some(50.0),
        buffer_soc: Some(80.0),
        ..instant()
    };
    let mut load = plug_load("boiler", 0, 2000, 0);
    load.on_delay_ms = 0;
    load.off_delay_ms = 0;
    let mut alloc = Allocator::new(settings, vec![load]);
    let mut h = House::new(&alloc, 1);
    let battery = |soc: f64| BatteryState {
        online: true,
        readings: vec![(crate::quantity::named("battery_soc").unwrap().clone(), soc)],
        ..BatteryState::default()
    };
    // The battery takes the whole 2.5 kW surplus; at 40 % that is not offered.
    h.snap.batteries[0] = battery(40.0);
    h.base_w = 0.0;
    h.pv_w = 2500.0;
    h.battery_w = -2500.0;
    h.run(&mut alloc, 0, 5);
    assert!(!h.on(0));
    // At 60 % it is.
    h.snap.batteries[0] = battery(60.0);
    h.run(&mut alloc, 6, 7);
    assert!(h.on(0));
    // A cloud: the battery discharges 1 kW into the boiler. At 85 % it may.
    h.snap.batteries[0] = battery(85.0);
    h.pv_w = 1000.0;
    h.battery_w = 1000.0;
    h.run(&mut alloc, 8, 9);
    assert!(h.on(0), "rides through on the battery");
    h.snap.batteries[0] = battery(70.0);
    h.run(&mut alloc, 10, 11);
    assert!(!h.on(0), "not below the buffer");
}

/// An allocator that holds the battery for a fast charge, and a house whose battery is in
/// `mode`.
fn holding(mode: &'static str) -> (Allocator, House) {
    let settings = SurplusSettings {
        hold_battery: true,
        ..instant()
    };
    let alloc = Allocator::new(settings, vec![wallbox_load()]);
    let mut h = House::new(&alloc, 0);
    h.snap.batteries[0] = BatteryState {
        mode,
        online: true,
        ..BatteryState::default()
    };
    (alloc, h)
}

/// The battery modes commanded.
fn battery_modes(d: &Decisions) -> Vec<&'static str> {
    d.actions
        .iter()
        .filter_map(|a| match a {
            Action::Battery {
                command: crate::model::BatteryCommand::Mode(m),
                ..
            } => Some(*m),
            _ => None,
        })
        .collect()
}

#[test]
fn the_battery_holds_while_the_car_charges_fast_and_gets_its_mode_back() {
    let (mut alloc, mut h) = holding("discharge");
    let mode = |d: &Decisions| battery_modes(d).first().copied();
    assert_eq!(mode(&h.second(&mut alloc, 0)), None);
    alloc.set_charge_mode(0, ChargeMode::Now);
    assert_eq!(mode(&h.second(&mut alloc, 1)), Some("hold"));
    assert_eq!(mode(&h.second(&mut alloc, 2)), None, "once");
    alloc.set_charge_mode(0, ChargeMode::Pv);
    let back = (3..400).find_map(|s| mode(&h.second(&mut alloc, s)));
    assert_eq!(back, Some("discharge"), "the mode it had");
}

#[test]
fn a_full_car_no_longer_holds_the_battery() {
    let (mut alloc, mut h) = holding("auto");
    alloc.set_charge_mode(0, ChargeMode::Now);
    h.snap.wallboxes[0].status = "charging";
    let held: Vec<_> = (0..10)
        .flat_map(|s| battery_modes(&h.second(&mut alloc, s)))
        .collect();
    assert_eq!(held, ["hold"]);
    // The car is full: the charger is still enabled in mode now, but nothing flows. The house
    // would otherwise draw the evening from the grid while the battery waits.
    h.snap.wallboxes[0].status = "complete";
    h.snap.wallboxes[0].power = Some(0.0);
    let d = h.second(&mut alloc, 10);
    assert_eq!(battery_modes(&d), ["auto"]);
    assert!(h.snap.wallboxes[0].enabled, "the car stays in mode now");
}
