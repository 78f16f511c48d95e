//! The add-on's options.json through the same schema as YAML.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stromwart::config::Config;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Err(errors) = Config::from_value(&value) {
            assert!(!errors.is_empty());
        }
    }
});
