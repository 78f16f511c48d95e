//! A simulated hybrid inverter for the demo: a SunSpec register map (common model, a
//! three-phase inverter, storage controls) on unit 1, with power following a slow curve and a
//! battery whose charge follows the mode Stromwart writes.

use std::collections::HashMap;
use std::time::Duration;

use tokio::net::TcpListener;

use super::modbus::{Map, Registers, put, put_text};

const UNIT: u8 = 1;
const MODEL_103: u16 = 40070;
const MODEL_124: u16 = MODEL_103 + 52;
/// Battery capacity in Wh, to move the state of charge at a believable pace (sped up).
const CAPACITY_WH: f64 = 10_000.0;

/// Serves the inverter on `listener` and moves its values every second.
pub async fn serve(listener: TcpListener) {
    let regs = Registers::default();
    fill(&regs, 0);
    let ticker = regs.clone();
    tokio::spawn(async move {
        let mut t = 0u64;
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            t += 1;
            fill(&ticker, t);
        }
    });
    // Only the storage controls take writes: the rest of an inverter is read-only.
    let writable =
        |unit, first, last| unit == UNIT && first >= MODEL_124 + 2 && last < MODEL_124 + 26;
    super::modbus::serve(listener, regs, writable).await;
}

/// The register image at `t` seconds: a sunny day compressed into a few minutes.
fn fill(regs: &Registers, t: u64) {
    let mut r = regs.lock();
    let watts = 2200.0 + 1400.0 * (t as f64 / 40.0).sin();
    pv(&mut r, UNIT, watts, 8_123_400 + t * 600, true);
    let mut model = HashMap::new();
    for a in MODEL_124..MODEL_124 + 26 {
        model.insert(a, r.get(&(UNIT, a)).copied().unwrap_or(0));
    }
    storage(&mut model);
    for (a, v) in model {
        r.insert((UNIT, a), v);
    }
}

/// A SunSpec inverter on `unit`: the common block and model 103 at `watts`, with the energy
/// counter at `energy_wh`, and room for model 124 (storage) after it when `storage`.
pub fn pv(r: &mut Map, unit: u8, watts: f64, energy_wh: u64, storage: bool) {
    put(r, unit, 40000, &[0x5375, 0x6e53, 1, 66]);
    put(r, unit, 40004, &[0; 66]);
    put_text(r, unit, 40004, "Stromwart", 16);
    put_text(r, unit, 40020, "Demo inverter", 16);
    put_text(r, unit, 40044, "1.0", 8);
    put_text(r, unit, 40052, "DEMO0001", 16);
    put(r, unit, MODEL_103, &[103, 50]);
    put(r, unit, MODEL_103 + 2, &[0; 50]);
    let sf = |v: i16| v as u16;
    for (offset, value) in [
        (2, (watts / 230.0 * 100.0) as u16), // A
        (6, sf(-2)),                         // A_SF
        (10, 2301),
        (11, 2298),
        (12, 2305),         // PhVphA..C
        (13, sf(-1)),       // V_SF
        (14, watts as u16), // W
        (15, 0),            // W_SF
        (16, 5001),
        (17, sf(-2)), // Hz, Hz_SF
        (24, (energy_wh >> 16) as u16),
        (25, energy_wh as u16),      // WH (acc32)
        (26, 0),                     // WH_SF
        (31, (watts * 1.03) as u16), // DCW
        (32, 0),                     // DCW_SF
        (33, 412),
        (37, sf(-1)), // TmpCab, Tmp_SF
    ] {
        r.insert((unit, MODEL_103 + offset), value);
    }
    // The end of the chain.
    let end = if storage { MODEL_124 + 26 } else { MODEL_124 };
    put(r, unit, end, &[0xffff, 0]);
}

/// Model 124: WChaMax 5000 W, rates in hundredths of a percent, and a state of charge that
/// follows what the controls say, a minute of charging per second.
fn storage(r: &mut HashMap<u16, u16>) {
    r.insert(MODEL_124, 124);
    r.insert(MODEL_124 + 1, 24);
    for a in MODEL_124 + 2..MODEL_124 + 26 {
        r.entry(a).or_insert(0);
    }
    let sf = |v: i16| v as u16;
    for (offset, value) in [
        (2, 5000),
        (10, 4012),
        (18, 0),
        (22, sf(-1)),
        (24, sf(-1)),
        (25, sf(-2)),
    ] {
        r.insert(MODEL_124 + offset, value);
    }
    if r[&(MODEL_124 + 8)] == 0 {
        r.insert(MODEL_124 + 8, 500); // 50.0 % at start
    }
    let rate = |offset| f64::from(r[&(MODEL_124 + offset)] as i16) / 10_000.0;
    let limits_on = r[&(MODEL_124 + 5)] & 3 == 3;
    // Forced: a negative discharge rate charges, a negative charge rate discharges.
    let watts = match (limits_on, rate(12), rate(13)) {
        (true, out, _) if out < 0.0 => -out * 5000.0,
        (true, _, inn) if inn < 0.0 => inn * 5000.0,
        _ => 0.0,
    };
    let soc = f64::from(r[&(MODEL_124 + 8)]) + watts * 60.0 / 3600.0 / CAPACITY_WH * 1000.0;
    r.insert(MODEL_124 + 8, soc.clamp(50.0, 1000.0) as u16);
}
