//! The config loader on any text: errors with their paths, never a panic or a blown memory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stromwart::config::Config;

fuzz_target!(|text: &str| {
    if let Err(errors) = Config::from_yaml(text) {
        assert!(!errors.is_empty());
    }
});
