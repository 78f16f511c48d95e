//! SunSpec model discovery on a device: find the "SunS" marker, then walk the chain of models.

use std::time::Duration;

use super::connection::{Bus, ReadError};
use crate::modbus::sunspec::{BASES, MARKER, MAX_MODELS, Model, step};
use crate::modbus::value::Fc;

/// Finds the models of `unit`. Exceptions at a base mean "not here"; anything else is an error.
pub async fn discover(bus: &mut Bus, unit: u8, timeout: Duration) -> Result<Vec<Model>, ReadError> {
    for base in BASES {
        match bus.read(unit, Fc::Holding, base, 2, timeout).await {
            Ok(words) if words == MARKER => return walk(bus, unit, base + 2, timeout).await,
            Ok(_) | Err(ReadError::Exception(_)) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ReadError::Transport(format!(
        "no SunSpec marker at {BASES:?}; the device does not speak SunSpec on unit {unit} (Fronius meters: unit 200, SMA: unit 126)"
    )))
}

async fn walk(
    bus: &mut Bus,
    unit: u8,
    mut address: u16,
    timeout: Duration,
) -> Result<Vec<Model>, ReadError> {
    let mut models = Vec::new();
    while models.len() < MAX_MODELS {
        let header = bus.read(unit, Fc::Holding, address, 2, timeout).await?;
        let Some((model, next)) = step(address, [header[0], header[1]]) else {
            break;
        };
        models.push(model);
        match next {
            Some(next) => address = next,
            None => break,
        }
    }
    Ok(models)
}
