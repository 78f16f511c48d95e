//! The bridge under test: in-process for most tests, as a real process where it must be killed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use stromwart::config::Config;
use stromwart::mqtt::Link;
use tokio::sync::{oneshot, watch};

pub struct Bridge {
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), String>>,
    pub link: watch::Receiver<Link>,
}

impl Bridge {
    /// Starts the bridge with a YAML config, connecting to 127.0.0.1.
    pub fn start(yaml: &str) -> Self {
        let mut config = Config::from_yaml(yaml).unwrap_or_else(|e| panic!("test config: {e:?}"));
        config.mqtt.host.get_or_insert_with(|| "127.0.0.1".into());
        config
            .data_dir
            .get_or_insert_with(|| super::broker::scratch_dir("data"));
        let (stop, stopped) = oneshot::channel::<()>();
        let (link_tx, link) = watch::channel(Link::Connecting);
        let task = tokio::spawn(stromwart::app::run(
            config,
            async move {
                let _ = stopped.await;
            },
            Some(link_tx),
        ));
        Self {
            stop: Some(stop),
            task,
            link,
        }
    }

    pub async fn stop(mut self) -> Result<(), String> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        (&mut self.task).await.expect("bridge task")
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_stromwart"))
}

/// A child process that is killed when the test ends, also when it fails.
pub struct Process(pub Child);

impl Process {
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(None))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The real binary, with its log going to `log`.
pub fn spawn_process(args: &[&str], config: &Path, log: &Path) -> Process {
    let log = std::fs::File::create(log).expect("log file");
    let child = Command::new(binary())
        .args(args)
        .arg("--config")
        .arg(config)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start stromwart");
    Process(child)
}

pub fn fixture(name: &str) -> String {
    super::fixtures::fixture_dir()
        .join(format!("{name}.hex"))
        .display()
        .to_string()
}

/// A config replaying `capture` as meter `grid` every `interval` seconds, forever.
pub fn replay_config(port: u16, capture: &str, interval: f64, extra_mqtt: &str) -> String {
    let data = super::broker::scratch_dir("data");
    format!(
        "data_dir: {}\nmqtt:\n  host: 127.0.0.1\n  port: {port}\n{extra_mqtt}meters:\n  - id: grid\n    name: Grid meter\n    file: {}\n    hex: true\n    repeat: true\n    replay_interval: {interval}\n    min_interval: 0\n",
        data.display(),
        fixture(capture)
    )
}
