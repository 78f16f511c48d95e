//! Frame decoding and mapping: bytes of a real capture to readings, per frame.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use stromwart::sml::decode::parse_hex;
use stromwart::sml::{FrameEvent, Framer, QuirkState, Quirks, telegram};

fn capture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/sml/{name}.hex",
        env!("CARGO_MANIFEST_DIR")
    );
    parse_hex(&std::fs::read_to_string(path).expect("fixture")).expect("hex")
}

/// The first whole frame of a capture.
fn first_frame(bytes: &[u8]) -> Vec<u8> {
    let start = [0x1b, 0x1b, 0x1b, 0x1b, 1, 1, 1, 1];
    let from = bytes.windows(8).position(|w| w == start).expect("a frame");
    let end = [0x1b, 0x1b, 0x1b, 0x1b, 0x1a];
    let to = from
        + bytes[from..]
            .windows(5)
            .position(|w| w == end)
            .expect("an end")
        + 8;
    bytes[from..to].to_vec()
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame_decode_and_map");
    // A small import meter, a three-phase meter with history registers, a two-way DZG.
    for name in ["iskra-mt691-1", "holley-dtz541-1", "dzg-dwsb20-1"] {
        let frame = first_frame(&capture(name));
        group.throughput(Throughput::Bytes(frame.len() as u64));
        let mut quirks = QuirkState::new(Quirks {
            max_power_w: Some(40_000.0),
            ..Quirks::default()
        });
        group.bench_function(name, |b| {
            let mut framer = Framer::new();
            let mut now = 0;
            b.iter(|| {
                now += 1000;
                let mut readings = 0;
                framer.push(black_box(&frame), &mut |e| {
                    if let FrameEvent::Frame(f) = e {
                        let mut t =
                            telegram::decode(&f.payload, Some(f.checksum)).expect("decodes");
                        quirks.apply(&mut t, now);
                        readings += t.readings.len();
                    }
                });
                black_box(readings)
            });
        });
    }
    group.finish();

    // A whole capture with garbage, broken frames and resynchronisation.
    let dump = capture("dzg-dwsb20-2");
    let mut group = c.benchmark_group("stream");
    group.throughput(Throughput::Bytes(dump.len() as u64));
    group.bench_function("dzg-dwsb20-2 (4 KiB, 14 frames, 3 errors)", |b| {
        b.iter(|| {
            let mut framer = Framer::new();
            let mut n = 0;
            let mut on = |e: FrameEvent| {
                if let FrameEvent::Frame(f) = e {
                    n += telegram::decode(&f.payload, Some(f.checksum))
                        .map_or(0, |t| t.readings.len());
                }
            };
            framer.push(black_box(&dump), &mut on);
            framer.finish(&mut on);
            black_box(n)
        });
    });
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
