//! The SML framer and telegram decoder: no panic on any bytes, and the same frames and errors
//! however the bytes arrive (in one piece, or split where the input's first byte says).
#![no_main]

use libfuzzer_sys::fuzz_target;
use stromwart::sml::frame::{FrameEvent, Framer};
use stromwart::sml::telegram;

fn events(chunks: &[&[u8]]) -> Vec<String> {
    let mut framer = Framer::new();
    let mut seen = Vec::new();
    let mut emit = |ev: FrameEvent| {
        seen.push(match ev {
            FrameEvent::Frame(f) => {
                let decoded = telegram::decode(&f.payload, Some(f.checksum));
                format!(
                    "frame {:?} {:?}",
                    f.payload,
                    decoded.map(|t| t.readings.len())
                )
            }
            FrameEvent::Error(e) => format!("error {e} lost {}", e.lost_bytes()),
        })
    };
    for chunk in chunks {
        framer.push(chunk, &mut emit);
    }
    framer.finish(&mut emit);
    seen
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, bytes)) = data.split_first() else {
        return;
    };
    let whole = events(&[bytes]);
    // Split every `split` bytes (at least one): a serial line hands over a few bytes at a time.
    let step = usize::from(split).max(1);
    let chunks: Vec<&[u8]> = bytes.chunks(step).collect();
    assert_eq!(whole, events(&chunks), "split every {step} bytes");
    let _ = telegram::decode(bytes, None);
});
