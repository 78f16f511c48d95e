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

/// One step along the chain: the model whose two-register header (ID, length) sits at
/// `address`, and where the next header is (`None` past the end of the address space).
/// `None` at the end of the chain.
pub fn step(address: u16, header: [u16; 2]) -> Option<(Model, Option<u16>)> {
    let [id, len] = header;
    if id == END || id == 0 {
        return None;
    }
    let next = address.checked_add(2).and_then(|a| a.checked_add(len));
    Some((Model { id, address, len }, next))
}

/// Meter models: 201 to 204 with scale factors, 211 to 214 in float32.
fn is_meter(id: u16) -> bool {
    (201..=204).contains(&id) || (211..=214).contains(&id)
}

/// Which device each model belongs to: 0 the device itself, n the n-th meter behind it.
///
/// A meter model is a device of its own when the chain also holds models of another kind (an
/// inverter with its meter on one unit, as SolarEdge has it); a device of meter models only
/// (a Fronius smart meter on unit 200) stays one device. A common block (model 1) after the
/// first belongs to the meter that follows it: SolarEdge puts one before each meter.
pub fn parts(models: &[Model]) -> Vec<u8> {
    let other = |id: u16| id != 1 && !is_meter(id);
    let mut parts = vec![0; models.len()];
    if !models.iter().any(|m| other(m.id)) {
        return parts;
    }
    let (mut meters, mut common_seen, mut pending) = (0u8, false, None);
    for (i, m) in models.iter().enumerate() {
        if m.id == 1 {
            if common_seen {
                pending = Some(i);
            }
            common_seen = true;
        } else if is_meter(m.id) {
            meters = meters.saturating_add(1);
            parts[i] = meters;
            if let Some(c) = pending.take() {
                parts[c] = meters;
            }
        } else {
            pending = None;
        }
    }
    parts
}

/// The read plan for the discovered models the profile knows: each model read whole, in chunks
/// of at most 125 registers, its points moved from offsets to addresses and given to the device
/// the model belongs to ([`parts`]).
pub fn plan(profile: &Profile, models: &[Model]) -> Plan {
    let mut plan = Plan {
        blocks: Vec::new(),
        points: Vec::new(),
        dead: Vec::new(),
    };
    for (m, part) in models.iter().zip(parts(models)) {
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
            p.part = part;
            plan.points.push(p);
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(ids: &[u16]) -> Vec<Model> {
        ids.iter()
            .map(|&id| Model {
                id,
                address: 0,
                len: 0,
            })
            .collect()
    }

    #[test]
    fn a_meter_alone_is_one_device() {
        assert_eq!(parts(&chain(&[1, 203])), [0, 0]);
    }

    #[test]
    fn a_meter_behind_an_inverter_is_a_device_of_its_own() {
        assert_eq!(parts(&chain(&[1, 103, 203])), [0, 0, 1]);
        assert_eq!(parts(&chain(&[1, 103, 160, 1, 203])), [0, 0, 0, 1, 1]);
    }

    #[test]
    fn each_meter_behind_an_inverter_has_its_own_common_block() {
        assert_eq!(parts(&chain(&[1, 103, 1, 203, 1, 213])), [0, 0, 1, 1, 2, 2]);
    }

    #[test]
    fn a_common_block_before_a_model_of_another_kind_stays_with_the_device() {
        assert_eq!(parts(&chain(&[1, 103, 1, 124, 203])), [0, 0, 0, 0, 1]);
    }
}
