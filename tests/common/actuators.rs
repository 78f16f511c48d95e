//! Core settings of a wallbox and a battery, for tests that drive the core directly.

use stromwart::core::DeviceSettings;
use stromwart::core::battery::BatterySettings;
use stromwart::core::wallbox::WallboxSettings;
use stromwart::model::Role;

/// A 16 A charger with the given phase choices, unpaced.
pub fn wallbox(id: &str, phases: &'static [&'static str]) -> WallboxSettings {
    WallboxSettings {
        id: id.into(),
        name: id.into(),
        manufacturer: "go-e".into(),
        model: None,
        max_current_a: 16,
        phases,
        min_change_ms: 0,
        policy: DeviceSettings::new(id, id, Role::Consumer).policy,
        on_stop: None,
    }
}

/// A 5 kW battery with all four modes, unpaced.
pub fn battery(id: &str) -> BatterySettings {
    BatterySettings {
        id: id.into(),
        name: id.into(),
        manufacturer: None,
        model: None,
        modes: &["auto", "hold", "charge", "discharge"],
        max_charge_w: 5000.0,
        max_discharge_w: 5000.0,
        min_change_ms: 0,
        policy: DeviceSettings::new(id, id, Role::Battery).policy,
        on_stop: None,
    }
}
