//! A meter on a real line's pace: a pseudo-terminal fed at 9600 baud in the 16-byte pieces a
//! USB reading head hands over. The bridge sleeps through each frame rather than waking for
//! every piece, and still reads frames shorter or longer than the ones before whole.

mod common;

use std::time::Duration;

use common::bridge::{Bridge, spawn_process};
use common::broker::{Mosquitto, scratch_dir};
use common::fixtures::frames_of;
use common::observer::Observer;
use common::pty::pty;

const BAUD: u32 = 9600;
const PIECE: usize = 16;

/// The power reading (1-0:16.7.0) a frame carries, as the bridge publishes it.
fn power_of(frame: &[u8]) -> String {
    let mut power = None;
    stromwart::sml::Framer::new().push(frame, &mut |e| {
        if let stromwart::sml::FrameEvent::Frame(f) = e {
            let t = stromwart::sml::telegram::decode(&f.payload, Some(f.checksum)).unwrap();
            power = t.number("power").map(|w| w.to_string());
        }
    });
    power.expect("a frame with a power reading")
}

/// Times the process's threads slept and were woken again (voluntary context switches).
fn wakeups(pid: u32) -> u64 {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap();
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("status")).ok())
        .flat_map(|status| {
            status
                .lines()
                .filter_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .map(|v| v.trim().parse::<u64>().unwrap())
                .collect::<Vec<_>>()
        })
        .sum()
}

#[tokio::test]
async fn a_frame_at_line_speed_wakes_the_bridge_a_few_times_not_for_every_piece() {
    let broker = Mosquitto::start();
    let pty = pty();
    let dir = scratch_dir("serial-line");
    let config = dir.join("stromwart.yaml");
    std::fs::write(
        &config,
        format!(
            "data_dir: {}\nmqtt:\n  port: {}\nmeters:\n  - id: grid\n    serial_port: {}\n",
            dir.display(),
            broker.port,
            pty.path
        ),
    )
    .unwrap();
    let obs = Observer::connect(broker.port, "stromwart/grid/power").await;
    let daemon = spawn_process(&["run"], &config, &dir.join("log"));
    let pid = daemon.0.id();
    tokio::time::sleep(Duration::from_millis(800)).await; // the port is open
    let frames = frames_of("dzg-dwsb20-1");
    // The first frame teaches the bridge how long this meter's frames are.
    pty.write_paced(frames[0].clone(), PIECE, BAUD).await;
    obs.wait_value("stromwart/grid/power", &power_of(&frames[0]))
        .await;
    let counted = &frames[1..6];
    let before = wakeups(pid);
    for (i, frame) in counted.iter().enumerate() {
        pty.write_paced(frame.clone(), PIECE, BAUD).await;
        obs.wait_value("stromwart/grid/power", &power_of(frame))
            .await;
        if i + 1 < counted.len() {
            tokio::time::sleep(Duration::from_millis(700)).await; // the meter's pause
        }
    }
    let per_frame = (wakeups(pid) - before) as f64 / counted.len() as f64;
    eprintln!("{per_frame:.1} wake-ups per frame");
    // Each 252-byte frame comes in 16 pieces. Woken for each, the bridge slept and woke about 19
    // times per frame (once-a-second tick included); sleeping through the frame, 2 to 4.
    assert!(
        per_frame <= 8.0,
        "{per_frame:.1} wake-ups per frame; the bridge wakes for every piece"
    );
}

#[tokio::test]
async fn frames_shorter_and_longer_than_the_last_ones_are_read_whole() {
    let broker = Mosquitto::start();
    let pty = pty();
    let obs = Observer::connect(broker.port, "stromwart/grid/power").await;
    let bridge = Bridge::start(&format!(
        "mqtt:\n  port: {}\nmeters:\n  - id: grid\n    min_interval: 0\n    serial_port: {}\n",
        broker.port, pty.path
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let dzg = frames_of("dzg-dwsb20-1");
    let sequence = [
        dzg[0].clone(),                          // 252 bytes
        dzg[1].clone(),                          // 252: the bridge now expects 252
        frames_of("iskra-mt691-1")[0].clone(),   // 216: ends before the bridge wakes
        frames_of("holley-dtz541-1")[0].clone(), // 684: goes on after it wakes
        dzg[2].clone(),                          // 252 again
    ];
    for frame in sequence {
        pty.write_paced(frame.clone(), PIECE, BAUD).await;
        obs.wait_value("stromwart/grid/power", &power_of(&frame))
            .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bridge.stop().await.unwrap();
}
