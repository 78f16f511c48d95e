//! What HTTP devices and price services answer: Shelly (both generations), go-e, and the
//! price services. Errors, never a panic. The first byte picks the parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stromwart::control::prices::sources;
use stromwart::drivers::{goe, shelly};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let body = String::from_utf8_lossy(rest);
    match pick % 7 {
        0 => drop(shelly::gen1_status(&body, usize::from(pick / 7 % 4))),
        1 => drop(shelly::gen2_status(&body)),
        2 => drop(goe::status(&body)),
        3 => drop(goe::set_reply(&body)),
        4 => drop(sources::energy_charts(&body)),
        5 => drop(sources::awattar(&body)),
        _ => drop(sources::tibber(&body)),
    }
});
