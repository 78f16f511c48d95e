//! The log as people read it, from the real binary writing to a file: plain text, no
//! passwords, a cause that says what happened, and no flood however many bad commands arrive.

mod common;

use std::time::Duration;

use common::bridge::{Process, binary, fixture};
use common::broker::{Mosquitto, free_port, scratch_dir};
use common::observer::Observer;

/// The daemon with its standard error in a file (not a terminal) and colour not switched off
/// by the environment, as under Docker or systemd.
fn daemon(config: &std::path::Path, log: &std::path::Path) -> Process {
    let child = std::process::Command::new(binary())
        .args(["run", "--config"])
        .arg(config)
        .env_remove("NO_COLOR")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    Process(child)
}

async fn log_until(log: &std::path::Path, what: &str) -> String {
    for _ in 0..100 {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains(what) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "no '{what}' in the log:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

#[tokio::test]
async fn the_log_is_plain_text_without_passwords_and_says_what_happened() {
    let broker = Mosquitto::start();
    let dir = scratch_dir("logs");
    let closed = free_port();
    let config = dir.join("stromwart.yaml");
    std::fs::write(
        &config,
        format!(
            "data_dir: {}\nmqtt:\n  host: 127.0.0.1\n  port: {}\nplugs:\n  - id: boiler\n    driver: shelly2\n    address: http://admin:hunter2@127.0.0.1:{closed}\n",
            dir.display(),
            broker.port
        ),
    )
    .unwrap();
    let log = dir.join("log");
    let _daemon = daemon(&config, &log);
    let text = log_until(&log, "The plug does not answer").await;
    assert!(!text.contains('\u{1b}'), "colour codes in a file: {text:?}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("http://admin:***@127.0.0.1"), "{text}");
    assert!(
        text.contains("connection refused: nothing listens at that address"),
        "{text}"
    );
}

#[tokio::test]
async fn a_flood_of_bad_commands_is_logged_like_other_repeated_errors() {
    let broker = Mosquitto::start();
    let dir = scratch_dir("logs");
    let config = dir.join("stromwart.yaml");
    std::fs::write(
        &config,
        format!(
            "data_dir: {}\nmqtt:\n  host: 127.0.0.1\n  port: {}\nmeters:\n  - id: grid\n    file: {}\n    hex: true\n",
            dir.display(),
            broker.port,
            fixture("holley-dtz541-1")
        ),
    )
    .unwrap();
    let log = dir.join("log");
    let obs = Observer::connect(broker.port, "stromwart/bridge/surplus_on").await;
    let _daemon = daemon(&config, &log);
    obs.wait_value("stromwart/bridge/surplus_on", "500").await;
    for _ in 0..300 {
        obs.send("stromwart/bridge/surplus_on/set", "lots").await;
    }
    obs.send("stromwart/bridge/surplus_on/set", "800").await;
    obs.wait_value("stromwart/bridge/surplus_on", "800").await;
    let text = log_until(&log, "Accepted a command").await;
    let rejected: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("Rejected a command"))
        .collect();
    // The 1st, 2nd, 4th ... 256th: nine lines for 300.
    assert_eq!(rejected.len(), 9, "{text}");
    assert!(rejected[8].contains("256 so far"), "{}", rejected[8]);
    let accepted: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("Accepted a command"))
        .collect();
    assert_eq!(accepted.len(), 1, "{text}");
    assert!(
        accepted[0].contains("INFO") && accepted[0].contains("payload=800"),
        "{}",
        accepted[0]
    );
}
