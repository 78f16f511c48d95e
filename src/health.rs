//! Health of the running daemon, for `stromwart healthcheck` (Docker HEALTHCHECK, the add-on's
//! watchdog). The daemon answers on a Unix socket in its data directory: no port to collide with,
//! and no file rewritten every few seconds on a Raspberry Pi's SD card.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::net::UnixListener;
use tokio::sync::watch;

use crate::mqtt::Link;

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Report {
    pub mqtt: String,
    pub version: String,
}

pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("stromwart.sock")
}

/// Binds the socket (replacing one left by a crashed run) and answers until dropped.
pub fn serve(
    path: &Path,
    link: watch::Receiver<Link>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    if path.exists() && std::os::unix::net::UnixStream::connect(path).is_err() {
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    Ok(tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mqtt = match *link.borrow() {
                Link::Up => "up",
                Link::Down => "down",
                Link::Connecting => "connecting",
            };
            let report = Report {
                mqtt: mqtt.into(),
                version: env!("CARGO_PKG_VERSION").into(),
            };
            let line = serde_json::to_string(&report).unwrap_or_default();
            let _ = stream.write_all(line.as_bytes()).await;
        }
    }))
}

/// Asks the daemon; Ok with a one-line summary when it runs and is connected to the broker.
pub fn check(path: &Path) -> Result<String, String> {
    let mut stream = std::os::unix::net::UnixStream::connect(path).map_err(|e| {
        format!(
            "the daemon is not running (no answer on {}: {e})",
            path.display()
        )
    })?;
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .map_err(|e| e.to_string())?;
    let mut text = String::new();
    stream
        .read_to_string(&mut text)
        .map_err(|e| format!("the daemon did not answer: {e}"))?;
    let report: Report =
        serde_json::from_str(&text).map_err(|e| format!("unexpected answer {text:?}: {e}"))?;
    if report.mqtt == "up" {
        Ok(format!(
            "healthy: Stromwart {} is connected to the MQTT broker",
            report.version
        ))
    } else {
        Err(format!("unhealthy: the MQTT connection is {}", report.mqtt))
    }
}

/// Removes the socket at shutdown so a later check says "not running" at once.
pub fn remove(path: &Path) {
    let _ = std::fs::remove_file(path);
}
