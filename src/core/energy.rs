//! Energy counted from a device's power, for plugs and wallboxes that have no counter of their
//! own, and the file format that keeps all counted energies across restarts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::control::site::Totals;

/// Longest gap over which a power counts as constant: a missed poll or a Tasmota's telemetry
/// period (300 s by default). A longer silence is not guessed at.
const MAX_GAP_MS: u64 = 15 * 60_000;

#[derive(Debug, Clone, Default)]
pub struct Integrator {
    wh: f64,
    /// The last power reading and when it came.
    last: Option<(f64, u64)>,
}

impl Integrator {
    pub fn restore(&mut self, wh: f64) {
        self.wh = if wh.is_finite() && wh > 0.0 { wh } else { 0.0 };
    }

    /// Counts the energy since the last reading at that reading's power, and returns the total
    /// in Wh. Negative powers (a plug's measuring noise) count as nothing.
    pub fn power(&mut self, watts: f64, now_ms: u64) -> f64 {
        if let Some((w, at)) = self.last {
            let gap = now_ms.saturating_sub(at);
            if gap <= MAX_GAP_MS {
                self.wh += w.max(0.0) * gap as f64 / 3_600_000.0;
            }
        }
        self.last = Some((watts, now_ms));
        self.wh
    }

    /// The device stopped answering: what it drew meanwhile is not known.
    pub fn pause(&mut self) {
        self.last = None;
    }

    pub fn wh(&self) -> f64 {
        self.wh
    }
}

/// Counted energies as saved in the data directory: the site's, and each plug's and wallbox's
/// by id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Energies {
    #[serde(flatten)]
    pub site: Totals,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub devices: BTreeMap<String, f64>,
}

/// A kWh payload from Wh, to the Wh.
pub fn kwh_payload(wh: f64) -> String {
    format!("{}", wh.round() / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_is_counted_between_readings_and_never_across_a_long_silence() {
        let mut e = Integrator::default();
        e.restore(100.0);
        assert_eq!(e.power(1200.0, 0), 100.0);
        // Ten minutes at 1200 W.
        assert_eq!(e.power(1200.0, 600_000), 300.0);
        // Silent for an hour: nothing is guessed.
        assert_eq!(e.power(0.0, 4_200_000), 300.0);
        e.pause();
        assert_eq!(e.power(-3.0, 4_300_000), 300.0);
        let noise = e.power(0.0, 4_400_000);
        assert_eq!(noise, 300.0, "noise below zero is nothing");
        assert_eq!(kwh_payload(300.4), "0.3");
    }
}
