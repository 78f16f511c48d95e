//! A price slot, as the price sources give it and the core keeps it.

/// One priced span of time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slot {
    /// Unix seconds; the slot ends where the next begins.
    pub start_s: i64,
    pub end_s: i64,
    /// EUR/kWh: the spot price, or Tibber's total.
    pub eur_kwh: f64,
}

impl Slot {
    pub fn new(start_s: i64, end_s: i64, eur_kwh: f64) -> Result<Self, String> {
        if end_s <= start_s {
            return Err(format!(
                "a slot from {start_s} ends at {end_s}, not after it"
            ));
        }
        if !eur_kwh.is_finite() {
            return Err(format!("a slot from {start_s} has no price"));
        }
        Ok(Self {
            start_s,
            end_s,
            eur_kwh,
        })
    }
}
