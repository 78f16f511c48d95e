//! What the end-to-end benches share: a mosquitto of their own on a free port, and child
//! processes that end with the bench.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A child process, killed when dropped.
pub struct Kill(pub Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts mosquitto on a free loopback port with its config in `dir`, or says why not.
/// `nodelay`: `TCP_NODELAY` toward subscribers, so that the broker's own Nagle delay does not
/// show when several messages follow each other closely.
pub fn mosquitto(dir: &Path, bench: &str, nodelay: bool) -> Option<(Kill, u16)> {
    let installed = Command::new("mosquitto")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !installed {
        eprintln!("{bench}: mosquitto is not installed, skipped");
        return None;
    }
    let port = free_port();
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay {nodelay}\n"),
    )
    .unwrap();
    let broker = Command::new("mosquitto")
        .arg("-c")
        .arg(&conf)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    Some((Kill(broker), port))
}

/// The release bridge (the bench profile's build) running `config`.
pub fn bridge(binary: &str, config: &Path) -> Kill {
    Kill(
        Command::new(binary)
            .args(["run", "--config"])
            .arg(config)
            .spawn()
            .unwrap(),
    )
}

/// The whole frames of a capture in `tests/fixtures/sml/`, each from its start sequence.
#[allow(dead_code)] // the benches that drive devices read no captures
pub fn frames(name: &str) -> Vec<Vec<u8>> {
    let path = format!(
        "{}/tests/fixtures/sml/{name}.hex",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).expect("fixture");
    let bytes = stromwart::sml::decode::parse_hex(&text).expect("hex");
    let start = [0x1b, 0x1b, 0x1b, 0x1b, 1, 1, 1, 1];
    let mut cuts: Vec<usize> = (0..bytes.len() - 8)
        .filter(|&i| bytes[i..i + 8] == start)
        .collect();
    cuts.push(bytes.len());
    cuts.windows(2)
        .map(|w| bytes[w[0]..w[1]].to_vec())
        .filter(|f| f.len() > 100)
        .collect()
}
