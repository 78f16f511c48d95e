//! Soak: the release bridge for 10 minutes at 100 SML frames per second over TCP, with its
//! broker killed and started again 50 times and a flood of commands from a second client.
//! Samples the bridge's resident memory, open file descriptors and CPU time from /proc every
//! 5 s and prints the slopes after a minute of warm-up, with one JSON line.
//!
//!     cargo bench --bench soak                      # 600 s, 50 restarts
//!     SOAK_SECS=120 SOAK_RESTARTS=10 cargo bench --bench soak
//!
//! Linux only; needs mosquitto. Default configuration, one meter.

#[path = "support.rs"]
#[allow(dead_code)] // the soak uses only part of what the end-to-end benches share
mod support;

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const FRAMES_PER_S: u64 = 100;
const COMMANDS_PER_S: u64 = 20;
const SAMPLE_EVERY: Duration = Duration::from_secs(5);
const WARM_UP: Duration = Duration::from_secs(60);

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Broker {
    conf: PathBuf,
    child: Option<Child>,
    port: u16,
}

impl Broker {
    fn start(dir: &Path) -> Self {
        let port = support::free_port();
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!("listener {port} 127.0.0.1\nallow_anonymous true\n"),
        )
        .unwrap();
        let mut b = Self {
            conf,
            child: None,
            port,
        };
        b.spawn();
        b
    }

    fn spawn(&mut self) {
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto is installed");
        self.child = Some(child);
        let until = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < until, "mosquitto did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Killed without warning, as by a crash or the OOM killer, and started again.
    fn kill_and_restart(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        std::thread::sleep(Duration::from_millis(500));
        self.spawn();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A reading head on TCP: frames at a fixed rate, to whoever connects, again after a drop.
fn meter(listener: TcpListener, stop: Arc<AtomicBool>, sent: Arc<AtomicU64>) {
    let frames = support::frames("dzg-dwsb20-1");
    let gap = Duration::from_micros(1_000_000 / FRAMES_PER_S);
    while !stop.load(Ordering::Relaxed) {
        let Ok((mut s, _)) = listener.accept() else {
            continue;
        };
        let mut next = Instant::now();
        for f in frames.iter().cycle() {
            if stop.load(Ordering::Relaxed) || s.write_all(f).is_err() {
                break;
            }
            sent.fetch_add(1, Ordering::Relaxed);
            next += gap;
            if let Some(wait) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
    }
}

/// A second client sending settings commands at a steady rate, through the restarts.
fn commands(port: u16, stop: Arc<AtomicBool>, sent: Arc<AtomicU64>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let opts = rumqttc::MqttOptions::new("soak-commands", "127.0.0.1", port);
        let (client, mut eventloop) = rumqttc::AsyncClient::new(opts, 1000);
        tokio::spawn(async move {
            loop {
                if eventloop.poll().await.is_err() {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        });
        let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / COMMANDS_PER_S));
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            tick.tick().await;
            n += 1;
            let (topic, payload) = match n % 3 {
                0 => (
                    "stromwart/bridge/surplus_on/set",
                    (500 + n % 1000).to_string(),
                ),
                1 => ("stromwart/bridge/site_name/set", format!("Soak {n}")),
                _ => ("stromwart/grid/min_interval/set", (n % 5).to_string()),
            };
            if client
                .try_publish(topic, rumqttc::QoS::AtLeastOnce, false, payload)
                .is_ok()
            {
                sent.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
}

#[derive(Clone, Copy)]
struct Sample {
    at_s: f64,
    rss_kb: f64,
    fds: f64,
    cpu_s: f64,
}

fn sample(pid: u32, started: Instant) -> Option<Sample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as f64;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf only reads a system constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some(Sample {
        at_s: started.elapsed().as_secs_f64(),
        rss_kb,
        fds,
        cpu_s: ticks / hz,
    })
}

/// Least-squares slope of `y` over `x`, and the scatter of the points around the line.
fn slope(points: &[(f64, f64)]) -> (f64, f64) {
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let b = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    let resid = (points
        .iter()
        .map(|p| (p.1 - my - b * (p.0 - mx)).powi(2))
        .sum::<f64>()
        / n)
        .sqrt();
    (b, resid)
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` and criterion's listing: nothing to list.
    }
    let secs = env("SOAK_SECS", 600);
    let restarts = env("SOAK_RESTARTS", 50);
    let dir = std::env::temp_dir().join(format!("stromwart-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut broker = Broker::start(&dir);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let meter_port = listener.local_addr().unwrap().port();
    let config = dir.join("stromwart.yaml");
    std::fs::write(
        &config,
        format!(
            "data_dir: {}\nmqtt:\n  host: 127.0.0.1\n  port: {}\nmeters:\n  - id: grid\n    tcp: 127.0.0.1:{meter_port}\n",
            dir.join("data").display(),
            broker.port
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("bridge.log")).unwrap();
    let bridge = support::Kill(
        Command::new(env!("CARGO_BIN_EXE_stromwart"))
            .args(["run", "--config"])
            .arg(&config)
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let pid = bridge.0.id();

    let stop = Arc::new(AtomicBool::new(false));
    let (frames_sent, commands_sent) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (s1, f1) = (stop.clone(), frames_sent.clone());
    let meter_thread = std::thread::spawn(move || meter(listener, s1, f1));
    let (s2, c2, port) = (stop.clone(), commands_sent.clone(), broker.port);
    let command_thread = std::thread::spawn(move || commands(port, s2, c2));

    let started = Instant::now();
    let every = Duration::from_secs_f64(secs as f64 / (restarts + 1) as f64);
    let mut next_restart = started + every;
    let mut next_sample = started;
    let mut samples = Vec::new();
    let mut done_restarts = 0;
    while started.elapsed() < Duration::from_secs(secs) {
        let now = Instant::now();
        if now >= next_sample {
            match sample(pid, started) {
                Some(s) => samples.push(s),
                None => panic!("the bridge is gone after {:?}", started.elapsed()),
            }
            next_sample += SAMPLE_EVERY;
        }
        if done_restarts < restarts && now >= next_restart {
            broker.kill_and_restart();
            done_restarts += 1;
            next_restart += every;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    let last = sample(pid, started).expect("the bridge is still running at the end");
    samples.push(last);
    drop(bridge);
    let _ = std::net::TcpStream::connect(("127.0.0.1", meter_port)); // wakes the accept
    let _ = meter_thread.join();
    let _ = command_thread.join();

    let warm: Vec<Sample> = samples
        .iter()
        .copied()
        .filter(|s| s.at_s >= WARM_UP.as_secs_f64().min(secs as f64 / 4.0))
        .collect();
    let per_min = |f: fn(&Sample) -> f64| {
        let pts: Vec<(f64, f64)> = warm.iter().map(|s| (s.at_s / 60.0, f(s))).collect();
        slope(&pts)
    };
    let (rss_slope, rss_noise) = per_min(|s| s.rss_kb);
    let (fd_slope, fd_noise) = per_min(|s| s.fds);
    let first = warm.first().copied().unwrap_or(last);
    let cpu_pct = 100.0 * (last.cpu_s - first.cpu_s) / (last.at_s - first.at_s).max(1.0);
    let rss_max = samples.iter().map(|s| s.rss_kb).fold(0.0, f64::max);
    let fds_max = samples.iter().map(|s| s.fds).fold(0.0, f64::max);
    let frames = frames_sent.load(Ordering::Relaxed);
    let commands = commands_sent.load(Ordering::Relaxed);
    println!(
        "soak: {secs} s, {done_restarts} broker kills, {frames} frames sent, {commands} commands sent"
    );
    println!("| measure | after warm-up | slope per minute | scatter |");
    println!("|---|---|---|---|");
    println!(
        "| resident memory | {:.0}–{:.0} KiB | {rss_slope:+.1} KiB | ±{rss_noise:.1} KiB |",
        warm.iter().map(|s| s.rss_kb).fold(f64::MAX, f64::min),
        rss_max
    );
    println!(
        "| open file descriptors | {:.0}–{fds_max:.0} | {fd_slope:+.2} | ±{fd_noise:.2} |",
        warm.iter().map(|s| s.fds).fold(f64::MAX, f64::min)
    );
    println!("| CPU | {cpu_pct:.1} % of one core | | |");
    println!(
        "{{\"bench\":\"soak\",\"secs\":{secs},\"broker_kills\":{done_restarts},\"frames\":{frames},\"commands\":{commands},\"rss_kib_max\":{rss_max:.0},\"rss_slope_kib_per_min\":{rss_slope:.2},\"rss_scatter_kib\":{rss_noise:.2},\"fds_max\":{fds_max:.0},\"fd_slope_per_min\":{fd_slope:.3},\"cpu_pct\":{cpu_pct:.2}}}"
    );
    let text = std::fs::read_to_string(dir.join("bridge.log")).unwrap_or_default();
    assert!(
        !text.contains("panicked"),
        "the bridge panicked: see {}",
        dir.display()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
