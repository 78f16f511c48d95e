//! The minimum power a dimmed site keeps (BNetzA BK6-22-300, Anlage 1), and the Modul 1 rebate
//! (BK8-22/010-A).
//!
//! Figures are whole watts and cents, computed in integers, so that the regulator's worked
//! examples come out exact: two wallboxes under an energy manager keep 7,560 W, not 7,559.99.
//!
//! The rule (Anlage 1, Ziff. 2.4.2 and 4.5): all heat pumps behind the grid connection are one
//! controllable unit (steuVE) with their summed rated power, all air conditioners another, and
//! each wallbox and each battery a unit of its own. A unit keeps 4.2 kW, except a heat-pump or
//! air-conditioning unit above 11 kW, which keeps 0.4 × its rated power. Under an energy
//! manager (EMS) the site as a whole keeps the first unit's minimum plus, for each further
//! unit, 4.2 kW times the simultaneity factor (GZF) for the number of units; controlled
//! directly, each unit keeps its own minimum.

use serde::Serialize;

/// What every unit keeps, in W.
pub const BASE_W: u32 = 4200;
/// Heat-pump and air-conditioning units above this keep [`LARGE_SHARE_PERCENT`] of their power.
pub const LARGE_W: u32 = 11_000;
pub const LARGE_SHARE_PERCENT: u32 = 40;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Wallbox,
    Battery,
    HeatPump,
    AirConditioner,
}

impl Kind {
    pub const NAMES: &'static [&'static str] =
        &["wallbox", "battery", "heat_pump", "air_conditioner"];

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "wallbox" => Some(Kind::Wallbox),
            "battery" => Some(Kind::Battery),
            "heat_pump" => Some(Kind::HeatPump),
            "air_conditioner" => Some(Kind::AirConditioner),
            _ => None,
        }
    }

    /// Heat pumps, and air conditioners, form one unit per grid connection.
    fn grouped(self) -> bool {
        matches!(self, Kind::HeatPump | Kind::AirConditioner)
    }
}

/// How the operator's signal reaches the devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Control {
    /// Each device has its own relay from the control box.
    Direct,
    /// An energy manager spreads one budget over the devices.
    Ems,
}

/// A controllable device and its rated power.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Device {
    pub kind: Kind,
    pub rated_w: u32,
}

/// One controllable unit (steuVE) and what it contributes to the minimum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unit {
    pub kind: Kind,
    /// Positions of its devices in the list given.
    pub devices: Vec<usize>,
    pub rated_w: u32,
    /// The unit's own minimum: 4.2 kW, or 0.4 × its power for a large heat-pump or
    /// air-conditioning unit.
    pub own_minimum_w: u32,
    /// What it adds to the site's minimum (under an EMS: its own minimum for the first unit,
    /// GZF × 4.2 kW for each further one).
    pub share_w: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Minimum {
    pub control: Control,
    pub units: Vec<Unit>,
    /// Units after grouping.
    pub n: usize,
    /// The simultaneity factor in percent (EMS control with more than one unit).
    pub gzf_percent: Option<u32>,
    pub total_w: u32,
}

/// The simultaneity factor for `n` units, in percent: 80 for two, 5 less for each further
/// unit, and 45 from nine on.
pub fn gzf_percent(n: usize) -> u32 {
    match n {
        0 | 1 => 100,
        n => 90u32.saturating_sub(5 * n as u32).max(45),
    }
}

/// The devices grouped into units: heat pumps together, air conditioners together, each
/// wallbox and battery alone; in the order their first device was given.
pub fn units(devices: &[Device]) -> Vec<Unit> {
    let mut units: Vec<Unit> = Vec::new();
    for (i, d) in devices.iter().enumerate() {
        let group = d.kind.grouped();
        match units.iter_mut().find(|u| group && u.kind == d.kind) {
            Some(u) => {
                u.devices.push(i);
                u.rated_w += d.rated_w;
            }
            None => units.push(Unit {
                kind: d.kind,
                devices: vec![i],
                rated_w: d.rated_w,
                own_minimum_w: 0,
                share_w: 0,
            }),
        }
    }
    for u in &mut units {
        u.own_minimum_w = if u.kind.grouped() && u.rated_w > LARGE_W {
            // Rounded to the watt; rated powers are whole watts, so this is exact to 0.5 W.
            (u.rated_w * LARGE_SHARE_PERCENT + 50) / 100
        } else {
            BASE_W
        };
    }
    units
}

/// The power the site keeps while dimmed, with how it was reached.
pub fn minimum(devices: &[Device], control: Control) -> Minimum {
    let mut units = units(devices);
    let n = units.len();
    let gzf = (control == Control::Ems && n > 1).then(|| gzf_percent(n));
    match control {
        Control::Direct => {
            for u in &mut units {
                u.share_w = u.own_minimum_w;
            }
        }
        Control::Ems => {
            // The unit with the largest own minimum counts first; the others add the factor's
            // share of 4.2 kW each. (4200 × percent / 100 is whole: 42 × percent.)
            let first = (0..n).max_by_key(|&i| (units[i].own_minimum_w, std::cmp::Reverse(i)));
            for (i, u) in units.iter_mut().enumerate() {
                u.share_w = if Some(i) == first {
                    u.own_minimum_w
                } else {
                    BASE_W / 100 * gzf.unwrap_or(100)
                };
            }
        }
    }
    let total_w = units.iter().map(|u| u.share_w).sum();
    Minimum {
        control,
        units,
        n,
        gzf_percent: gzf,
        total_w,
    }
}

/// Modul 1: a flat 80 € gross a year plus 20 % of the network energy price for 3,750 kWh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rebate {
    pub net_cents: u64,
    pub gross_cents: u64,
}

/// German VAT on network charges, in percent.
const VAT_PERCENT: u64 = 19;

/// The Modul 1 rebate a year for a network energy price in ct/kWh (net); never negative.
pub fn modul1(network_price_ct_net: f64) -> Rebate {
    // 80 € gross is 67.23 € net.
    let flat = (8000.0 * 100.0 / (100 + VAT_PERCENT) as f64).round();
    let variable = (network_price_ct_net * 0.2 * 3750.0).round();
    let net = (flat + variable).max(0.0) as u64;
    Rebate {
        net_cents: net,
        gross_cents: (net * (100 + VAT_PERCENT) + 50) / 100,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn devices(list: &[(Kind, u32)]) -> Vec<Device> {
        list.iter()
            .map(|&(kind, rated_w)| Device { kind, rated_w })
            .collect()
    }

    fn ems(list: &[(Kind, u32)]) -> u32 {
        minimum(&devices(list), Control::Ems).total_w
    }

    #[test]
    fn two_wallboxes_under_an_ems_keep_7560_w() {
        assert_eq!(
            ems(&[(Kind::Wallbox, 11_000), (Kind::Wallbox, 11_000)]),
            7560
        );
    }

    #[test]
    fn the_factor_applies_to_each_further_unit_only() {
        let expected = [10_500, 13_020, 15_120, 16_800, 18_060, 18_900, 19_320];
        for (n, want) in (3..=9).zip(expected) {
            let list = vec![(Kind::Wallbox, 11_000); n];
            assert_eq!(ems(&list), want, "n = {n}");
        }
        assert_eq!(gzf_percent(12), 45);
    }

    #[test]
    fn a_large_heat_pump_keeps_four_tenths_of_its_power() {
        assert_eq!(ems(&[(Kind::HeatPump, 16_000)]), 6400);
        let direct = minimum(&devices(&[(Kind::HeatPump, 16_000)]), Control::Direct);
        assert_eq!(direct.total_w, 6400);
    }

    #[test]
    fn heat_pumps_are_one_unit_with_their_summed_power() {
        let m = minimum(&devices(&[(Kind::HeatPump, 5000); 3]), Control::Ems);
        assert_eq!((m.n, m.total_w), (1, 6000));
        assert_eq!(m.units[0].devices, [0, 1, 2]);
        // Small heat pumps together stay a 4.2 kW unit.
        assert_eq!(ems(&[(Kind::HeatPump, 5000), (Kind::HeatPump, 5000)]), 4200);
    }

    #[test]
    fn a_wallbox_and_a_large_heat_pump_under_an_ems() {
        let m = minimum(
            &devices(&[(Kind::Wallbox, 11_000), (Kind::HeatPump, 16_000)]),
            Control::Ems,
        );
        assert_eq!(m.total_w, 9760);
        assert_eq!(m.gzf_percent, Some(80));
        let shares: Vec<u32> = m.units.iter().map(|u| u.share_w).collect();
        assert_eq!(shares, [3360, 6400], "the heat pump counts first");
    }

    #[test]
    fn direct_control_adds_each_units_own_minimum() {
        let m = minimum(
            &devices(&[(Kind::Wallbox, 11_000), (Kind::HeatPump, 16_000)]),
            Control::Direct,
        );
        assert_eq!((m.total_w, m.gzf_percent), (10_600, None));
    }

    #[test]
    fn air_conditioners_are_a_unit_apart_from_heat_pumps() {
        let m = minimum(
            &devices(&[
                (Kind::HeatPump, 12_000),
                (Kind::AirConditioner, 6000),
                (Kind::AirConditioner, 6000),
            ]),
            Control::Ems,
        );
        // Two units, each above 11 kW: the larger minimum first (4.8 kW), then 0.8 × 4.2 kW.
        assert_eq!((m.n, m.total_w), (2, 4800 + 3360));
    }

    #[test]
    fn modul_1_at_8_62_ct() {
        let r = modul1(8.62);
        assert_eq!((r.net_cents, r.gross_cents), (13_188, 15_694));
    }

    #[test]
    fn the_rebate_is_never_negative() {
        assert_eq!(modul1(-100.0).net_cents, 0);
        assert_eq!(modul1(0.0).net_cents, 6723);
    }
}
