//! What to read from a device (blocks) and how to turn the registers into values (points).
//!
//! Blocks are explicit, from the profile or from SunSpec discovery. When a device refuses a block
//! with IllegalDataAddress (some reject reads that touch a hole), the block is split in two along
//! point boundaries and the split is kept for later polls; a point that fails on its own is
//! given up, so one hole never costs the values around it.

use std::collections::HashMap;

use super::profile::{Block, Identity, MAX_BLOCK, Point, Profile, Target};
use super::value::{self, Fc, Raw, Scale};
use crate::quantity::Quantity;

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub blocks: Vec<Block>,
    pub points: Vec<Point>,
    /// Blocks given up after the device refused even the smallest read of them.
    pub dead: Vec<Block>,
}

impl Plan {
    pub fn from_profile(p: &Profile) -> Self {
        Self {
            blocks: p.blocks.clone(),
            points: p.points.clone(),
            dead: Vec::new(),
        }
    }

    /// The same points read with one request per value and per scale factor, the way readers
    /// without block reads work; for measuring what blocks save.
    pub fn per_value(&self) -> Plan {
        let mut blocks: Vec<Block> = self
            .points
            .iter()
            .flat_map(|p| {
                let value = Block {
                    fc: p.fc,
                    start: p.address,
                    count: p.ty.words(),
                };
                let sf = p.sf.map(|a| Block {
                    fc: p.fc,
                    start: a,
                    count: 1,
                });
                std::iter::once(value).chain(sf)
            })
            .collect();
        blocks.sort();
        blocks.dedup();
        Plan {
            blocks,
            points: self.points.clone(),
            dead: Vec::new(),
        }
    }

    /// Replaces the refused block at `index` by two smaller ones. Returns false when it cannot be
    /// split (it holds one point), after marking it dead.
    pub fn split(&mut self, index: usize) -> bool {
        let block = self.blocks.remove(index);
        let mut inside: Vec<(u16, u16)> = self
            .points
            .iter()
            .filter(|p| block.contains(p.fc, p.address, p.ty.words()))
            .flat_map(|p| {
                let sf = p.sf.filter(|&a| block.contains(p.fc, a, 1)).map(|a| (a, 1));
                std::iter::once((p.address, p.ty.words())).chain(sf)
            })
            .collect();
        inside.sort_unstable();
        inside.dedup();
        if inside.len() < 2 {
            self.dead.push(block);
            return false;
        }
        let (left, right) = inside.split_at(inside.len() / 2);
        for part in [left, right] {
            let start = part[0].0;
            let end = part
                .iter()
                .map(|(a, n)| u32::from(*a) + u32::from(*n))
                .max()
                .unwrap_or(u32::from(start) + 1);
            let count = (end - u32::from(start)).min(u32::from(MAX_BLOCK)) as u16;
            self.blocks.insert(
                index,
                Block {
                    fc: block.fc,
                    start,
                    count,
                },
            );
        }
        self.blocks[index..index + 2].sort();
        true
    }
}

/// Registers read in one poll.
#[derive(Debug, Default)]
pub struct Image {
    words: HashMap<(Fc, u16), u16>,
}

impl Image {
    pub fn insert(&mut self, block: &Block, words: &[u16]) {
        for (i, w) in words.iter().enumerate() {
            self.words
                .insert((block.fc, block.start.wrapping_add(i as u16)), *w);
        }
    }

    pub fn get(&self, fc: Fc, address: u16, n: u16) -> Option<Vec<u16>> {
        (0..n)
            .map(|i| self.words.get(&(fc, address.wrapping_add(i))).copied())
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    Number(f64),
    Text(String),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Values {
    pub readings: Vec<(Quantity, Reading)>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub sw_version: Option<String>,
    /// Quantities whose registers were not read or held a "not implemented" value.
    pub unavailable: Vec<String>,
}

/// Turns the registers of one poll into the values of the device itself.
pub fn evaluate(points: &[Point], image: &Image) -> Values {
    evaluate_part(points, image, 0)
}

/// The values of each meter behind the device (parts 1, 2, ...), in order.
pub fn evaluate_meters(points: &[Point], image: &Image) -> Vec<Values> {
    let last = points.iter().map(|p| p.part).max().unwrap_or(0);
    (1..=last)
        .map(|part| evaluate_part(points, image, part))
        .collect()
}

fn evaluate_part(points: &[Point], image: &Image, part: u8) -> Values {
    let mut v = Values::default();
    for p in points.iter().filter(|p| p.part == part) {
        let value = image.get(p.fc, p.address, p.ty.words()).and_then(|w| {
            let raw = value::decode(&w, p.ty, p.order)?;
            if let Raw::Text(t) = raw {
                return Some(Reading::Text(t));
            }
            // The unit goes into the exponent, so the value is still rounded once: 8126400 Wh
            // reads 8126.4 kWh, not 8126.400000000001.
            let mut scale = Scale {
                exp: p.scale.exp + p.unit_exp,
                ..p.scale
            };
            if let Some(sf) = p.sf {
                let word = image.get(p.fc, sf, 1)?;
                scale.exp += value::sunspec_sf(word[0])?;
            }
            let x = value::apply(&raw, scale)?;
            Some(Reading::Number(if p.negate { -x } else { x }))
        });
        match (&p.target, value) {
            (Target::Value(q), Some(r)) => {
                if !v.readings.iter().any(|(known, _)| known.key == q.key) {
                    v.readings.push((q.clone(), r));
                }
            }
            (Target::Value(q), None) => v.unavailable.push(q.key.to_string()),
            (Target::Identity(field), Some(r)) => {
                let text = match r {
                    Reading::Text(t) if t.is_empty() => continue,
                    Reading::Text(t) => t,
                    Reading::Number(n) => format!("{n}"),
                };
                let slot = match field {
                    Identity::Manufacturer => &mut v.manufacturer,
                    Identity::Model => &mut v.model,
                    Identity::Serial => &mut v.serial,
                    Identity::SwVersion => &mut v.sw_version,
                };
                slot.get_or_insert(text);
            }
            (Target::Identity(_), None) => {}
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modbus::value::{DataType, Order};

    fn point(address: u16) -> Point {
        Point {
            target: Target::Value(crate::quantity::named("power").unwrap().clone()),
            fc: Fc::Input,
            address,
            ty: DataType::F32,
            order: Order::Abcd,
            scale: Scale::default(),
            sf: None,
            unit_exp: 0,
            negate: false,
            part: 0,
        }
    }

    #[test]
    fn a_unit_change_rounds_once() {
        let mut energy = point(0);
        energy.ty = DataType::U32;
        energy.unit_exp = -3;
        let mut image = Image::default();
        let block = Block {
            fc: Fc::Input,
            start: 0,
            count: 2,
        };
        // 8126400 Wh, which times 0.001 would print as 8126.400000000001.
        image.insert(&block, &[0x007b, 0xffc0]);
        let values = evaluate(&[energy], &image);
        let Reading::Number(kwh) = values.readings[0].1 else {
            panic!("a number");
        };
        assert_eq!(format!("{kwh}"), "8126.4");
    }

    #[test]
    fn a_refused_block_splits_along_points_and_then_dies() {
        let mut plan = Plan {
            blocks: vec![Block {
                fc: Fc::Input,
                start: 0,
                count: 76,
            }],
            points: vec![point(0), point(12), point(52), point(72)],
            dead: Vec::new(),
        };
        assert!(plan.split(0));
        assert_eq!(
            plan.blocks,
            vec![
                Block {
                    fc: Fc::Input,
                    start: 0,
                    count: 14
                },
                Block {
                    fc: Fc::Input,
                    start: 52,
                    count: 22
                },
            ]
        );
        assert!(plan.split(0));
        assert_eq!(
            plan.blocks[0],
            Block {
                fc: Fc::Input,
                start: 0,
                count: 2
            }
        );
        assert!(!plan.split(0));
        assert_eq!(
            plan.dead,
            vec![Block {
                fc: Fc::Input,
                start: 0,
                count: 2
            }]
        );
        assert_eq!(plan.blocks.len(), 2);
    }
}
