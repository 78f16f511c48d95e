//! What a Modbus device answers, through profile decoding and SunSpec discovery: every
//! built-in profile's points over registers taken from the input, and a SunSpec chain walked
//! over the same registers (garbage lengths, chains that run off the address space), planned
//! and evaluated. Values or "unavailable", never a panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use stromwart::modbus::plan::{self, Image, Plan};
use stromwart::modbus::profile::{self, Profile};
use stromwart::modbus::sunspec;
use stromwart::modbus::value::Fc;

fn profiles() -> &'static [Profile] {
    static PROFILES: OnceLock<Vec<Profile>> = OnceLock::new();
    PROFILES.get_or_init(|| {
        profile::built_in_names()
            .into_iter()
            .map(|name| profile::built_in(name).expect("built-in profiles load"))
            .collect()
    })
}

/// The input's words, over and over, as long as asked for.
fn words(data: &[u8], n: usize, offset: usize) -> Vec<u16> {
    if data.len() < 2 {
        return vec![0; n];
    }
    let pairs = data.len() / 2;
    (0..n)
        .map(|i| {
            let k = (offset + i) % pairs * 2;
            u16::from_be_bytes([data[k], data[k + 1]])
        })
        .collect()
}

fn evaluate(plan: &Plan, data: &[u8]) {
    let mut image = Image::default();
    // A chain of huge models plans thousands of blocks; the first ones show what decoding does.
    for (i, block) in plan.blocks.iter().take(64).enumerate() {
        image.insert(block, &words(data, usize::from(block.count), i * 7));
    }
    let _ = plan::evaluate(&plan.points, &image);
    let _ = plan::evaluate_meters(&plan.points, &image);
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let profiles = profiles();
    let p = &profiles[usize::from(pick) % profiles.len()];
    let mut plan = Plan::from_profile(p);
    evaluate(&plan, rest);
    // A device that refuses a block: the plan splits it, and still evaluates.
    if !plan.blocks.is_empty() {
        let at = usize::from(pick) % plan.blocks.len();
        plan.split(at);
        evaluate(&plan, rest);
    }

    // SunSpec: the marker and a chain of models in the input's words, from 40000.
    let regs = words(rest, 512, 0);
    let at = |address: u16| -> [u16; 2] {
        let i = usize::from(address.wrapping_sub(40_002)) % regs.len();
        [regs[i], regs[(i + 1) % regs.len()]]
    };
    let mut models = Vec::new();
    let mut address = 40_002;
    while models.len() < sunspec::MAX_MODELS {
        let Some((model, next)) = sunspec::step(address, at(address)) else {
            break;
        };
        models.push(model);
        match next {
            Some(next) => address = next,
            None => break,
        }
    }
    let _ = sunspec::parts(&models);
    let sunspec_profile = profiles.iter().find(|p| !p.sunspec.is_empty());
    if let Some(sp) = sunspec_profile {
        let plan = sunspec::plan(sp, &models);
        assert!(
            plan.blocks
                .iter()
                .all(|b| b.count <= 125 && b.fc == Fc::Holding)
        );
        evaluate(&plan, rest);
    }
});
