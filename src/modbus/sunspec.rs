//! SunSpec model discovery: find the "SunS" marker, walk the chain of models, and place the
//! profile's per-model points at the addresses this device uses.

use std::time::Duration;

use super::bus::{Bus, ReadError};
use super::plan::Plan;
use super::profile::{Block, Fc, MAX_BLOCK, Profile};

/// "SunS" in two registers.
pub const MARKER: [u16; 2] = [0x5375, 0x6e53];
/// Where devices put the marker, most common first.
pub const BASES: [u16; 3] = [40000, 0, 50000];
const END: u16 = 0xffff;
const MAX_MODELS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Model {
    pub id: u16,
    /// Address of the model's ID register.
    pub address: u16,
    /// Registers after the two-register header.
    pub len: u16,
}

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
        if header[0] == END || header[0] == 0 {
            break;
        }
        models.push(Model {
            id: header[0],
            address,
            len: header[1],
        });
        match address
            .checked_add(2)
            .and_then(|a| a.checked_add(header[1]))
        {
            Some(next) => address = next,
            None => break,
        }
    }
    Ok(models)
}

/// The read plan for the discovered models the profile knows: each model read whole, in chunks
/// of at most 125 registers, its points moved from offsets to addresses.
pub fn plan(profile: &Profile, models: &[Model]) -> Plan {
    let mut plan = Plan {
        blocks: Vec::new(),
        points: Vec::new(),
        dead: Vec::new(),
    };
    for m in models {
        let Some((_, points)) = profile.sunspec.iter().find(|(id, _)| *id == m.id) else {
            continue;
        };
        let end = u32::from(m.address) + 2 + u32::from(m.len);
        let mut start = u32::from(m.address);
        while start < end {
            let count = (end - start).min(u32::from(MAX_BLOCK));
            plan.blocks.push(Block {
                fc: Fc::Holding,
                start: start as u16,
                count: count as u16,
            });
            start += count;
        }
        for p in points {
            let mut p = p.clone();
            p.address = m.address.saturating_add(p.address);
            p.sf = p.sf.map(|o| m.address.saturating_add(o));
            plan.points.push(p);
        }
    }
    plan
}
