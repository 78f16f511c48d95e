//! SunSpec layouts: the "SunS" marker, the chain of models, and the profile's per-model points
//! placed at the addresses a device uses. Finding them on a device is the bus edge's job.

use super::plan::Plan;
use super::profile::{Block, MAX_BLOCK, Profile};
use super::value::Fc;

/// "SunS" in two registers.
pub const MARKER: [u16; 2] = [0x5375, 0x6e53];
/// Where devices put the marker, most common first.
pub const BASES: [u16; 3] = [40000, 0, 50000];
/// The ID that ends the chain of models.
pub const END: u16 = 0xffff;
/// A chain longer than this is taken as garbage.
pub const MAX_MODELS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Model {
    pub id: u16,
    /// Address of the model's ID register.
    pub address: u16,
    /// Registers after the two-register header.
    pub len: u16,
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
