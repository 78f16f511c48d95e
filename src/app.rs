//! `stromwart run`: wires sources, the core and the MQTT edge together.
//!
//! Everything runs on one thread: the core is a plain struct owned by this task, sources and the
//! MQTT edge are tasks that talk to it over channels.

use std::future::Future;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::bus;
use crate::config::p14a::SignalSource;
use crate::config::{Config, DeviceConfig, MeterConfig, PlugConfig, PlugDriver};
use crate::control::prices::charge::GridChargeSettings;
use crate::control::prices::view::ViewSettings;
use crate::core::{Core, CoreConfig, DeviceSettings, ModbusSettings, availability_topic};
use crate::drivers::{shelly_input, wiring};
use crate::journal::Journal;
use crate::modbus::Transport;
use crate::model::Event;
use crate::mqtt::{self, Inbound, Link, Outgoing, TlsFiles};
use crate::sink::{Clock, Sink};
use crate::source;
use crate::{health, supervisor};

const TICK: Duration = Duration::from_secs(1);
/// How long to keep asking the Supervisor before giving up (it may still be starting).
const SUPERVISOR_PATIENCE: Duration = Duration::from_secs(30);
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Handles for watching a running bridge (used by the demo and tests).
#[derive(Clone)]
pub struct Status {
    pub link: watch::Receiver<Link>,
}

pub fn core_config(c: &Config) -> CoreConfig {
    CoreConfig {
        base_topic: c.mqtt.base_topic.clone(),
        discovery_prefix: c.mqtt.discovery_prefix.clone(),
        discovery_mode: c.mqtt.discovery_mode,
        meters: c.meters.iter().map(meter_settings).collect(),
        devices: c
            .devices
            .iter()
            .map(|d| ModbusSettings {
                device: device_settings(d),
                profile: d.profile.name.clone(),
                meter_role: d.meter_role,
            })
            .collect(),
        site: c.site,
        instance: c.mqtt.client_id.clone(),
        cleanup_delay_ms: (c.mqtt.cleanup_delay_s * 1000.0) as u64,
        settings: Default::default(),
        totals: Default::default(),
        plugs: c.plugs.iter().map(wiring::plug_settings).collect(),
        wallboxes: c.wallboxes.iter().map(wiring::wallbox_settings).collect(),
        batteries: c.batteries.iter().map(wiring::battery_settings).collect(),
        p14a: c.dimmer_settings(),
        prices: c.prices.as_ref().map(|p| ViewSettings {
            tariff: p.tariff.clone(),
            fixed_eur: p.source.is_none().then_some(p.fixed_ct / 100.0),
            cheap_percentile: p.cheap_percentile,
            cheap_limit_eur: p.cheap_limit_ct.map(|ct| ct / 100.0),
            window_hours: p.window_hours,
        }),
        grid_charge: c.prices.as_ref().and_then(|p| p.grid_charge).map(
            |(battery, below_ct, target_soc)| GridChargeSettings {
                battery,
                below_eur: below_ct / 100.0,
                target_soc,
            },
        ),
        surplus: c.surplus.clone(),
        loads: c.loads.clone(),
    }
}

fn meter_settings(m: &MeterConfig) -> DeviceSettings {
    DeviceSettings {
        id: m.id.clone(),
        name: m.name.clone(),
        manufacturer: None,
        model: m.model.clone(),
        role: m.role,
        policy: m.publish.policy(),
        expire_after_s: m.publish.expire_after_s,
        enable_unknown: m.generic_obis,
    }
}

fn device_settings(d: &DeviceConfig) -> DeviceSettings {
    DeviceSettings {
        id: d.id.clone(),
        name: d.name.clone(),
        manufacturer: d.profile.manufacturer.clone(),
        model: d.model.clone().or_else(|| d.profile.model.clone()),
        role: d.role,
        policy: d.publish.policy(),
        expire_after_s: d.publish.expire_after_s,
        enable_unknown: false,
    }
}

/// Modbus devices grouped by the connection they share, in config order.
pub fn buses(c: &Config) -> Vec<(Transport, Vec<bus::device::Device>)> {
    let mut buses: Vec<(Transport, Vec<bus::device::Device>)> = Vec::new();
    for (index, d) in c.devices.iter().enumerate() {
        let device = bus::device::Device::new(bus::device::Setup {
            index,
            id: d.id.clone(),
            profile: d.profile.clone(),
            unit: d.unit,
            timeout: Duration::from_secs_f64(d.profile.timeout_s),
            pause: Duration::from_secs_f64(d.profile.pause_s),
            interval: Duration::from_secs_f64(d.poll_interval_s),
        });
        match buses.iter_mut().find(|(t, _)| *t == d.transport) {
            Some((_, devices)) => devices.push(device),
            None => buses.push((d.transport.clone(), vec![device])),
        }
    }
    buses
}

pub fn mqtt_settings(c: &Config, host: String) -> mqtt::Settings {
    let m = &c.mqtt;
    let tls = m.tls.then(|| TlsFiles {
        ca_file: m.ca_file.clone(),
        client_cert: m.client_cert.clone(),
        client_key: m.client_key.clone(),
    });
    mqtt::Settings {
        host,
        port: m.port,
        client_id: m.client_id.clone(),
        username: m.username.clone(),
        password: m.password.clone(),
        keep_alive: Duration::from_secs(m.keep_alive_s),
        tls,
        availability_topic: availability_topic(&m.base_topic),
        ha_status_topic: format!("{}/status", m.discovery_prefix),
        subscriptions: std::iter::once(format!("{}/+/+/set", m.base_topic))
            .chain(c.plugs.iter().flat_map(tasmota_topics))
            .chain(c.p14a.iter().flat_map(|p| p.topics()))
            .collect(),
        collect: discovery_filters(&m.discovery_prefix),
    }
}

/// Where the broker is: as configured, else from the Home Assistant Supervisor (in the add-on),
/// else on this machine. Broker details from the Supervisor fill only what is not configured.
pub async fn resolve_broker(config: &mut Config) -> Result<String, String> {
    if let Some(host) = &config.mqtt.host {
        return Ok(host.clone());
    }
    let Ok(token) = std::env::var(supervisor::TOKEN_ENV) else {
        return Ok("localhost".into());
    };
    let base = std::env::var("STROMWART_SUPERVISOR_URL")
        .unwrap_or_else(|_| supervisor::DEFAULT_URL.into());
    let mut wait = Duration::from_secs(1);
    let service = loop {
        match supervisor::mqtt_service(&base, &token).await {
            Ok(s) => break s,
            Err(e) if wait > SUPERVISOR_PATIENCE => return Err(e),
            Err(e) => {
                tracing::warn!("Asking the Supervisor for the MQTT broker failed: {e}. Retrying.");
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        }
    };
    tracing::info!(host = %service.host, port = service.port, "Using the MQTT broker the Supervisor announced.");
    let m = &mut config.mqtt;
    m.port = service.port;
    if m.username.is_none() {
        m.username = service.username;
        m.password = service.password;
    }
    m.tls |= service.ssl;
    Ok(service.host)
}

/// Where retained discovery configs live: device-based and per component (with node id).
fn discovery_filters(prefix: &str) -> Vec<String> {
    vec![
        format!("{prefix}/device/+/config"),
        format!("{prefix}/+/+/+/config"),
    ]
}

/// How long after connecting retained discovery configs are collected.
const COLLECT_MS: u64 = 2_000;

/// Runs the bridge until `shutdown` completes. Fails only on problems no retry can fix.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()>,
    status: Option<watch::Sender<Link>>,
) -> Result<(), String> {
    run_with_clock(config, Clock::start(), shutdown, status).await
}

/// [`run`] on a clock of the caller's: the demo's day runs on one in fast motion.
pub async fn run_with_clock(
    mut config: Config,
    clock: Clock,
    shutdown: impl Future<Output = ()>,
    status: Option<watch::Sender<Link>>,
) -> Result<(), String> {
    let broker_host = resolve_broker(&mut config).await?;
    let settings = mqtt_settings(&config, broker_host);
    mqtt::options(&settings)?; // TLS files and the like fail here, once, with a clear message
    let settings_path = config.data_dir().join(SETTINGS_FILE);
    let totals_path = config.data_dir().join(TOTALS_FILE);
    let mut journal = Journal::new(config.data_dir().join(P14A_LOG_FILE));
    let saved: crate::core::controls::Settings = load_saved(&settings_path, "settings");
    start_with_saved_limits(&mut config, &saved);
    let mut core_cfg = core_config(&config);
    core_cfg.settings = saved;
    core_cfg.totals = load_saved(&totals_path, "energy totals");
    let mut core = Core::new(core_cfg);

    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let (inbound_tx, mut inbound_rx) = mpsc::channel(64);
    let (events_tx, mut events_rx) = mpsc::channel(1024);
    let link = status.unwrap_or_else(|| watch::channel(Link::Connecting).0);
    let (stop_tx, stop_rx) = watch::channel(false);
    let socket = health_socket(&config, link.subscribe());

    let mqtt_task = tokio::spawn(mqtt::run(settings, out_rx, inbound_tx, link, stop_rx));
    let sink = Sink {
        events: events_tx,
        clock,
    };
    let mut sources: Vec<_> = config
        .meters
        .iter()
        .enumerate()
        .map(|(i, m)| tokio::spawn(source::run(i, m.clone(), sink.clone())))
        .collect();
    let mut actuators = wiring::Actuators::spawn(&config, &sink)?;
    let signals = config
        .p14a
        .iter()
        .flat_map(|p| p.signals.iter().enumerate());
    for (i, s) in signals {
        if let SignalSource::Shelly {
            url,
            input,
            interval_s,
        } = &s.source
        {
            let poll = shelly_input::run(
                i,
                s.name.clone(),
                url.clone(),
                *input,
                Duration::from_secs_f64(*interval_s),
                sink.clone(),
            );
            sources.push(tokio::spawn(poll));
        }
    }
    if let Some(p) = &config.prices {
        if let Some(source) = &p.source {
            let url = p.url.clone().unwrap_or_else(|| source.default_url());
            let cache = config.data_dir().join(PRICES_FILE);
            let task = crate::drivers::prices::run(source.clone(), url, cache, sink.clone());
            sources.push(tokio::spawn(task));
        }
    }
    for (transport, devices) in buses(&config) {
        let writes = actuators.bus(devices.iter().map(|d| d.setup.index));
        let task = bus::run_bus(transport, devices, writes, sink.clone());
        sources.push(tokio::spawn(task));
    }
    drop(sink);

    let mut last_tick = tokio::time::Instant::now();
    let mut out = Vec::new();
    let filters = discovery_filters(&config.mqtt.discovery_prefix);
    let mut collecting: Option<(u64, Vec<(String, String)>)> = None;
    let mut collected = false;
    tokio::pin!(shutdown);
    loop {
        // A value held back by its minimum interval goes out when it falls due, not up to a
        // second later at the next tick.
        let due = core.next_due().map(|ms| clock.instant(ms));
        let event = tokio::select! {
            biased;
            _ = &mut shutdown => break,
            _ = tokio::time::sleep_until(due.unwrap_or_else(tokio::time::Instant::now)), if due.is_some() => Event::Flush,
            Some(e) = events_rx.recv() => e,
            Some(i) = inbound_rx.recv() => match i {
                Inbound::Connected => {
                    if !collected && collecting.is_none() {
                        collecting = Some((clock.now().mono_ms + COLLECT_MS, Vec::new()));
                    }
                    Event::MqttConnected
                }
                Inbound::HaOnline => Event::HaOnline,
                Inbound::Message { topic, payload, retain } => {
                    let payload = String::from_utf8_lossy(&payload).into_owned();
                    if topic.ends_with("/set") {
                        Event::Command { topic, payload, retained: retain }
                    } else {
                        if topic.ends_with("/config") {
                            if let Some((_, found)) = collecting.as_mut().filter(|_| retain) {
                                found.push((topic, payload));
                            }
                            continue;
                        }
                        Event::Incoming { topic, payload }
                    }
                }
            },
            // The timer stands a little beyond the tick, so that with events flowing it is
            // replaced before tokio's wheel wakes early to refine it.
            _ = tokio::time::sleep_until(last_tick + TICK + TICK / 10) => Event::Tick,
        };
        // The wait above may have lasted up to a second: the event happened now, not then.
        let now = clock.now();
        let mut tick = matches!(event, Event::Tick);
        if !tick {
            core.handle(event, now, &mut out);
            // A tick nearly due rides along with an event, so a meter that sends once a second
            // wakes the bridge once a second rather than twice. Not much earlier: then a held
            // value going out half-way would take the tick and leave the next frame without.
            tick = last_tick.elapsed() >= TICK - TICK / 5;
        }
        if tick {
            if let Some((_, found)) = collecting.take_if(|(until, _)| now.mono_ms >= *until) {
                collected = true;
                for f in &filters {
                    let _ = out_tx.send(Outgoing::Unsubscribe(f.clone()));
                }
                core.handle(Event::RetainedConfigs(found), now, &mut out);
            }
            core.handle(Event::Tick, now, &mut out);
            last_tick = tokio::time::Instant::now();
        }
        for m in out.drain(..) {
            let _ = out_tx.send(Outgoing::Publish(m));
        }
        for action in core.take_actions() {
            if actuators.send(action) == Some(false) {
                tracing::warn!(
                    ?action,
                    "The device is still busy with earlier requests; this one is dropped."
                );
            }
        }
        let proof = core.take_proof();
        if !proof.is_empty() {
            journal.append(proof);
        }
        if let Some(json) = core.take_totals(now) {
            save(&totals_path, &json, "the energy totals");
        }
        if let Some(json) = core.take_settings(now) {
            let result = crate::journal::write_atomically(&settings_path, json.as_bytes());
            if let Err(e) = &result {
                tracing::error!(path = %settings_path.display(), "Cannot save the settings: {e}. They apply, and saving is tried again; the file keeps the ones saved before.");
            }
            core.handle(
                Event::SettingsSaved(result.map_err(|e| e.to_string())),
                now,
                &mut out,
            );
        }
    }
    for m in core.meters() {
        let (frames, errors) = m.counts();
        tracing::info!(meter = %m.id(), frames, errors, "Meter totals since start.");
    }
    tracing::info!("Shutting down.");
    for s in sources {
        s.abort();
    }
    // The devices' safe states, on the paths commands take; MQTT goes last, so that the
    // commands for MQTT plugs are still sent.
    core.stop(&mut out);
    for m in out.drain(..) {
        let _ = out_tx.send(Outgoing::Publish(m));
    }
    for action in core.take_actions() {
        let _ = actuators.send(action);
    }
    actuators.finish(SAFE_STATE_WAIT).await;
    save(&totals_path, &core.totals_json(), "the energy totals");
    if let Some((path, task)) = socket {
        task.abort();
        health::remove(&path);
    }
    drop(out_tx);
    let _ = stop_tx.send(true);
    match tokio::time::timeout(SHUTDOWN_GRACE, mqtt_task).await {
        Ok(Ok(result)) => result,
        _ => Ok(()),
    }
}

/// Serves the health socket in the data directory; without it the bridge still runs.
fn health_socket(
    config: &Config,
    link: watch::Receiver<Link>,
) -> Option<(std::path::PathBuf, tokio::task::JoinHandle<()>)> {
    let dir = config.data_dir();
    let path = health::socket_path(&dir);
    let served = std::fs::create_dir_all(&dir).and_then(|()| health::serve(&path, link));
    match served {
        Ok(task) => Some((path, task)),
        Err(e) => {
            tracing::warn!(path = %path.display(), "Cannot serve the health check: {e}. `stromwart healthcheck` will report the bridge as down.");
            None
        }
    }
}

const SETTINGS_FILE: &str = "settings.json";
/// The site's lifetime energies, saved every few minutes and at stop.
const TOTALS_FILE: &str = "energy-totals.json";
/// The §14a proof log, JSON lines, appended while dimmed (`stromwart p14a log` reads it).
pub const P14A_LOG_FILE: &str = "p14a-log.jsonl";
/// The last prices fetched, so that a restart or an outage keeps them.
pub const PRICES_FILE: &str = "prices.json";

fn save(path: &std::path::Path, json: &str, what: &str) {
    if let Err(e) = crate::journal::write_atomically(path, json.as_bytes()) {
        tracing::error!(path = %path.display(), "Cannot save {what}: {e}.");
    }
}
/// How long the devices get on stop to take their safe states.
const SAFE_STATE_WAIT: Duration = Duration::from_secs(5);

/// Battery limits set from Home Assistant in earlier runs are what the batteries start with,
/// within today's configured maximum.
fn start_with_saved_limits(config: &mut Config, saved: &crate::core::controls::Settings) {
    for b in &mut config.batteries {
        let Some(limits) = saved.batteries.get(&b.id) else {
            continue;
        };
        if let Some(w) = limits.charge_limit_w {
            b.charge_limit_w = w.clamp(0.0, b.max_charge_w);
        }
        if let Some(w) = limits.discharge_limit_w {
            b.discharge_limit_w = w.clamp(0.0, b.max_discharge_w);
        }
    }
}

/// What an earlier run saved (settings, the site's energies); a file that cannot be read is set
/// aside, not fatal.
fn load_saved<T: serde::de::DeserializeOwned + Default>(path: &std::path::Path, what: &str) -> T {
    let Ok(text) = std::fs::read_to_string(path) else {
        return T::default();
    };
    match serde_json::from_str(&text) {
        Ok(s) => s,
        Err(e) => {
            let aside = path.with_extension("json.broken");
            let _ = std::fs::rename(path, &aside);
            tracing::warn!(path = %path.display(), moved_to = %aside.display(), "Saved {what} are unreadable ({e}); starting afresh.");
            T::default()
        }
    }
}

/// The topics an MQTT plug reports on.
fn tasmota_topics(p: &PlugConfig) -> Vec<String> {
    match &p.driver {
        PlugDriver::Tasmota { topic, .. } => {
            vec![format!("stat/{topic}/+"), format!("tele/{topic}/SENSOR")]
        }
        PlugDriver::Mqtt { state_topic, .. } => vec![state_topic.clone()],
        PlugDriver::Shelly { .. } => Vec::new(),
    }
}
