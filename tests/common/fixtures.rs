//! Real meter captures from `tests/fixtures/sml`.

use std::path::PathBuf;

use stromwart::sml::decode::parse_hex;
use stromwart::sml::{FrameEvent, Framer, Telegram};

pub fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sml")
}

pub fn capture(name: &str) -> Vec<u8> {
    let path = fixture_dir().join(format!("{name}.hex"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_hex(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

pub fn all_captures() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixture_dir())
        .expect("fixture dir")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".hex").map(str::to_string)
        })
        .collect();
    names.sort();
    names
}

/// Frames and frame errors of a raw capture, in order.
pub fn frames(bytes: &[u8]) -> (Vec<stromwart::sml::Frame>, usize) {
    let mut framer = Framer::new();
    let mut frames = Vec::new();
    let mut errors = 0;
    let mut on = |e: FrameEvent| match e {
        FrameEvent::Frame(f) => frames.push(f),
        FrameEvent::Error(_) => errors += 1,
    };
    framer.push(bytes, &mut on);
    framer.finish(&mut on);
    (frames, errors)
}

/// Telegrams of a capture; captures holding bare messages are decoded without framing.
pub fn telegrams(name: &str) -> Vec<Telegram> {
    let bytes = capture(name);
    if stromwart::sml::decode::is_bare_messages(&bytes) {
        return vec![stromwart::sml::telegram::decode(&bytes, None).expect("bare messages decode")];
    }
    frames(&bytes)
        .0
        .iter()
        .filter_map(|f| stromwart::sml::telegram::decode(&f.payload, Some(f.checksum)).ok())
        .collect()
}

/// The frames of a capture, one per element, cut at each start sequence.
pub fn frames_of(name: &str) -> Vec<Vec<u8>> {
    let bytes = capture(name);
    let start = [0x1b, 0x1b, 0x1b, 0x1b, 1, 1, 1, 1];
    let mut cuts: Vec<usize> = (0..bytes.len().saturating_sub(7))
        .filter(|&i| bytes[i..i + 8] == start)
        .collect();
    cuts.push(bytes.len());
    cuts.windows(2)
        .map(|w| bytes[w[0]..w[1]].to_vec())
        .collect()
}
