//! Every real capture decodes to the values its source documents (see
//! `tests/fixtures/sml/README.md`), broken ones are survived, and sml-rs 0.4.0, an independent
//! decoder, agrees with us on every frame it can read.

mod common;

use common::fixtures::{all_captures, capture, frames, telegrams};
use stromwart::sml::telegram::decode;
use stromwart::sml::{Checksum, QuirkState, Quirks, Telegram};

/// (capture, [(quantity key, value in kWh / W / V / A / Hz)]) of the frame the source documents:
/// the first frame whose first listed value matches (the first for all but easymeter-q3a-1).
const DOCUMENTED: &[(&str, &[(&str, f64)])] = &[
    (
        "dzg-dvs7412-1",
        &[
            ("energy_import", 5430.1577),
            ("energy_export", 26244.5726),
            ("power", -299.12),
        ],
    ),
    (
        "dzg-dvs7420-1",
        &[
            ("energy_import", 13.2329),
            ("energy_export", 1500.3213),
            ("power", -105.5),
        ],
    ),
    (
        "dzg-dwsb20-1",
        &[
            ("energy_import", 142.439),
            ("energy_export", 2017.1978),
            ("power", -310.64),
        ],
    ),
    (
        "dzg-dvs74-1",
        &[("energy_import", 13391.0), ("energy_export", 0.0)],
    ),
    (
        "emh-ehzgw8e2a500ak2-1",
        &[
            ("energy_import_t1", 14798.1129),
            ("energy_import_t2", 2.0124),
            ("power_import", 13.8),
        ],
    ),
    (
        "emh-ehzgw8e2a500ak2-2",
        &[
            ("energy_import_t1", 14796.7771),
            ("energy_import_t2", 2.0124),
            ("power_import", 11.2),
        ],
    ),
    (
        "emh-ed300l-1",
        &[("energy_import", 17243.3683), ("power_absolute", 137.1)],
    ),
    (
        "emh-ed300l-2",
        &[("energy_import", 17243.6756), ("power_absolute", 126.6)],
    ),
    (
        "emh-mme40-1",
        &[
            ("energy_import", 428.8964),
            ("power", 2623.0),
            ("power_l1", 2353.0),
            ("power_l2", 65.0),
            ("power_l3", 205.0),
        ],
    ),
    (
        "emh-unknown-1",
        &[
            ("energy_import", 11785.4333),
            ("energy_export", 32535.0196),
            ("power", -177.2),
        ],
    ),
    ("emh-unknown-2", &[("energy_import_signed", 4.0508)]),
    (
        "emh-unknown-3",
        &[
            ("energy_import", 3132.3636),
            ("energy_export", 3072.7181),
            ("power", 927.0),
        ],
    ),
    (
        "hager-ehz361-1",
        &[
            ("energy_export_t1", 110340.3151),
            ("power_import_t1", -5632.1916),
        ],
    ),
    // The source rounds to 4 decimals; the raw registers are 29416461614 and 1100731603 × 10^-4 Wh.
    (
        "easymeter-q3a-1",
        &[
            ("energy_import", 2941.6461614),
            ("energy_export", 110.0731603),
            ("power", 810.26),
            ("power_l1", 505.23),
            ("power_l2", 63.19),
            ("power_l3", 241.83),
            ("voltage_l1", 232.5),
            ("voltage_l2", 230.7),
            ("voltage_l3", 232.5),
        ],
    ),
    ("holley-dtz541bdba-1", &[("energy_import", 2324.0)]),
    (
        "holley-dtz541bdba-2",
        &[("energy_import", 2355.929), ("power", 376.0)],
    ),
    (
        "holley-dtz541zdba-1",
        &[
            ("energy_import_t1", 0.0),
            ("energy_import_t2", 177.3601),
            ("energy_export", 314.926),
            ("power", 460.0),
            ("voltage_l1", 232.3),
            ("voltage_l2", 232.5),
            ("voltage_l3", 232.5),
            ("current_l1", 1.06),
            ("current_l2", 1.74),
            ("current_l3", 0.91),
            ("frequency", 50.0),
        ],
    ),
    (
        "holley-dtz541-1",
        &[
            ("energy_import", 10793.8987),
            ("energy_export", 13609.89),
            ("power", 188.0),
            ("voltage_l1", 236.0),
            ("voltage_l2", 234.5),
            ("voltage_l3", 234.0),
            ("current_l1", 0.69),
            ("current_l2", 0.21),
            ("current_l3", 0.26),
            ("frequency", 50.0),
            ("energy_import_1d", 4.1),
        ],
    ),
    (
        "holley-dtz541-2",
        &[
            ("energy_import", 4499.8962),
            ("power", 137.0),
            ("voltage_l1", 234.4),
            ("voltage_l2", 234.5),
            ("voltage_l3", 233.8),
            ("current_l1", 0.41),
            ("current_l2", 0.78),
            ("current_l3", 0.46),
            ("frequency", 50.0),
        ],
    ),
    (
        "iskra-mt175-1",
        &[
            ("energy_import", 10732.3091),
            ("energy_export", 28275.3245),
            ("power", -4308.0),
            ("power_l1", -1392.0),
            ("power_l2", -1432.0),
            ("power_l3", -1482.0),
        ],
    ),
    (
        "iskra-mt175-2",
        &[
            ("energy_import", 22462.4136),
            ("power", 168.0),
            ("power_l1", 117.0),
            ("power_l2", 22.0),
            ("power_l3", 29.0),
        ],
    ),
    (
        "iskra-mt631-1",
        &[("energy_import", 2043.0), ("energy_export", 0.0)],
    ),
    (
        "iskra-mt631-2",
        &[("energy_import", 2043.1047), ("power", 193.0)],
    ),
    (
        "iskra-mt691-1",
        &[("energy_import", 198.9273), ("power", 26.0)],
    ),
    (
        "iskra-unknown-1",
        &[
            ("energy_import", 18619.047),
            ("power", 130.0),
            ("power_l1", 113.0),
            ("power_l2", 5.0),
            ("power_l3", 11.0),
        ],
    ),
    ("itron-openway3hz-1", &[("energy_import", 25688.0)]),
    (
        "itron-openway3hz-2",
        &[("energy_import", 25892.7761), ("power", 542.0)],
    ),
    (
        "ebz-dd3-1",
        &[
            ("energy_import", 13024.0),
            ("energy_import_t1", 13023.0),
            ("energy_import_t2", 1.0),
            ("energy_export", 1.0),
        ],
    ),
    (
        "ebz-dd3-2",
        &[
            ("energy_import", 450.09189911),
            ("energy_import_t1", 449.07489911),
            ("energy_import_t2", 1.017),
            ("energy_export", 2.198),
            ("power", 352.89),
            ("power_l1", 82.26),
            ("power_l2", 27.06),
            ("power_l3", 243.57),
        ],
    ),
    // Rounded in the source; the raw register is 46178257063 × 10^-5 Wh.
    (
        "ebz-dd3-3",
        &[
            ("energy_import", 461.78257063),
            ("power", 1156.07),
            ("power_l1", 68.54),
            ("power_l2", 25.8),
            ("power_l3", 1061.73),
        ],
    ),
    (
        "drneuhaus-smartyix130-1",
        &[("energy_export", 4.373), ("power_absolute", 0.0)],
    ),
    (
        "landisgyr-unknown-1",
        &[
            ("energy_import", 5171.9237),
            ("energy_export", 0.0),
            ("power", 251.0),
        ],
    ),
];

fn first(name: &str) -> Telegram {
    telegrams(name)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("{name}: no telegram"))
}

#[test]
fn documented_values_decode_exactly() {
    for (name, values) in DOCUMENTED {
        let (key0, want0) = values[0];
        let all = telegrams(name);
        let t = all
            .iter()
            .find(|t| t.number(key0) == Some(want0))
            .unwrap_or_else(|| {
                panic!(
                    "{name}: no frame with {key0} = {want0}: {:?}",
                    all.first().map(|t| t.number(key0))
                )
            });
        for (key, want) in *values {
            assert_eq!(t.number(key), Some(*want), "{name}: {key}");
        }
    }
}

#[test]
fn the_dwsb20_three_byte_export_is_negative() {
    let powers: Vec<f64> = telegrams("dzg-dwsb20-2")
        .iter()
        .filter_map(|t| t.number("power"))
        .collect();
    assert!(powers.contains(&-788.51), "{powers:?}");
}

#[test]
fn every_capture_is_documented_or_broken() {
    let broken = [
        "dzg-dvs7420-2",
        "dzg-dwsb20-2",
        "easymeter-unknown-1",
        "hager-ehz-1",
    ];
    for name in all_captures() {
        let known = DOCUMENTED.iter().any(|(n, _)| *n == name) || broken.contains(&name.as_str());
        assert!(known, "{name} has no expectations");
    }
}

#[test]
fn frame_counts_match_or_beat_sml_rs() {
    // (capture, frames we decode, frame errors); sml-rs 0.4.0 reads the same counts except
    // where it rejects good frames (Kermit, 4 padding bytes, local timestamps).
    let expected = [
        ("dzg-dvs7420-1", 3),
        ("dzg-dwsb20-1", 15),
        ("dzg-dwsb20-2", 14),
        ("easymeter-q3a-1", 4),
        ("emh-ed300l-1", 1),
        ("emh-ed300l-2", 2),
        ("emh-ehzgw8e2a500ak2-1", 16),
        ("emh-mme40-1", 12),
        ("holley-dtz541zdba-1", 7),
        ("iskra-mt175-1", 8),
        ("iskra-mt175-2", 10),
        ("iskra-mt631-1", 5),
        ("iskra-mt691-1", 18),
        ("itron-openway3hz-2", 5),
        ("ebz-dd3-1", 4),
        ("drneuhaus-smartyix130-1", 12),
        ("holley-dtz541-1", 1),
        ("dzg-dvs74-1", 1),
        ("emh-unknown-2", 1),
    ];
    for (name, count) in expected {
        assert_eq!(telegrams(name).len(), count, "{name}");
    }
}

#[test]
fn broken_captures_are_survived_and_counted() {
    for (name, min_errors) in [
        ("dzg-dvs7420-2", 8),
        ("hager-ehz-1", 1),
        ("easymeter-unknown-1", 1),
    ] {
        let (frames, errors) = frames(&capture(name));
        assert!(frames.is_empty(), "{name}");
        assert!(errors >= min_errors, "{name}: {errors} errors");
    }
    let (good, errors) = frames(&capture("dzg-dwsb20-2"));
    assert_eq!((good.len(), errors), (14, 3));
}

#[test]
fn transport_quirks_are_accepted() {
    let (f, _) = frames(&capture("holley-dtz541-1"));
    assert_eq!(f[0].checksum, Checksum::Kermit);
    let (f, _) = frames(&capture("dzg-dvs74-1"));
    assert_eq!((f[0].checksum, f[0].padding), (Checksum::X25, 4));
    let t = first("emh-unknown-2");
    assert_eq!(t.server_id_hex(), "0901454d480000cacf7e");
    assert!(t.errors.is_empty(), "{:?}", t.errors);
}

#[test]
fn edited_message_checksums_warn_but_keep_values() {
    for name in ["emh-unknown-1", "ebz-dd3-2", "ebz-dd3-3"] {
        let t = first(name);
        assert!(
            t.warnings.iter().any(|w| w.contains("checksum")),
            "{name}: {:?}",
            t.warnings
        );
        assert!(t.number("power").is_some(), "{name}");
    }
}

#[test]
fn identity_comes_from_the_server_id_and_registers() {
    let t = first("iskra-unknown-1");
    assert_eq!(t.server_id_hex(), "080535342d510177");
    assert_eq!(
        first("emh-ehzgw8e2a500ak2-1").info.serial.as_deref(),
        Some("02280816")
    );
    assert_eq!(
        first("drneuhaus-smartyix130-1")
            .info
            .manufacturer
            .as_deref(),
        Some("DNT")
    );
    assert_eq!(
        first("holley-dtz541zdba-1").info.firmware.as_deref(),
        Some("1.02.007")
    );
}

#[test]
fn reduced_datasets_are_recognised() {
    for name in [
        "dzg-dvs74-1",
        "holley-dtz541bdba-1",
        "iskra-mt631-1",
        "itron-openway3hz-1",
        "ebz-dd3-1",
    ] {
        assert!(first(name).is_reduced_dataset(), "{name}");
    }
    for name in [
        "holley-dtz541bdba-2",
        "iskra-mt631-2",
        "itron-openway3hz-2",
        "emh-ed300l-1",
    ] {
        assert!(!first(name).is_reduced_dataset(), "{name}");
    }
}

#[test]
fn dzg_fix_applies_only_inside_the_affected_serials() {
    let quirks = Quirks {
        dzg_sign_fix: true,
        ..Quirks::default()
    };
    let fixed = |name: &str| {
        let mut t = first(name);
        QuirkState::new(quirks.clone()).apply(&mut t, 0);
        t.number("power")
    };
    assert_eq!(fixed("dzg-dvs7412-1"), Some(356.24));
    assert_eq!(
        fixed("dzg-dvs7420-1"),
        Some(-105.5),
        "serial 60694611 is a real export"
    );
    assert_eq!(
        fixed("dzg-dwsb20-1"),
        Some(-310.64),
        "serial 40051478 is outside the ranges"
    );
    assert!(QuirkState::new(Quirks::default()).dzg_fix_advisable(&first("dzg-dvs7412-1")));
}

#[test]
fn direction_bit_signs_absolute_power() {
    let quirks = Quirks {
        direction_bit: Some(0x20),
        ..Quirks::default()
    };
    let signed = |name: &str| {
        let mut t = first(name);
        QuirkState::new(quirks.clone()).apply(&mut t, 0);
        (t.number("power"), t.number("power_absolute"))
    };
    assert_eq!(signed("emh-ed300l-1"), (Some(137.1), None));
    assert_eq!(signed("emh-ed300l-2"), (Some(-126.6), None));
}

#[test]
fn spike_filter_drops_impossible_jumps() {
    let mut state = QuirkState::new(Quirks {
        max_power_w: Some(30_000.0),
        ..Quirks::default()
    });
    let base = first("iskra-mt691-1");
    let mut t = base.clone();
    state.apply(&mut t, 0);
    assert_eq!(t.number("energy_import"), Some(198.9273));
    let mut spike = base.clone();
    for r in &mut spike.readings {
        if r.quantity.key == "energy_import" {
            r.value = stromwart::sml::Value::Number(1.0e9);
        }
        if r.quantity.key == "power" {
            r.value = stromwart::sml::Value::Number(-2.0e6);
        }
    }
    state.apply(&mut spike, 1_000);
    assert_eq!(
        (spike.number("energy_import"), spike.number("power")),
        (None, None)
    );
    assert_eq!(state.filtered, 2);
    let mut again = base.clone();
    state.apply(&mut again, 2_000);
    assert_eq!(again.number("energy_import"), Some(198.9273));
}

/// sml-rs and this decoder agree on every raw value, scaler and unit of every frame sml-rs reads.
#[test]
fn sml_rs_agrees_on_every_frame_it_reads() {
    use sml_rs::parser::common::Value as V;
    use sml_rs::parser::complete::{MessageBody, parse};
    let mut compared = 0;
    for name in all_captures() {
        let bytes = capture(&name);
        let ours: Vec<Vec<u8>> = frames(&bytes).0.into_iter().map(|f| f.payload).collect();
        for payload in sml_rs::transport::decode(&bytes).into_iter().flatten() {
            assert!(
                ours.contains(&payload),
                "{name}: sml-rs found a frame we missed"
            );
            let Ok(file) = parse(&payload) else { continue };
            let t = decode(&payload, None).expect("a frame sml-rs parses");
            let mut theirs = Vec::new();
            for msg in &file.messages {
                if let MessageBody::GetListResponse(list) = &msg.message_body {
                    for e in &list.val_list {
                        let raw: Option<i128> = match e.value {
                            V::I8(v) => Some(v.into()),
                            V::I16(v) => Some(v.into()),
                            V::I32(v) => Some(v.into()),
                            V::I64(v) => Some(v.into()),
                            V::U8(v) => Some(v.into()),
                            V::U16(v) => Some(v.into()),
                            V::U32(v) => Some(v.into()),
                            V::U64(v) => Some(v.into()),
                            _ => None,
                        };
                        if let Some(raw) = raw {
                            theirs.push((e.obj_name.to_vec(), raw, e.scaler.unwrap_or(0), e.unit));
                        }
                    }
                }
            }
            let mine: Vec<_> = t
                .readings
                .iter()
                .filter_map(|r| {
                    r.raw
                        .map(|raw| (r.obis.0.to_vec(), raw.mantissa, raw.scaler, raw.unit))
                })
                .collect();
            assert_eq!(mine, theirs, "{name}");
            compared += 1;
        }
    }
    assert!(compared > 150, "only {compared} frames compared");
}

/// A small deterministic generator, so a failure can be reproduced.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

#[test]
fn mutated_and_random_input_never_panics() {
    let mut rng = Lcg(0x5eed);
    let mut outputs = 0usize;
    for name in all_captures() {
        let clean = capture(&name);
        for _ in 0..40 {
            let mut bytes = clean.clone();
            // Flip, drop and insert bytes, as a bad optical contact does.
            for _ in 0..1 + rng.next() % 8 {
                let at = (rng.next() as usize) % bytes.len().max(1);
                match rng.next() % 3 {
                    0 if !bytes.is_empty() => bytes[at] ^= 1 << (rng.next() % 8),
                    1 if !bytes.is_empty() => {
                        bytes.remove(at);
                    }
                    _ => bytes.insert(at, rng.next() as u8),
                }
            }
            stromwart::sml::decode::decode_stream(&bytes, &mut |_| outputs += 1);
        }
    }
    for len in [0usize, 1, 7, 8, 100, 4096] {
        let noise: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        stromwart::sml::decode::decode_stream(&noise, &mut |_| outputs += 1);
        // Noise that keeps starting frames.
        let mut starts = Vec::new();
        for _ in 0..len / 8 {
            starts.extend_from_slice(&[0x1b, 0x1b, 0x1b, 0x1b, 1, 1, 1, 1]);
            starts.push(rng.next() as u8);
        }
        stromwart::sml::decode::decode_stream(&starts, &mut |_| outputs += 1);
    }
    assert!(outputs > 1000, "{outputs}");
}
