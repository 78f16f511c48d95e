//! The configuration: one schema for `stromwart.yaml` and the add-on's `/data/options.json`.
//!
//! Loading reports every problem at once, each with its path (`meters[1].baud: ...`), and never
//! touches the network or devices: an unreachable meter is a runtime state, not a config error.

mod batteries;
mod devices;
pub mod loads;
pub mod p14a;
mod plugs;
pub mod prices;
mod wallboxes;

pub use batteries::BatteryConfig;
pub use devices::{DeviceConfig, ModbusLink, Publishing};

use crate::control::surplus::load::LoadSettings;
pub use plugs::{PlugConfig, PlugDriver};
pub use wallboxes::{WallboxConfig, WallboxDriver, WallboxStop};

use std::path::{Path, PathBuf};

use crate::reader::{ConfigError, Ctx, Field, Section, yaml};
use serde_json::Value;

use crate::control::site::SiteSettings;
use crate::ha::DiscoveryMode;
use crate::sml::Quirks;

pub const ENV_CONFIG: &str = "STROMWART_CONFIG";
pub const ADDON_OPTIONS: &str = "/data/options.json";
pub const LOCAL_CONFIG: &str = "stromwart.yaml";

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub mqtt: MqttConfig,
    pub meters: Vec<MeterConfig>,
    pub devices: Vec<DeviceConfig>,
    pub plugs: Vec<PlugConfig>,
    pub wallboxes: Vec<WallboxConfig>,
    pub batteries: Vec<BatteryConfig>,
    pub site: SiteSettings,
    /// §14a dimming, when configured.
    pub p14a: Option<p14a::P14aConfig>,
    /// Prices, with `prices:` configured.
    pub prices: Option<prices::PriceConfig>,
    /// How the PV surplus runs the loads, and the loads.
    pub surplus: crate::control::surplus::SurplusSettings,
    pub loads: Vec<LoadSettings>,
    pub log_level: &'static str,
    /// Where state and the health socket live; see [`Config::data_dir`].
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MqttConfig {
    /// None: ask the Home Assistant Supervisor, else `localhost`.
    pub host: Option<String>,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    pub client_id: String,
    pub base_topic: String,
    pub discovery_prefix: String,
    pub discovery_mode: DiscoveryMode,
    pub keep_alive_s: u64,
    /// Seconds before the discovery configs of devices no longer configured are removed.
    pub cleanup_delay_s: f64,
    pub tls: bool,
    pub ca_file: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MeterConfig {
    pub id: String,
    pub name: String,
    pub model: Option<String>,
    pub role: crate::model::Role,
    pub source: Source,
    pub publish: Publishing,
    pub generic_obis: bool,
    pub quirks: Quirks,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Serial {
        port: String,
        baud: u32,
        format: SerialFormat,
    },
    Tcp {
        address: String,
    },
    Http {
        url: String,
        user: Option<String>,
        password: Option<String>,
        interval_s: f64,
    },
    File {
        path: String,
        hex: bool,
        interval_s: f64,
        repeat: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SerialFormat {
    EightN1,
    SevenE1,
}

/// A configuration and the schema fields read while loading it.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub fields: Vec<Field>,
}

impl Config {
    /// Reads and checks a configuration file (YAML, or JSON for `.json`).
    pub fn load(path: &Path) -> Result<Config, Vec<ConfigError>> {
        let text = read_text(path).map_err(|message| {
            vec![ConfigError {
                path: String::new(),
                message,
            }]
        })?;
        let value = if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text).map_err(|e| {
                vec![ConfigError {
                    path: String::new(),
                    message: format!("{} is not valid JSON: {e}", path.display()),
                }]
            })?
        } else {
            yaml::to_json(&text).map_err(|e| {
                vec![ConfigError {
                    path: String::new(),
                    message: e,
                }]
            })?
        };
        Self::from_value(&value).map(|l| l.config)
    }

    pub fn from_value(value: &Value) -> Result<Loaded, Vec<ConfigError>> {
        let ctx = Ctx::default();
        let config = read(&Section::root(&ctx, value));
        let (errors, fields) = ctx.into_parts();
        if errors.is_empty() {
            Ok(Loaded { config, fields })
        } else {
            Err(errors)
        }
    }

    /// Parses YAML text (JSON is YAML too).
    pub fn from_yaml(text: &str) -> Result<Config, Vec<ConfigError>> {
        let value = yaml::to_json(text).map_err(|e| {
            vec![ConfigError {
                path: String::new(),
                message: e,
            }]
        })?;
        Self::from_value(&value).map(|l| l.config)
    }
}

/// The text of a configuration or profile file, without a byte-order mark. Reads at most
/// [`yaml::MAX_BYTES`]: a larger file is the wrong one (a log, a firmware image, `/dev/zero`).
pub fn read_text(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let cannot = |e: std::io::Error| format!("cannot read {}: {e}", path.display());
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(yaml::MAX_BYTES as u64 + 1).read_to_end(&mut bytes))
        .map_err(cannot)?;
    if bytes.len() > yaml::MAX_BYTES {
        return Err(format!(
            "{} is larger than {} KiB, more than a configuration can be. Is it the right file?",
            path.display(),
            yaml::MAX_BYTES / 1024
        ));
    }
    let text =
        String::from_utf8(bytes).map_err(|_| format!("{} is not text (UTF-8)", path.display()))?;
    Ok(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    })
}

impl Config {
    /// The data directory: as configured, else `/data` where it exists (the add-on, the Docker
    /// image's volume), else `stromwart-data` in the working directory.
    pub fn data_dir(&self) -> PathBuf {
        match &self.data_dir {
            Some(d) => d.clone(),
            None if Path::new(ADDON_DATA).is_dir() => PathBuf::from(ADDON_DATA),
            None => PathBuf::from(LOCAL_DATA),
        }
    }
}

const ADDON_DATA: &str = "/data";
const LOCAL_DATA: &str = "stromwart-data";

/// Where `stromwart run` looks when no `--config` is given.
pub fn default_path() -> PathBuf {
    if let Some(p) = std::env::var_os(ENV_CONFIG) {
        return PathBuf::from(p);
    }
    if Path::new(ADDON_OPTIONS).exists() {
        return PathBuf::from(ADDON_OPTIONS);
    }
    PathBuf::from(LOCAL_CONFIG)
}

const LOG_LEVELS: &[&str] = &["error", "warn", "info", "debug", "trace"];

fn read(root: &Section<'_>) -> Config {
    let mqtt = read_mqtt(&root.section("mqtt"));
    // Meters and devices share the topic space `<base>/<id>/...`, so their ids must differ.
    let mut ids: Vec<(String, String)> = Vec::new();
    let mut unique = |item: &Section<'_>, id: &str, place: String| {
        if id == crate::core::site_device::SITE_ID || id == crate::core::commands::BRIDGE_ID {
            item.error(
                "id",
                format!("'{id}' is taken by the site view; choose another id"),
            );
        }
        if let Some((_, first)) = ids.iter().find(|(known, _)| known == id && !id.is_empty()) {
            item.error(
                "id",
                format!("'{id}' is already the id of {first}; ids must be unique"),
            );
        }
        ids.push((id.to_string(), place));
    };
    let mut meters = Vec::new();
    for (i, item) in root.list("meters").iter().enumerate() {
        let m = read_meter(item);
        item.finish();
        unique(item, &m.id, format!("meters[{i}]"));
        meters.push(m);
    }
    let mut devices = Vec::new();
    for (i, item) in root.list("devices").iter().enumerate() {
        let d = devices::read_device(item);
        item.finish();
        let id = match &d {
            Ok(d) => d.id.clone(),
            Err(id) => id.clone(),
        };
        unique(item, &id, format!("devices[{i}]"));
        devices.extend(d.ok());
    }
    // Actuators: an entry with errors is left out (and reported).
    let actuators = |key: &'static str| {
        let items = root.list(key);
        items
            .into_iter()
            .enumerate()
            .map(move |(i, item)| (format!("{key}[{i}]"), item))
    };
    let mut plugs = Vec::new();
    for (place, item) in actuators("plugs") {
        if let Some(p) = plugs::read_plug(&item) {
            unique(&item, &p.id, place);
            plugs.push(p);
        }
        item.finish();
    }
    let mut wallboxes = Vec::new();
    for (place, item) in actuators("wallboxes") {
        if let Some(w) = wallboxes::read_wallbox(&item) {
            unique(&item, &w.id, place);
            wallboxes.push(w);
        }
        item.finish();
    }
    let mut batteries = Vec::new();
    for (place, item) in actuators("batteries") {
        if let Some(b) = batteries::read_battery(&item) {
            unique(&item, &b.id, place);
            batteries.push(b);
        }
        item.finish();
    }
    let site = read_site(&root.section("site"));
    let known = p14a::Known {
        wallboxes: wallboxes.iter().map(|w| w.id.as_str()).collect(),
        batteries: batteries.iter().map(|b| b.id.as_str()).collect(),
        plugs: plugs.iter().map(|p| p.id.as_str()).collect(),
        modbus: devices
            .iter()
            .map(|d| {
                let controls = d.profile.controls.writable.iter();
                (d.id.as_str(), controls.map(|w| w.name.as_str()).collect())
            })
            .collect(),
    };
    let p14a = p14a::read(&root.section("p14a"), &known);
    let load_known = loads::Known {
        modbus: known.modbus.clone(),
        plugs: plugs.iter().map(|p| p.id.as_str()).collect(),
        wallboxes: wallboxes
            .iter()
            .map(|w| (w.id.as_str(), w.max_current_a))
            .collect(),
    };
    let surplus = loads::read_surplus(&root.section("surplus"));
    let battery_ids: Vec<&str> = batteries.iter().map(|b| b.id.as_str()).collect();
    let prices = prices::read(&root.section("prices"), &battery_ids);
    let mut loads = Vec::new();
    for item in root.list("loads").iter() {
        if let Some(l) = loads::read_load(item, &load_known) {
            // Loads name themselves after their device by default, so their ids are a
            // namespace of their own.
            if let Some(first) = loads.iter().position(|o: &LoadSettings| o.id == l.id) {
                item.error(
                    "id",
                    format!(
                        "'{}' is already the id of loads[{first}]; ids must be unique",
                        l.id
                    ),
                );
            }
            loads.push(l);
        }
        item.finish();
    }
    let log_level = root.choice("log_level", LOG_LEVELS, "info");
    let data_dir = root.opt_string("data_dir").map(PathBuf::from);
    if meters.is_empty()
        && !["devices", "plugs", "wallboxes", "batteries"]
            .iter()
            .any(|k| root.has(k))
    {
        root.error(
            "meters",
            "no meters or devices configured; add at least one under 'meters:' or 'devices:'",
        );
    }
    root.finish();
    Config {
        mqtt,
        meters,
        devices,
        plugs,
        wallboxes,
        batteries,
        site,
        p14a,
        prices,
        surplus,
        loads,
        data_dir,
        log_level,
    }
}

fn read_site(s: &Section<'_>) -> SiteSettings {
    let d = SiteSettings::default();
    let site = SiteSettings {
        smoothing_s: s.seconds("smoothing", d.smoothing_s, 1.0, 3600.0),
        surplus_on_w: s
            .opt_float("surplus_on", 0.0, 1.0e6)
            .unwrap_or(d.surplus_on_w),
        surplus_off_w: s
            .opt_float("surplus_off", 0.0, 1.0e6)
            .unwrap_or(d.surplus_off_w),
        battery_in_surplus: false,
    };
    if site.surplus_off_w >= site.surplus_on_w {
        s.error(
            "surplus_off",
            "must be below surplus_on, else the surplus switch would flap",
        );
    }
    s.finish();
    site
}

fn read_mqtt(s: &Section<'_>) -> MqttConfig {
    let base_topic = s.string("base_topic", "stromwart");
    let discovery_prefix = s.string("discovery_prefix", "homeassistant");
    for (key, topic) in [
        ("base_topic", &base_topic),
        ("discovery_prefix", &discovery_prefix),
    ] {
        if let Some(problem) = topic_problem(topic) {
            s.error(key, problem);
        }
    }
    let mode = s.choice("discovery_mode", &["device", "component"], "device");
    let username = s.opt_string("username");
    let password = s.opt_string("password");
    if password.is_some() && username.is_none() {
        s.error("password", "a password needs a username");
    }
    let tls = s.bool("tls", false);
    let ca_file = s.opt_string("ca_file").map(PathBuf::from);
    let client_cert = s.opt_string("client_cert").map(PathBuf::from);
    let client_key = s.opt_string("client_key").map(PathBuf::from);
    if client_cert.is_some() != client_key.is_some() {
        s.error(
            "client_cert",
            "client_cert and client_key go together; set both or neither",
        );
    }
    let cfg = MqttConfig {
        host: s.opt_string("host"),
        port: s.int("port", 1883, 1, 65535) as u16,
        username,
        password,
        client_id: s.string("client_id", "stromwart"),
        base_topic,
        discovery_prefix,
        discovery_mode: if mode == "component" {
            DiscoveryMode::Component
        } else {
            DiscoveryMode::Device
        },
        keep_alive_s: s.int("keep_alive", 30, 5, 3600) as u64,
        cleanup_delay_s: s.seconds("cleanup_delay", 60.0, 0.0, 3600.0),
        tls,
        ca_file,
        client_cert,
        client_key,
    };
    if cfg.client_id.chars().any(|c| c.is_whitespace()) {
        s.error("client_id", "must not contain spaces");
    }
    s.finish();
    cfg
}

const SOURCE_KEYS: [&str; 4] = ["serial_port", "tcp", "url", "file"];

fn read_meter(s: &Section<'_>) -> MeterConfig {
    let id = devices::read_id(s, "grid");
    let default_name = format!("{} meter", capitalise(&id));
    let name = s.string("name", &default_name);
    let role = devices::read_role(s, "grid");
    let source = read_source(s);
    let publish = devices::read_publishing(s, 1.0);
    let quirks = Quirks {
        dzg_sign_fix: s.bool("dzg_sign_fix", false),
        direction_bit: s.opt_int("direction_bit", 1, 0x7fff_ffff).map(|b| b as u64),
        max_power_w: s.opt_float("max_power", 1.0, 1.0e7),
    };
    if let Some(bit) = quirks.direction_bit {
        if !bit.is_power_of_two() {
            s.error(
                "direction_bit",
                format!("{bit} is not a single bit; ED300L meters use 32 (0x20)"),
            );
        }
    }
    MeterConfig {
        id,
        name,
        model: s.opt_string("model"),
        role,
        source,
        publish,
        generic_obis: s.bool("generic_obis", false),
        quirks,
    }
}

fn read_source(s: &Section<'_>) -> Source {
    let set: Vec<&str> = SOURCE_KEYS.iter().copied().filter(|k| s.has(k)).collect();
    // Read every source key so the schema is complete and stray keys are still reported.
    let port = s.opt_string("serial_port");
    let baud = s.int("baud", 9600, 300, 921_600) as u32;
    let format = s.choice("format", &["8N1", "7E1"], "8N1");
    let tcp = s.opt_string("tcp");
    let url = s.opt_string("url");
    let user = s.opt_string("http_user");
    let password = s.opt_string("http_password");
    let interval_s = s.seconds("poll_interval", 1.0, 0.1, 3600.0);
    let file = s.opt_string("file");
    let hex = s.bool("hex", false);
    let replay = s.seconds("replay_interval", 1.0, 0.0, 3600.0);
    let repeat = s.bool("repeat", false);
    if set.len() != 1 {
        let which = if set.is_empty() {
            "none".to_string()
        } else {
            set.join(" and ")
        };
        s.error(
            "",
            format!("set exactly one source (serial_port, tcp, url or file); found {which}"),
        );
    }
    if let Some(addr) = &tcp {
        if !addr
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0))
        {
            s.error(
                "tcp",
                format!("'{addr}' is not host:port, e.g. 192.168.1.50:8888"),
            );
        }
    }
    if let Some(u) = &url {
        if !(u.starts_with("http://") || u.starts_with("https://")) {
            s.error("url", format!("'{u}' must start with http:// or https://"));
        }
    }
    match (port, tcp, url, file) {
        (Some(port), ..) => Source::Serial {
            port,
            baud,
            format: if format == "7E1" {
                SerialFormat::SevenE1
            } else {
                SerialFormat::EightN1
            },
        },
        (_, Some(address), ..) => Source::Tcp { address },
        (_, _, Some(url), _) => Source::Http {
            url,
            user,
            password,
            interval_s,
        },
        (_, _, _, Some(path)) => Source::File {
            path,
            hex,
            interval_s: replay,
            repeat,
        },
        _ => Source::File {
            path: String::new(),
            hex,
            interval_s: replay,
            repeat,
        },
    }
}

fn topic_problem(topic: &str) -> Option<String> {
    if topic.is_empty() {
        Some("must not be empty".into())
    } else if topic.contains(['+', '#']) {
        Some(format!(
            "'{topic}' must not contain the MQTT wildcards + or #"
        ))
    } else if topic.starts_with('/') || topic.ends_with('/') {
        Some(format!("'{topic}' must not start or end with '/'"))
    } else {
        None
    }
}

pub(crate) fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Where `id` stands among the configured `ids` of `section`; when it is not there, an error at
/// `key` that lists them, so the user sees what they could have meant.
fn find_id(s: &Section<'_>, key: &str, id: &str, section: &str, ids: &[&str]) -> Option<usize> {
    let at = ids.iter().position(|known| *known == id);
    if at.is_none() {
        let listed = if ids.is_empty() {
            "none".to_string()
        } else {
            ids.join(", ")
        };
        s.error(
            key,
            format!("'{id}' is not among the configured {section} ({listed})"),
        );
    }
    at
}

/// `HH:MM` as minutes after midnight; 24:00 is allowed, for "by the end of the day".
fn clock_minutes(text: &str) -> Option<u32> {
    crate::control::surplus::load::parse_clock(text).map(|ms| (ms / 60_000) as u32)
}
