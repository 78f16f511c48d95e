//! The site view with simulated time: energy balance, surplus smoothing and hysteresis, and
//! today's ratios across midnight and a DST change.

use stromwart::control::Snapshot;
use stromwart::control::site::{Site, SiteSettings, SiteValues};
use stromwart::model::time::local_day;
use stromwart::model::{Now, Role};

/// 2026-06-15 10:00 UTC, German summer time.
const JUNE_10_UTC_MS: i64 = 1_781_517_600_000;

fn at(secs: u64) -> Now {
    Now {
        mono_ms: secs * 1000,
        unix_ms: JUNE_10_UTC_MS + secs as i64 * 1000,
        utc_offset_s: 7200,
    }
}

/// Runs one tick per second from `from` to `to` with constant powers; returns the last values.
fn run(
    site: &mut Site,
    house: &mut Snapshot,
    from: u64,
    to: u64,
    grid: f64,
    pv: f64,
    battery: f64,
) -> SiteValues {
    let mut last = Default::default();
    for s in from..to {
        house.power(Role::Grid, 0, grid, at(s));
        house.power(Role::Pv, 1, pv, at(s));
        house.power(Role::Battery, 2, battery, at(s));
        last = site.tick(house, at(s));
    }
    last
}

#[test]
fn the_house_is_what_grid_panels_and_battery_deliver() {
    let mut site = Site::new(SiteSettings::default());
    let mut house = Snapshot::default();
    assert_eq!(
        site.tick(&house, at(0)).house_w,
        None,
        "no grid meter, no site values"
    );
    // Importing 300 W, panels making 2000 W, battery charging with 1200 W.
    let v = run(&mut site, &mut house, 0, 2, 300.0, 2000.0, -1200.0);
    assert_eq!(
        (v.grid_import_w, v.grid_export_w, v.house_w),
        (Some(300.0), Some(0.0), Some(1100.0))
    );
    // Exporting 800 W with the battery discharging 200 W.
    let v = run(&mut site, &mut house, 2, 4, -800.0, 1500.0, 200.0);
    assert_eq!(
        (v.grid_import_w, v.grid_export_w, v.house_w),
        (Some(0.0), Some(800.0), Some(900.0))
    );
}

#[test]
fn surplus_is_smoothed_and_switches_with_hysteresis() {
    let settings = SiteSettings {
        smoothing_s: 60.0,
        surplus_on_w: 500.0,
        surplus_off_w: 100.0,
        battery_in_surplus: false,
    };
    let mut site = Site::new(settings);
    let mut house = Snapshot::default();
    let v = run(&mut site, &mut house, 0, 60, 200.0, 0.0, 0.0);
    assert_eq!(v.surplus_available, Some(false));
    // Exporting 1000 W: the 60 s average reaches 500 W after about half a minute, not at once.
    let v = run(&mut site, &mut house, 60, 75, -1000.0, 1200.0, 0.0);
    assert_eq!(
        v.surplus_available,
        Some(false),
        "a short export does not switch"
    );
    let v = run(&mut site, &mut house, 75, 95, -1000.0, 1200.0, 0.0);
    assert_eq!(v.surplus_available, Some(true));
    // A cloud for 20 s pulls the average down, but not below the off threshold.
    let v = run(&mut site, &mut house, 95, 115, 300.0, 0.0, 0.0);
    assert_eq!(
        v.surplus_available,
        Some(true),
        "no flapping: {:?}",
        v.surplus_w
    );
    let v = run(&mut site, &mut house, 115, 200, 300.0, 0.0, 0.0);
    assert_eq!((v.surplus_available, v.surplus_w), (Some(false), Some(0.0)));
}

#[test]
fn todays_ratios_come_from_integrated_energy() {
    let mut site = Site::new(SiteSettings::default());
    let mut house = Snapshot::default();
    // One hour: panels 1000 W, house 600 W, 400 W exported.
    let v = run(&mut site, &mut house, 0, 3601, -400.0, 1000.0, 0.0);
    assert_eq!(
        v.self_consumption_pct.map(|p| (p * 10.0).round() / 10.0),
        Some(60.0)
    );
    assert_eq!(v.autarky_pct, Some(100.0));
    // Then an hour in the evening: 500 W from the grid, no sun.
    let v = run(&mut site, &mut house, 3601, 7202, 500.0, 0.0, 0.0);
    assert_eq!(
        v.autarky_pct.map(|p| (p * 10.0).round() / 10.0),
        Some(54.5),
        "600 of 1100 Wh"
    );
}

#[test]
fn a_new_local_day_starts_the_ratios_again() {
    let mut site = Site::new(SiteSettings::default());
    let mut house = Snapshot::default();
    let evening = |s: u64| Now {
        mono_ms: s * 1000,
        // 2026-06-15 21:59:00 UTC = 23:59 local (UTC+2)
        unix_ms: 1_781_560_740_000 + s as i64 * 1000,
        utc_offset_s: 7200,
    };
    for s in 0..50 {
        house.power(Role::Grid, 0, 500.0, evening(s));
        house.power(Role::Pv, 1, 0.0, evening(s));
        site.tick(&house, evening(s));
    }
    let mut last = Default::default();
    for s in 60..70 {
        house.power(Role::Grid, 0, -100.0, evening(s));
        house.power(Role::Pv, 1, 300.0, evening(s));
        last = site.tick(&house, evening(s));
    }
    // After local midnight only the new day counts: all consumption came from the panels.
    assert_eq!(last.autarky_pct, Some(100.0));
}

#[test]
fn the_day_with_the_dst_change_has_25_hours() {
    // 2026-10-25: clocks go back from 03:00 CEST to 02:00 CET (01:00 UTC).
    let day = |utc_ms: i64, offset: i32| {
        local_day(Now {
            mono_ms: 0,
            unix_ms: utc_ms,
            utc_offset_s: offset,
        })
    };
    let start = day(1_792_879_200_000, 7200); // 2026-10-24 22:00 UTC = 00:00 CEST on the 25th
    let before = day(1_792_879_199_000, 7200); // one second earlier: still the 24th
    let late = day(1_792_969_140_000, 3600); // 2026-10-25 22:59 UTC = 23:59 CET on the 25th
    let next = day(1_792_969_200_000, 3600); // 23:00 UTC = 00:00 CET on the 26th
    assert_eq!(before + 1, start);
    assert_eq!(
        late, start,
        "24 hours and 59 minutes later it is still the same local day"
    );
    assert_eq!(next, start + 1);
}

#[test]
fn stale_readings_stop_counting() {
    let mut site = Site::new(SiteSettings::default());
    let mut house = Snapshot::default();
    house.power(Role::Grid, 0, 100.0, at(0));
    house.power(Role::Pv, 1, 5000.0, at(0));
    house.power(Role::Grid, 0, 100.0, at(400));
    let v = site.tick(&house, at(400));
    assert_eq!(
        v.house_w,
        Some(100.0),
        "the inverter went quiet five minutes ago"
    );
}

#[test]
fn battery_charging_counts_as_surplus_when_asked() {
    let with = SiteSettings {
        battery_in_surplus: true,
        ..SiteSettings::default()
    };
    let mut site = Site::new(with);
    let mut house = Snapshot::default();
    // Nothing exported, but the battery takes 1500 W from the panels.
    let v = run(&mut site, &mut house, 0, 120, 0.0, 2000.0, -1500.0);
    assert_eq!(
        (v.surplus_w, v.surplus_available),
        (Some(1500.0), Some(true))
    );
    let mut site = Site::new(SiteSettings::default());
    let mut house = Snapshot::default();
    let v = run(&mut site, &mut house, 0, 120, 0.0, 2000.0, -1500.0);
    assert_eq!((v.surplus_w, v.surplus_available), (Some(0.0), Some(false)));
}
