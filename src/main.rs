use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use stromwart::config::Config;
use stromwart::sml::decode;

/// Local energy bridge: SML and Modbus meters to Home Assistant and openHAB over MQTT.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the bridge.
    Run {
        /// Config file (YAML, or JSON such as the add-on's options.json). Default:
        /// $STROMWART_CONFIG, then /data/options.json, then ./stromwart.yaml.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Show the bridge working with nothing installed: an embedded broker, real meter captures
    /// replayed as live meters, and a live view of what Home Assistant would see.
    Demo {
        /// Port of the embedded MQTT broker (a free one is taken if it is in use).
        #[arg(long, default_value_t = 1883)]
        port: u16,
        /// Address the embedded broker listens on: 127.0.0.1 (only this machine), or 0.0.0.0
        /// so that a Home Assistant on another machine can connect.
        #[arg(long, default_value = "127.0.0.1")]
        listen: std::net::IpAddr,
        /// List every entity instead of the one-screen summary.
        #[arg(long)]
        full: bool,
        /// Stop after this many seconds instead of waiting for Ctrl-C.
        #[arg(long)]
        duration: Option<f64>,
        /// A summer day in fast motion instead of the captures: sun, loads by priority, the car
        /// in pv mode, §14a dimming in the evening, prices that move charging into the night.
        #[arg(long)]
        day: bool,
        /// With --day: real seconds a simulated hour takes (2 to 3600).
        #[arg(long, default_value_t = 60.0, value_parser = hour_seconds, requires = "day")]
        hour: f64,
        /// With --day: the local time the day starts at, HH:MM (18:20 for the evening).
        #[arg(long, default_value = "04:00", value_parser = clock_minute, requires = "day")]
        start: u32,
    },
    /// Exit 0 when the running bridge is healthy (connected to the broker), else 1. For Docker's
    /// HEALTHCHECK and the add-on watchdog.
    Healthcheck {
        /// Config of the daemon to check (default: the same lookup as `run`).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Check a config file and print every problem with its path; exit 1 on any.
    CheckConfig { path: PathBuf },
    /// Talk to Modbus devices.
    Modbus {
        #[command(subcommand)]
        command: ModbusCommand,
    },
    /// Decode SML and print one JSON object per frame.
    Sml {
        #[command(subcommand)]
        command: SmlCommand,
    },
    /// Print the prices of a local day as JSON lines (start, end, spot price in EUR/kWh), for
    /// setting up and bug reports.
    Prices {
        /// Take the source and the customer's price from this config's `prices:` section.
        #[arg(long, short, conflicts_with_all = ["source", "zone", "token"])]
        config: Option<PathBuf>,
        /// energy-charts, awattar or tibber.
        #[arg(long, default_value = "energy-charts")]
        source: String,
        /// Ask another host (tests, proxies).
        #[arg(long)]
        url: Option<String>,
        /// Energy-Charts' bidding zone, or aWATTar's country (de, at).
        #[arg(long)]
        zone: Option<String>,
        /// Tibber's API token.
        #[arg(long)]
        token: Option<String>,
        /// The local day, YYYY-MM-DD (default: today in Europe/Berlin).
        #[arg(long)]
        date: Option<String>,
    },
    /// §14a EnWG: the power a dimmed site keeps, for installers and bug reports.
    P14a {
        #[command(subcommand)]
        command: P14aCommand,
    },
}

#[derive(Subcommand)]
enum P14aCommand {
    /// Print the minimum power (BK6-22-300 Anlage 1) and how it was reached, as JSON.
    Minimum {
        /// A controllable device as KIND:KW, e.g. wallbox:11 or heat_pump:16; KIND is wallbox,
        /// battery, heat_pump or air_conditioner. Repeat for each device.
        #[arg(long = "device", value_name = "KIND:KW", required = true)]
        devices: Vec<String>,
        /// Each device has its own relay from the control box (default: an energy manager
        /// spreads one budget).
        #[arg(long)]
        direct: bool,
    },
    /// Print the proof log (JSON lines, or CSV), with a summary per day.
    Log {
        /// Config of the bridge whose log to read (default: the same lookup as `run`).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// First local day, YYYY-MM-DD.
        #[arg(long)]
        from: Option<String>,
        /// Last local day, YYYY-MM-DD.
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        csv: bool,
    },
}

#[derive(Subcommand)]
enum ModbusCommand {
    /// Read a device once and print its values as JSON (for setting up and bug reports).
    Read {
        /// A built-in profile (sdm630, sunspec, ...) or the path of a profile file.
        #[arg(long)]
        profile: String,
        /// tcp://host:port, rtuovertcp://host:port or rtu:///dev/ttyUSB0?baud=9600&parity=N
        #[arg(long)]
        address: String,
        /// Modbus unit id (default: the profile's).
        #[arg(long)]
        unit: Option<u8>,
    },
}

#[derive(Subcommand)]
enum SmlCommand {
    /// Decode a capture (binary, or hex with --hex) from FILE or standard input.
    Decode {
        /// The capture; `-` or nothing reads standard input.
        file: Option<PathBuf>,
        /// The input is hex text (whitespace and `#` comment lines are ignored).
        #[arg(long)]
        hex: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run { config } => run(config),
        Command::CheckConfig { path } => check_config(&path),
        Command::Healthcheck { config } => healthcheck(config),
        Command::Demo {
            port,
            listen,
            full,
            duration,
            day,
            hour,
            start,
        } => demo(stromwart::demo::Options {
            port,
            listen,
            full,
            duration: duration.map(std::time::Duration::from_secs_f64),
            day: day.then(|| stromwart::demo::DayOptions {
                hour: std::time::Duration::from_secs_f64(hour),
                start_minute: start,
            }),
        }),
        Command::Sml {
            command: SmlCommand::Decode { file, hex },
        } => sml_decode(file, hex),
        Command::Modbus {
            command:
                ModbusCommand::Read {
                    profile,
                    address,
                    unit,
                },
        } => modbus_read(&profile, &address, unit),
        Command::Prices {
            config,
            source,
            url,
            zone,
            token,
            date,
        } => prices(config, &source, url, zone, token, date),
        Command::P14a {
            command: P14aCommand::Minimum { devices, direct },
        } => p14a_minimum(&devices, direct),
        Command::P14a {
            command:
                P14aCommand::Log {
                    config,
                    from,
                    to,
                    csv,
                },
        } => p14a_log(config, from, to, csv),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // Not eprintln!: it panics when standard error is closed.
            let _ = writeln!(std::io::stderr(), "stromwart: {e}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(path: &std::path::Path) -> Result<Config, String> {
    Config::load(path).map_err(|errors| {
        let mut msg = format!("{} has {} problem(s):", path.display(), errors.len());
        for e in errors {
            msg.push_str(&format!("\n  - {e}"));
        }
        msg
    })
}

fn check_config(path: &std::path::Path) -> Result<ExitCode, String> {
    let config = load_config(path)?;
    let count =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let p14a = config.p14a.as_ref().map_or(String::new(), |p| {
        format!(
            ", §14a with {} and {}",
            count(p.signals.len(), "signal", "signals"),
            count(p.devices.len(), "device", "devices")
        )
    });
    print_out(&format!(
        "{}: ok: {}, {}, {}, {}, {}{p14a}",
        path.display(),
        count(config.meters.len(), "meter", "meters"),
        count(config.devices.len(), "Modbus device", "Modbus devices"),
        count(config.plugs.len(), "plug", "plugs"),
        count(config.wallboxes.len(), "wallbox", "wallboxes"),
        count(config.batteries.len(), "battery", "batteries"),
    ))
}

fn prices(
    config: Option<PathBuf>,
    source: &str,
    url: Option<String>,
    zone: Option<String>,
    token: Option<String>,
    date: Option<String>,
) -> Result<ExitCode, String> {
    use stromwart::control::prices::{Source, berlin};
    use stromwart::drivers::prices::{ENERGY_CHARTS_CREDIT, fetch};
    let configured = match &config {
        Some(path) => {
            let c = load_config(path)?;
            let p = c.prices.ok_or_else(|| {
                format!("{} has no prices: section with a source", path.display())
            })?;
            let source = p
                .source
                .clone()
                .ok_or("the config's price is fixed; there is nothing to fetch")?;
            Some((source, p))
        }
        None => None,
    };
    let source = match (source, &configured) {
        (_, Some((configured, _))) => configured.clone(),
        ("energy-charts", None) => Source::EnergyCharts {
            zone: zone.unwrap_or_else(|| "DE-LU".into()),
        },
        ("awattar", None) => Source::Awattar {
            country: zone.unwrap_or_else(|| "de".into()).to_ascii_lowercase(),
        },
        ("tibber", None) => Source::Tibber {
            token: token.ok_or("--source tibber needs --token (from developer.tibber.com)")?,
        },
        (other, None) => {
            return Err(format!(
                "--source {other}: one of {}",
                Source::NAMES.join(", ")
            ));
        }
    };
    let day = match date {
        Some(d) => d
            .parse::<jiff::civil::Date>()
            .map_err(|e| format!("--date {d}: not a date such as 2026-03-29 ({e})"))?,
        None => jiff::Timestamp::now().to_zoned_datetime(berlin()).date(),
    };
    let configured_url = configured.as_ref().and_then(|(_, p)| p.url.clone());
    let url = url
        .or(configured_url)
        .unwrap_or_else(|| source.default_url());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start: {e}"))?;
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .map_err(|e| format!("cannot set up HTTP: {e}"))?;
    let slots = runtime
        .block_on(fetch(&client, &source, &url, day, day))
        .map_err(|e| e.to_string())?;
    if slots.is_empty() {
        return Err(format!(
            "{url} has no prices for {day} (yet: the next day's come early in the afternoon)"
        ));
    }
    let tz = berlin();
    let mut out = String::new();
    for s in &slots {
        let at = |unix: i64| {
            jiff::Timestamp::from_second(unix)
                .map(|t| {
                    let local = t.to_zoned_datetime(tz.clone());
                    local.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
                })
                .unwrap_or_default()
        };
        let round = |v: f64| (v * 100_000.0).round() / 100_000.0;
        let mut line = serde_json::json!({
            "start": at(s.start_s),
            "end": at(s.end_s),
            "spot_eur_kwh": round(s.eur_kwh),
        });
        if let Some((_, p)) = &configured {
            let (price, band) = p.tariff.price(s);
            if p.tariff.total_given {
                line["spot_eur_kwh"] = serde_json::Value::Null;
            }
            line["price_eur_kwh"] = round(price).into();
            line["window"] = band.map(|b| b.name()).into();
        }
        out.push_str(&line.to_string());
        out.push('\n');
    }
    if matches!(source, Source::EnergyCharts { .. }) {
        let _ = writeln!(std::io::stderr(), "{ENERGY_CHARTS_CREDIT}");
    }
    print_out(out.trim_end())
}

fn p14a_minimum(specs: &[String], direct: bool) -> Result<ExitCode, String> {
    use stromwart::control::p14a::{self, Control, Device, Kind};
    let mut devices = Vec::new();
    for spec in specs {
        let (kind, kw) = spec.split_once(':').unwrap_or((spec, ""));
        let kind = Kind::parse(kind).ok_or_else(|| {
            format!(
                "--device {spec}: the kind is one of {}",
                Kind::NAMES.join(", ")
            )
        })?;
        let kw: f64 = kw
            .parse()
            .ok()
            .filter(|kw: &f64| kw.is_finite() && *kw > 0.0 && *kw <= 1000.0)
            .ok_or_else(|| {
                format!(
                    "--device {spec}: give the rated power in kW after the colon, e.g. wallbox:11"
                )
            })?;
        devices.push(Device {
            kind,
            rated_w: (kw * 1000.0).round() as u32,
        });
    }
    let control = if direct {
        Control::Direct
    } else {
        Control::Ems
    };
    let m = p14a::minimum(&devices, control);
    let kw = |w: u32| f64::from(w) / 1000.0;
    let units: Vec<serde_json::Value> = m
        .units
        .iter()
        .map(|u| {
            serde_json::json!({
                "kind": u.kind,
                "devices": u.devices.iter().map(|&i| &specs[i]).collect::<Vec<_>>(),
                "rated_kw": kw(u.rated_w),
                "own_minimum_kw": kw(u.own_minimum_w),
                "share_kw": kw(u.share_w),
            })
        })
        .collect();
    let small: Vec<&String> = devices
        .iter()
        .zip(specs)
        .filter(|(d, _)| d.rated_w <= p14a::BASE_W)
        .map(|(_, s)| s)
        .collect();
    let mut out = serde_json::json!({
        "minimum_kw": kw(m.total_w),
        "control": m.control,
        "units": units,
        "n": m.n,
        "gzf": m.gzf_percent.map(|p| f64::from(p) / 100.0),
    });
    if !small.is_empty() {
        out["note"] = serde_json::json!(format!(
            "§14a covers devices above 4.2 kW; counted anyway: {}",
            small
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    print_out(&out.to_string())
}

fn p14a_log(
    config: Option<PathBuf>,
    from: Option<String>,
    to: Option<String>,
    csv: bool,
) -> Result<ExitCode, String> {
    use stromwart::control::p14a::report;
    for (flag, day) in [("--from", &from), ("--to", &to)] {
        let valid = |d: &str| {
            d.len() == 10
                && d.bytes().enumerate().all(|(i, b)| {
                    if i == 4 || i == 7 {
                        b == b'-'
                    } else {
                        b.is_ascii_digit()
                    }
                })
        };
        if let Some(d) = day.as_deref().filter(|d| !valid(d)) {
            return Err(format!("{flag} {d}: give a day as YYYY-MM-DD"));
        }
    }
    let path = config.unwrap_or_else(stromwart::config::default_path);
    let log = load_config(&path)?
        .data_dir()
        .join(stromwart::app::P14A_LOG_FILE);
    let (records, bad) = stromwart::journal::read(&log).map_err(|e| {
        format!(
            "cannot read the §14a proof log {}: {e} (it is written once the site has been dimmed)",
            log.display()
        )
    })?;
    if bad > 0 {
        let _ = writeln!(
            std::io::stderr(),
            "stromwart: {bad} line(s) of {} are not records and were skipped",
            log.display()
        );
    }
    let records: Vec<serde_json::Value> = records
        .into_iter()
        .filter(|r| report::within(r, from.as_deref(), to.as_deref()))
        .collect();
    let days = report::summarize(&records);
    if csv {
        return print_out(report::csv(&records, &days).trim_end());
    }
    let mut lines: Vec<String> = records.iter().map(|r| r.to_string()).collect();
    lines.extend(
        days.iter()
            .map(|d| serde_json::json!({ "summary": d }).to_string()),
    );
    print_out(&lines.join("\n"))
}

fn run(path: Option<PathBuf>) -> Result<ExitCode, String> {
    let path = path.unwrap_or_else(stromwart::config::default_path);
    let config = load_config(&path)?;
    init_logging(config.log_level);
    runtime()?.block_on(async {
        tracing::info!(config = %path.display(), meters = config.meters.len(), "Starting Stromwart {}.", env!("CARGO_PKG_VERSION"));
        stromwart::app::run(config, shutdown_signal(), None).await
    })?;
    Ok(ExitCode::SUCCESS)
}

fn healthcheck(path: Option<PathBuf>) -> Result<ExitCode, String> {
    let path = path.unwrap_or_else(stromwart::config::default_path);
    let config = load_config(&path)?;
    let socket = stromwart::health::socket_path(&config.data_dir());
    let summary = stromwart::health::check(&socket)?;
    print_out(&summary)
}

fn clock_minute(s: &str) -> Result<u32, String> {
    let minute = s.split_once(':').and_then(|(h, m)| {
        let (h, m) = (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?);
        (h < 24 && m < 60 && m.to_string().len() <= 2).then_some(h * 60 + m)
    });
    minute.ok_or_else(|| format!("{s} is not a time of day as HH:MM"))
}

fn hour_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (2.0..=3600.0).contains(&v) => Ok(v),
        _ => Err(format!("{s} is not a number of seconds from 2 to 3600")),
    }
}

fn demo(opts: stromwart::demo::Options) -> Result<ExitCode, String> {
    // The view owns the terminal; only real failures should interrupt it. The embedded broker
    // reports every client that leaves as an error; those lines are no failure of the demo.
    init_logging_quiet("error", &["rumqttd"]);
    runtime()?.block_on(stromwart::demo::run(opts, shutdown_signal()))?;
    Ok(ExitCode::SUCCESS)
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

/// Completes on Ctrl-C or SIGTERM (what Docker and the Supervisor send).
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn init_logging(level: &str) {
    init_logging_quiet(level, &[]);
}

/// Logging with some libraries silenced.
fn init_logging_quiet(level: &str, quiet: &[&str]) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    let level: LevelFilter = level.parse().unwrap_or(LevelFilter::INFO);
    // Our own messages at the chosen level; libraries only when something is wrong.
    let mut filter = Targets::new()
        .with_target("stromwart", level)
        .with_default(LevelFilter::WARN.min(level));
    for target in quiet {
        filter = filter.with_target(*target, LevelFilter::OFF);
    }
    // Colour only for a person at a terminal: Docker, systemd and the add-on log keep the codes
    // as garbage. NO_COLOR (no-color.org) switches it off there too.
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_target(false)
                .with_ansi(colour)
                .with_writer(|| MaskedStderr),
        )
        .with(filter)
        .init();
}

/// Standard error with every password inside a URL masked. Device addresses carry credentials
/// (`http://admin:pw@plug`) into messages from our code and from libraries alike, and log
/// lines end up in bug reports; masking where lines are written catches them all.
struct MaskedStderr;

impl Write for MaskedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // The formatter hands over one whole event per write.
        let text = String::from_utf8_lossy(buf);
        let masked = stromwart::redact::mask_credentials(&text);
        std::io::stderr().write_all(masked.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

fn modbus_read(profile: &str, address: &str, unit: Option<u8>) -> Result<ExitCode, String> {
    let profile = load_profile(profile)?;
    let json = runtime()?.block_on(stromwart::bus::read_once(profile, address, unit))?;
    print_out(&serde_json::to_string_pretty(&json).unwrap_or_default())
}

/// A built-in profile by name, or a profile file by path.
fn load_profile(name: &str) -> Result<stromwart::modbus::profile::Profile, String> {
    use stromwart::modbus::profile;
    if !name.contains('/') && !name.ends_with(".yaml") {
        return profile::built_in(name);
    }
    let text = stromwart::config::read_text(std::path::Path::new(name))?;
    let value = stromwart::reader::yaml::to_json(&text).map_err(|e| format!("{name}: {e}"))?;
    profile::from_value(&value, name).map_err(|errors| {
        let list: Vec<String> = errors.iter().map(|e| format!("  - {e}")).collect();
        format!(
            "{name} has {} problem(s):\n{}",
            errors.len(),
            list.join("\n")
        )
    })
}

fn sml_decode(file: Option<PathBuf>, hex: bool) -> Result<ExitCode, String> {
    let mut bytes = Vec::new();
    match file.as_deref() {
        None => std::io::stdin().read_to_end(&mut bytes),
        Some(p) if p.as_os_str() == "-" => std::io::stdin().read_to_end(&mut bytes),
        Some(p) => std::fs::File::open(p).and_then(|mut f| f.read_to_end(&mut bytes)),
    }
    .map_err(|e| format!("cannot read {}: {e}", describe(file.as_deref())))?;
    if hex {
        let text = String::from_utf8(bytes).map_err(|_| "--hex input is not text".to_string())?;
        bytes = decode::parse_hex(&text)?;
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut write_err = None;
    decode::decode_stream(&bytes, &mut |o| {
        if write_err.is_none() {
            let line = serde_json::to_string(&o).unwrap_or_default();
            write_err = writeln!(out, "{line}").err();
        }
    });
    written(write_err.map_or(Ok(()), Err))
}

/// Prints a result on standard output.
fn print_out(text: &str) -> Result<ExitCode, String> {
    let mut out = std::io::stdout().lock();
    written(writeln!(out, "{text}").and_then(|()| out.flush()))
}

/// A reader that went away (`| head` has read enough) is no failure; Rust ignores SIGPIPE, so
/// without this every print would panic there.
fn written(result: std::io::Result<()>) -> Result<ExitCode, String> {
    match result {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(format!("cannot write the output: {e}"))
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}

fn describe(file: Option<&std::path::Path>) -> String {
    file.map_or_else(|| "standard input".into(), |p| p.display().to_string())
}
