//! The house of the demo's day, as plain arithmetic over the hour of the day: what the sun
//! gives, what the household draws, what the grid prices are, and a battery and a car that
//! take and give power the way their real counterparts do.
//!
//! The figures are chosen to tell the story in one pass, not taken from a measured house: a
//! 9 kWp roof on a clear June day with one cloud after lunch, a household of 3,500 kWh a year
//! with its morning and evening peaks, a 10 kWh battery, and a car that wants 40 kWh.

use std::f64::consts::PI;

/// Peak PV power of the roof, W.
const PV_PEAK_W: f64 = 9_000.0;
/// Sunrise and sunset, local hours (late June in Germany).
const SUNRISE: f64 = 5.5;
const SUNSET: f64 = 21.5;
/// A cloud after lunch: the surplus drops, and the loads go off in reverse order.
const CLOUD: (f64, f64, f64) = (14.0, 14.75, 0.25);

/// PV power at `hour` (local, fractional), W.
pub fn pv_w(hour: f64) -> f64 {
    if hour <= SUNRISE || hour >= SUNSET {
        return 0.0;
    }
    let x = (hour - SUNRISE) / (SUNSET - SUNRISE);
    let clear = PV_PEAK_W * (PI * x).sin().powf(1.5);
    let (from, to, share) = CLOUD;
    if (from..to).contains(&hour) {
        clear * share
    } else {
        clear
    }
}

/// What the household draws at `hour` besides the devices Stromwart switches, W: a base load
/// of 150 W (fridge, standby, router) and the steps of a day.
pub fn household_w(hour: f64) -> f64 {
    const STEPS: [(f64, f64, f64); 7] = [
        (6.5, 6.6, 2_000.0),    // kettle
        (7.0, 7.75, 400.0),     // breakfast, coffee machine
        (10.0, 10.25, 2_000.0), // washing machine heating
        (10.25, 11.5, 300.0),   // washing machine
        (12.0, 12.75, 2_500.0), // cooking lunch
        (18.0, 19.0, 2_800.0),  // cooking dinner
        (19.0, 23.0, 250.0),    // television and lights
    ];
    150.0
        + STEPS
            .iter()
            .filter(|(from, to, _)| (*from..*to).contains(&hour))
            .map(|(_, _, w)| w)
            .sum::<f64>()
}

/// The spot price at `hour`, EUR/MWh: a windy night, a dip under the midday sun, and the
/// evening peak. Each quarter hour a little dearer than the one before, as the market has it.
pub fn spot_eur_mwh(hour: f64) -> f64 {
    const BY_HOUR: [f64; 24] = [
        55.0, 50.0, 45.0, 42.0, 45.0, 60.0, 95.0, 130.0, 120.0, 90.0, 60.0, 35.0, 25.0, 20.0, 30.0,
        55.0, 90.0, 150.0, 210.0, 230.0, 190.0, 140.0, 100.0, 75.0,
    ];
    let h = hour.rem_euclid(24.0);
    let quarter = (h.fract() * 4.0).floor();
    BY_HOUR[h as usize % 24] + quarter * 1.5
}

/// A home battery the way a hybrid inverter runs it. Power is positive while charging.
#[derive(Debug, Clone, PartialEq)]
pub struct Battery {
    pub capacity_wh: f64,
    pub soc: f64,
    pub power_w: f64,
    pub charged_wh: f64,
    pub discharged_wh: f64,
}

/// What the inverter was told (Huawei's forcible charging and discharging).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BatteryMode {
    /// Self-consumption within the limits: take the export, cover the import.
    Auto {
        max_charge_w: f64,
        max_discharge_w: f64,
    },
    Charge(f64),
    Discharge(f64),
}

impl Battery {
    pub fn new(capacity_wh: f64, soc: f64) -> Self {
        Self {
            capacity_wh,
            soc,
            power_w: 0.0,
            charged_wh: 0.0,
            discharged_wh: 0.0,
        }
    }

    /// One step of `dt_s` seconds; `excess_w` is what the house would export without the
    /// battery (negative: what it would import).
    pub fn step(&mut self, mode: BatteryMode, excess_w: f64, dt_s: f64) {
        let want = match mode {
            BatteryMode::Auto {
                max_charge_w,
                max_discharge_w,
            } => excess_w.clamp(-max_discharge_w, max_charge_w),
            BatteryMode::Charge(w) => w,
            BatteryMode::Discharge(w) => -w,
        };
        // Full and empty are the battery's own limits, whatever it is told.
        let room_wh = (100.0 - self.soc) / 100.0 * self.capacity_wh;
        let left_wh = (self.soc - 5.0).max(0.0) / 100.0 * self.capacity_wh;
        let hours = dt_s / 3600.0;
        self.power_w = want.clamp(-left_wh / hours, room_wh / hours);
        let wh = self.power_w * hours;
        if wh > 0.0 {
            self.charged_wh += wh;
        } else {
            self.discharged_wh -= wh;
        }
        self.soc = (self.soc + wh / self.capacity_wh * 100.0).clamp(0.0, 100.0);
    }
}

/// The car at the wallbox: plugged in all day, wanting `wanted_wh` more.
#[derive(Debug, Clone, PartialEq)]
pub struct Car {
    pub wanted_wh: f64,
    pub power_w: f64,
    pub charged_wh: f64,
}

impl Car {
    /// One step at `current_a` on three phases; a full car draws nothing.
    pub fn step(&mut self, current_a: f64, dt_s: f64) {
        let offered = if current_a >= 6.0 {
            current_a * 230.0 * 3.0
        } else {
            0.0
        };
        let hours = dt_s / 3600.0;
        self.power_w = offered.min(self.wanted_wh / hours);
        let wh = self.power_w * hours;
        self.wanted_wh -= wh;
        self.charged_wh += wh;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sun_rises_peaks_at_midday_and_a_cloud_passes_after_lunch() {
        assert_eq!(pv_w(4.0), 0.0);
        assert!(pv_w(8.0) > 2_000.0 && pv_w(8.0) < pv_w(11.0));
        assert!((pv_w(13.5) - PV_PEAK_W).abs() < 100.0);
        assert!(pv_w(14.25) < pv_w(13.5) / 3.0, "the cloud");
        assert_eq!(pv_w(22.0), 0.0);
    }

    #[test]
    fn the_household_has_its_peaks_and_a_day_of_about_ten_kwh() {
        assert_eq!(household_w(3.0), 150.0);
        assert_eq!(household_w(18.5), 2_950.0);
        let kwh: f64 = (0..24 * 60)
            .map(|m| household_w(m as f64 / 60.0) / 60.0)
            .sum::<f64>()
            / 1000.0;
        assert!((9.0..12.0).contains(&kwh), "{kwh}");
    }

    #[test]
    fn the_night_is_cheap_and_the_evening_dear() {
        let night = spot_eur_mwh(3.0);
        assert!(night < spot_eur_mwh(7.0) && night * 4.0 < spot_eur_mwh(19.5));
        assert_eq!(spot_eur_mwh(3.75), 42.0 + 4.5);
        assert_eq!(spot_eur_mwh(27.0), night);
    }

    #[test]
    fn the_battery_takes_the_export_within_its_limit_and_stops_when_full() {
        let mut b = Battery::new(10_000.0, 50.0);
        let auto = BatteryMode::Auto {
            max_charge_w: 5_000.0,
            max_discharge_w: 5_000.0,
        };
        b.step(auto, 8_000.0, 3_600.0);
        assert_eq!(b.power_w, 5_000.0);
        assert_eq!(b.soc, 100.0);
        b.step(BatteryMode::Charge(3_000.0), 0.0, 60.0);
        assert_eq!(b.power_w, 0.0, "full");
        b.step(auto, -1_000.0, 3_600.0);
        assert_eq!((b.power_w, b.soc), (-1_000.0, 90.0));
        assert_eq!(b.charged_wh, 5_000.0);
        assert_eq!(b.discharged_wh, 1_000.0);
    }

    #[test]
    fn the_car_charges_from_six_amperes_until_it_is_full() {
        let mut car = Car {
            wanted_wh: 1_000.0,
            power_w: 0.0,
            charged_wh: 0.0,
        };
        car.step(5.0, 60.0);
        assert_eq!(car.power_w, 0.0);
        car.step(6.0, 60.0);
        assert_eq!(car.power_w, 4_140.0);
        car.step(16.0, 3_600.0);
        assert!(car.wanted_wh < 1.0, "full");
        assert_eq!(car.charged_wh, 1_000.0);
    }
}
