//! The register maps of the day's Modbus devices, one unit each on the demo's responder, as
//! their built-in profiles read them: a SunSpec inverter, an Eastron SDM630 as the grid meter,
//! a Heidelberg Energy Control wallbox and a Huawei LUNA2000 battery.

use super::house::{Battery, BatteryMode, Car};
use crate::demo::modbus::{Map, get_u32, put, put_f32, put_u32};

pub const PV: u8 = 1;
pub const GRID: u8 = 2;
pub const WALLBOX: u8 = 3;
pub const BATTERY: u8 = 4;

/// Heidelberg: watchdog, standby, current limit and safe current.
const WALLBOX_SETTINGS: std::ops::RangeInclusive<u16> = 257..=262;
const CURRENT_LIMIT: u16 = 261;
/// Huawei: the charge and discharge limits, the forced period, mode, target and powers.
const BATTERY_CONTROLS: std::ops::RangeInclusive<u16> = 47075..=47250;
const MAX_CHARGE: u16 = 47075;
const MAX_DISCHARGE: u16 = 47077;
const FORCIBLE_MODE: u16 = 47100;
const FORCIBLE_CHARGE: u16 = 47247;
const FORCIBLE_DISCHARGE: u16 = 47249;

/// Where Stromwart may write: the wallbox's settings and the battery's controls.
pub fn writable(unit: u8, first: u16, last: u16) -> bool {
    match unit {
        WALLBOX => WALLBOX_SETTINGS.contains(&first) && WALLBOX_SETTINGS.contains(&last),
        BATTERY => BATTERY_CONTROLS.contains(&first) && BATTERY_CONTROLS.contains(&last),
        _ => false,
    }
}

/// Every register the profiles read or write, before the first step.
pub fn init(r: &mut Map) {
    put(r, GRID, 0, &[0; 76]);
    put(r, GRID, 342, &[0; 16]);
    put_u32(r, GRID, 64512, 22_080_417);
    put(r, WALLBOX, 5, &[0; 14]);
    put(r, WALLBOX, 5, &[5]); // B: a car plugged in, waiting
    put(r, WALLBOX, 257, &[0; 6]);
    put(r, BATTERY, 37758, &[0; 26]);
    put(r, BATTERY, 47075, &[0; 176]);
    put_u32(r, BATTERY, MAX_CHARGE, 5_000);
    put_u32(r, BATTERY, MAX_DISCHARGE, 5_000);
}

/// The grid meter: power (import positive) spread over three phases, and its counters.
pub fn grid_meter(r: &mut Map, power_w: f64, import_wh: f64, export_wh: f64) {
    for phase in 0..3u16 {
        put_f32(r, GRID, phase * 2, 230.0 + phase as f32 * 0.4);
        put_f32(r, GRID, 6 + phase * 2, (power_w / 3.0 / 230.0).abs() as f32);
        put_f32(r, GRID, 12 + phase * 2, (power_w / 3.0) as f32);
        put_f32(r, GRID, 30 + phase * 2, 0.98);
    }
    put_f32(r, GRID, 52, power_w as f32);
    put_f32(r, GRID, 70, 50.0);
    put_f32(r, GRID, 72, (import_wh / 1000.0) as f32);
    put_f32(r, GRID, 74, (export_wh / 1000.0) as f32);
    put_f32(r, GRID, 342, ((import_wh + export_wh) / 1000.0) as f32);
}

/// The current the wallbox was set to, A.
pub fn wallbox_current(r: &Map) -> f64 {
    f64::from(r.get(&(WALLBOX, CURRENT_LIMIT)).copied().unwrap_or(0)) / 10.0
}

/// The wallbox as the car makes it: IEC 61851 state, currents, power and energy.
pub fn wallbox(r: &mut Map, car: &Car) {
    let charging = car.power_w > 0.0;
    // C (charging) or B (connected, waiting).
    put(r, WALLBOX, 5, &[if charging { 7 } else { 5 }]);
    let amps = (car.power_w / 3.0 / 230.0 * 10.0).round() as u16;
    put(r, WALLBOX, 6, &[amps, amps, amps, 285, 230, 231, 229]);
    put(r, WALLBOX, 14, &[car.power_w.round() as u16]);
    put_u32(r, WALLBOX, 17, (4_812_000.0 + car.charged_wh) as u32);
}

/// What the battery was told.
pub fn battery_mode(r: &Map) -> BatteryMode {
    let watts = |at| f64::from(get_u32(r, BATTERY, at));
    match r.get(&(BATTERY, FORCIBLE_MODE)).copied().unwrap_or(0) {
        1 => BatteryMode::Charge(watts(FORCIBLE_CHARGE)),
        2 => BatteryMode::Discharge(watts(FORCIBLE_DISCHARGE)),
        _ => BatteryMode::Auto {
            max_charge_w: watts(MAX_CHARGE),
            max_discharge_w: watts(MAX_DISCHARGE),
        },
    }
}

/// The battery as the inverter reports it: Huawei counts charging as positive.
pub fn battery(r: &mut Map, b: &Battery) {
    put(r, BATTERY, 37760, &[(b.soc * 10.0).round() as u16]);
    put_u32(r, BATTERY, 37765, b.power_w.round() as i32 as u32);
    put_u32(r, BATTERY, 37780, (b.charged_wh / 10.0) as u32);
    put_u32(r, BATTERY, 37782, (b.discharged_wh / 10.0) as u32);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_battery_reads_back_what_stromwart_wrote() {
        let mut r = Map::new();
        init(&mut r);
        assert_eq!(
            battery_mode(&r),
            BatteryMode::Auto {
                max_charge_w: 5_000.0,
                max_discharge_w: 5_000.0
            }
        );
        put(&mut r, BATTERY, FORCIBLE_MODE, &[1]);
        put_u32(&mut r, BATTERY, FORCIBLE_CHARGE, 4_200);
        assert_eq!(battery_mode(&r), BatteryMode::Charge(4_200.0));
        assert!(writable(BATTERY, 47247, 47248));
        assert!(!writable(BATTERY, 37760, 37760), "readings are read-only");
        assert!(!writable(GRID, 0, 1));
        put(&mut r, WALLBOX, CURRENT_LIMIT, &[160]);
        assert_eq!(wallbox_current(&r), 16.0);
    }

    #[test]
    fn a_discharging_battery_is_negative_in_huaweis_sign() {
        let mut r = Map::new();
        let mut b = Battery::new(10_000.0, 50.0);
        b.power_w = -1_500.0;
        battery(&mut r, &b);
        assert_eq!(get_u32(&r, BATTERY, 37765) as i32, -1_500);
    }
}
