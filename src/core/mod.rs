//! The pure core: all state, no I/O, no clock of its own.
//!
//! Edges feed it [`Event`]s with the current time and carry out the [`Message`]s it returns. Every
//! rule (what to publish, when, in which form) is therefore a plain function call in tests, with
//! time simulated by the caller. Controllers (PV surplus, §14a) are meant to slot in here as
//! further pure functions over the same state.

pub mod battery;
pub(crate) mod commands;
pub mod controls;
mod decide;
pub mod device;
pub mod energy;
mod loads;
mod meter;
mod modbus_device;
pub mod plug;
mod reconcile;
pub(crate) mod site_device;
pub mod throttle;
pub mod wallbox;

pub use device::DeviceSettings;
use device::announce_then;
pub use meter::Meter;
pub use modbus_device::{ModbusDevice, ModbusSettings};
pub use throttle::Policy;

use crate::control::Snapshot;
use crate::control::p14a::dimmer::{Dimmer, DimmerSettings};
use crate::control::prices::charge::{GridCharge, GridChargeSettings};
use crate::control::prices::view::{PriceView, ViewSettings};
use crate::control::site::{Site, SiteSettings};
use crate::control::surplus::load::LoadSettings;
use crate::control::surplus::{Allocator, SurplusSettings};
use crate::ha::DiscoveryMode;
use crate::message::Message;
use crate::model::{Action, Event, Now, Role};

/// Home Assistant subscribes to state topics 0.1 to 0.3 s after it reads a discovery config, so
/// after a reconnect or its birth message the states are sent a second time after this delay.
pub const HA_SETTLE_MS: u64 = 2_000;

/// How often the site's lifetime energies are saved while the bridge runs.
pub const TOTALS_EVERY_MS: u64 = 300_000;

#[derive(Debug, Clone, PartialEq)]
pub struct CoreConfig {
    pub base_topic: String,
    pub discovery_prefix: String,
    pub discovery_mode: DiscoveryMode,
    pub meters: Vec<DeviceSettings>,
    pub devices: Vec<modbus_device::ModbusSettings>,
    pub site: SiteSettings,
    /// Names this bridge among others on the broker (the MQTT client id).
    pub instance: String,
    /// How long a renamed device has to announce itself before its old config is removed.
    pub cleanup_delay_ms: u64,
    /// Settings changed from Home Assistant in earlier runs.
    pub settings: controls::Settings,
    /// Counted energies as an earlier run left them.
    pub totals: energy::Energies,
    pub plugs: Vec<plug::PlugSettings>,
    pub wallboxes: Vec<wallbox::WallboxSettings>,
    pub batteries: Vec<battery::BatterySettings>,
    /// §14a dimming, when configured.
    pub p14a: Option<DimmerSettings>,
    /// Prices as entities, with `prices:` configured.
    pub prices: Option<ViewSettings>,
    /// Charging the battery from the grid while cheap.
    pub grid_charge: Option<GridChargeSettings>,
    /// The loads the PV surplus runs, and how.
    pub surplus: SurplusSettings,
    pub loads: Vec<LoadSettings>,
}

impl Default for CoreConfig {
    /// The defaults of the configuration, with nothing to read: a start for tests and tools.
    fn default() -> Self {
        Self {
            base_topic: "stromwart".into(),
            discovery_prefix: "homeassistant".into(),
            discovery_mode: DiscoveryMode::Device,
            meters: Vec::new(),
            devices: Vec::new(),
            site: Default::default(),
            instance: "stromwart".into(),
            cleanup_delay_ms: 60_000,
            settings: Default::default(),
            totals: energy::Energies::default(),
            plugs: Vec::new(),
            wallboxes: Vec::new(),
            batteries: Vec::new(),
            p14a: None,
            prices: None,
            grid_charge: None,
            surplus: SurplusSettings::default(),
            loads: Vec::new(),
        }
    }
}

#[derive(Debug)]
pub struct Core {
    cfg: CoreConfig,
    meters: Vec<Meter>,
    devices: Vec<ModbusDevice>,
    /// The house as the controllers see it.
    house: Snapshot,
    site: Site,
    site_device: device::Device,
    reconcile: reconcile::Reconcile,
    /// The bridge's own device, holding its settings.
    bridge: device::Device,
    settings: controls::Settings,
    settings_dirty: bool,
    /// Saving the settings failed; when to try again, and why it failed.
    save_retry_at: Option<u64>,
    storage_problem: Option<String>,
    /// §14a: the operator's signal and the limits it puts on the driven devices.
    dimmer: Option<Dimmer>,
    /// The PV surplus allocator, with `loads:` configured.
    allocator: Option<Allocator>,
    /// Prices as entities, with `prices:` configured.
    prices: Option<PriceView>,
    grid_charge: Option<GridCharge>,
    /// What the §14a test switch shows, so that its end is published.
    p14a_test_shown: bool,
    /// Commands ignored or rejected so far, by reason, so a flood is logged like other
    /// repeated errors.
    refused: commands::Repeats,
    /// Meters whose settings entities exist already.
    controls_offered: Vec<usize>,
    plugs: Vec<plug::Plug>,
    wallboxes: Vec<wallbox::WallboxCore>,
    batteries: Vec<battery::BatteryCore>,
    /// Requests for devices driven by edge tasks.
    actions: Vec<Action>,
    availability: String,
    republish_states_at: Option<u64>,
    totals_saved_ms: Option<u64>,
}

impl Core {
    pub fn new(cfg: CoreConfig) -> Self {
        let meters = cfg.meters.iter().cloned().map(Meter::new).collect();
        let devices = cfg
            .devices
            .iter()
            .map(|s| ModbusDevice::new(s.clone()))
            .collect();
        let availability = availability_topic(&cfg.base_topic);
        let mut site = Site::new(cfg.site);
        site.restore(cfg.totals.site);
        let site_device = site_device::device(&cfg.instance);
        let bridge = commands::bridge_device(&cfg.instance);
        let saved = cfg.settings.clone();
        let wallboxes = cfg
            .wallboxes
            .iter()
            .cloned()
            .map(|w| wallbox::WallboxCore::new(w, &cfg.instance))
            .collect();
        let batteries = cfg
            .batteries
            .iter()
            .cloned()
            .map(|b| battery::BatteryCore::new(b, &cfg.instance))
            .collect();
        let plugs = cfg
            .plugs
            .iter()
            .cloned()
            .map(|p| plug::Plug::new(p, &cfg.instance))
            .collect();
        let house = Snapshot::new(cfg.plugs.len(), cfg.wallboxes.len(), cfg.batteries.len());
        let mut core = Self {
            cfg,
            meters,
            devices,
            house,
            site,
            site_device,
            reconcile: reconcile::Reconcile::default(),
            bridge,
            settings: controls::Settings::default(),
            settings_dirty: false,
            save_retry_at: None,
            storage_problem: None,
            dimmer: None,
            allocator: None,
            prices: None,
            grid_charge: None,
            p14a_test_shown: false,
            refused: commands::Repeats::default(),
            controls_offered: Vec::new(),
            plugs: Vec::new(),
            wallboxes: Vec::new(),
            batteries,
            actions: Vec::new(),
            availability,
            republish_states_at: None,
            totals_saved_ms: None,
        };
        core.plugs = plugs;
        core.wallboxes = wallboxes;
        let counted = &core.cfg.totals.devices;
        for p in &mut core.plugs {
            p.energy
                .restore(counted.get(p.device.id()).copied().unwrap_or(0.0));
        }
        for w in &mut core.wallboxes {
            w.energy
                .restore(counted.get(w.device.id()).copied().unwrap_or(0.0));
        }
        // The site's numbering of power sources: meters, then Modbus devices, then batteries.
        let sources = (core.meters.iter().map(|m| &m.device))
            .chain(core.devices.iter().map(|d| &d.device))
            .chain(core.batteries.iter().map(|b| &b.device));
        let ages: Vec<u32> = sources.map(|d| d.settings.expire_after_s).collect();
        for (source, age_s) in ages.into_iter().enumerate() {
            if age_s > 0 {
                core.house.fresh_for(source, u64::from(age_s) * 1000);
            }
        }
        core.prices = core.cfg.prices.clone().map(PriceView::new);
        core.grid_charge = core.cfg.grid_charge.clone().map(GridCharge::new);
        if !core.cfg.loads.is_empty() {
            let settings = core.cfg.surplus.clone();
            core.allocator = Some(Allocator::new(settings, core.cfg.loads.clone()));
        }
        core.apply_saved(saved);
        core.restore_loads();
        if let Some(g) = core.grid_charge.as_mut() {
            let s = &core.settings;
            g.settings.below_eur = s
                .grid_charge_below_ct
                .map_or(g.settings.below_eur, |ct| ct / 100.0);
            g.settings.target_soc = s.grid_charge_target.unwrap_or(g.settings.target_soc);
        }
        core
    }

    /// The site's lifetime energies to save, every [`TOTALS_EVERY_MS`]: a power cut loses
    /// at most that much of them.
    pub fn take_totals(&mut self, now: Now) -> Option<String> {
        let Some(at) = self.totals_saved_ms else {
            // What was just restored needs no saving; count from here.
            self.totals_saved_ms = Some(now.mono_ms);
            return None;
        };
        if now.mono_ms.saturating_sub(at) < TOTALS_EVERY_MS {
            return None;
        }
        self.totals_saved_ms = Some(now.mono_ms);
        Some(self.totals_json())
    }

    /// The counted energies as JSON, for saving at stop.
    pub fn totals_json(&self) -> String {
        let plugs = self.plugs.iter().map(|p| (p.device.id(), p.energy.wh()));
        let wallboxes = self
            .wallboxes
            .iter()
            .map(|w| (w.device.id(), w.energy.wh()));
        let energies = energy::Energies {
            site: self.site.totals(),
            devices: plugs
                .chain(wallboxes)
                .filter(|(_, wh)| *wh > 0.0)
                .map(|(id, wh)| (id.to_string(), wh))
                .collect(),
        };
        serde_json::to_string_pretty(&energies).unwrap_or_default()
    }

    /// Requests for devices driven by edge tasks, since the last call.
    pub fn take_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }

    /// Stromwart is stopping: every driven device is told its configured safe state (`on_stop`),
    /// on the path a command takes (MQTT plugs' messages into `out`, the rest as actions).
    pub fn stop(&mut self, out: &mut Vec<Message>) {
        for (plug, p) in self.plugs.iter().enumerate() {
            if !p.off_on_stop {
                continue;
            }
            tracing::info!(plug = %p.device.id(), "Stopping: switching the plug off (on_stop: off).");
            match p.mqtt_command(false) {
                Some(m) => out.push(m),
                None => self.actions.push(Action::Plug { plug, on: false }),
            }
        }
        for (wallbox, w) in self.wallboxes.iter().enumerate() {
            if let Some(command) = w.on_stop {
                tracing::info!(device = %w.device.id(), ?command, "Stopping: putting the wallbox in its safe state.");
                self.actions.push(Action::Wallbox { wallbox, command });
            }
        }
        for (battery, b) in self.batteries.iter().enumerate() {
            if let Some(command) = b.on_stop {
                tracing::info!(device = %b.device.id(), ?command, "Stopping: putting the battery in its safe state.");
                self.actions.push(Action::Battery { battery, command });
            }
        }
    }

    pub fn meters(&self) -> &[Meter] {
        &self.meters
    }

    pub fn availability_topic(&self) -> &str {
        &self.availability
    }

    pub fn handle(&mut self, event: Event, now: Now, out: &mut Vec<Message>) {
        let from = out.len();
        if let Some(settings) = self.cfg.p14a.take() {
            // Made with the first event, whose time starts the sources' timeouts.
            let tally = self.settings.p14a_tally.clone().unwrap_or_default();
            let mut d = Dimmer::new(settings, self.settings.p14a_dimmed, tally, now);
            match self.settings.p14a_control.as_deref() {
                Some("direct") => d.set_control(crate::control::p14a::Control::Direct),
                Some("ems") => d.set_control(crate::control::p14a::Control::Ems),
                _ => {}
            }
            if let Some(w) = self.settings.p14a_override_w {
                d.set_override((w >= 1.0).then_some(w as u32));
            }
            self.dimmer = Some(d);
        }
        self.dispatch(event, now, out);
        // Discovery that goes out claims its topic, and finishes a pending mode migration.
        let prefix = format!("{}/", self.cfg.discovery_prefix);
        let mut cleanup = Vec::new();
        for m in &out[from..] {
            if m.retain
                && !m.payload.is_empty()
                && m.topic.starts_with(&prefix)
                && m.topic.ends_with("/config")
            {
                self.reconcile.published(&m.topic);
                if let Some(id) = reconcile::config_id(&m.payload, &self.cfg.base_topic) {
                    self.reconcile.announced(&id, &mut cleanup);
                }
            }
        }
        out.extend(cleanup);
    }

    fn dispatch(&mut self, event: Event, now: Now, out: &mut Vec<Message>) {
        let base = self.cfg.base_topic.as_str();
        match event {
            Event::RetainedConfigs(configs) => {
                let mut ids: Vec<&str> = self.meters.iter().map(|m| m.id()).collect();
                ids.extend(self.devices.iter().map(|d| d.device.id()));
                ids.extend(
                    self.devices
                        .iter()
                        .flat_map(|d| d.meters.iter().map(|m| m.id())),
                );
                ids.extend(self.plugs.iter().map(|p| p.device.id()));
                ids.extend(self.wallboxes.iter().map(|w| w.device.id()));
                ids.extend(self.batteries.iter().map(|b| b.device.id()));
                ids.extend([site_device::SITE_ID, commands::BRIDGE_ID]);
                let us = reconcile::Us {
                    base,
                    availability: &self.availability,
                    prefix: &self.cfg.discovery_prefix,
                    mode: self.cfg.discovery_mode,
                    known_ids: &ids,
                    grace_ms: self.cfg.cleanup_delay_ms,
                };
                self.reconcile.collected(&configs, &us, now.mono_ms, out);
                // Devices that announced themselves already do so again after the migration
                // markers, as Home Assistant expects; their old configs are cleared after that.
                let migrating = self.reconcile.migrating();
                let (prefix, mode) = (self.cfg.discovery_prefix.clone(), self.cfg.discovery_mode);
                let availability = self.availability.clone();
                for d in self
                    .all_devices()
                    .filter(|d| migrating.iter().any(|id| id == d.id()))
                {
                    out.extend(
                        d.discovery(&prefix, mode, &availability)
                            .unwrap_or_default(),
                    );
                }
            }
            Event::Telegram { meter, telegram } => {
                let Some(m) = self.meters.get_mut(meter) else {
                    return;
                };
                let mut states = Vec::new();
                m.on_telegram(&telegram, now, base, &mut states);
                let role = m.device.settings.role;
                if let Some(w) = telegram.number("power") {
                    self.house.power(role, meter, w, now);
                }
                if role == Role::Grid && telegram.number("energy_import").is_some() {
                    self.house.grid_counters = true;
                }
                // The meter's settings are part of its first discovery.
                if !self.controls_offered.contains(&meter) {
                    self.controls_offered.push(meter);
                    self.offer_meter_controls(meter, now, &mut states);
                }
                let m = &mut self.meters[meter];
                announce_then(&mut m.device, &self.cfg, &self.availability, states, out);
            }
            Event::ModbusPoll { device, poll } => {
                let Some(d) = self.devices.get_mut(device) else {
                    return;
                };
                let mut states = Vec::new();
                d.on_poll(&poll, now, base, &mut states);
                announce_then(&mut d.device, &self.cfg, &self.availability, states, out);
                // Devices come after the meters in the site's numbering; a meter behind a
                // device shares its number under its own role.
                let slot = self.meters.len() + device;
                let mut parts = vec![(d.device.settings.role, &poll.values)];
                for (i, values) in poll.meters.iter().enumerate() {
                    let mut states = Vec::new();
                    if let Some(m) = d.on_meter(i, values, now, base, &mut states) {
                        announce_then(m, &self.cfg, &self.availability, states, out);
                    }
                    parts.push((d.meter_role(), values));
                }
                let signals = self
                    .dimmer
                    .as_ref()
                    .map(|dim| dim.modbus_sources(device))
                    .unwrap_or_default();
                let mut heard = false;
                for (source, key) in signals {
                    let value = poll.values.readings.iter().find_map(|(q, r)| match r {
                        crate::modbus::plan::Reading::Number(v) if q.key == key => Some(*v),
                        _ => None,
                    });
                    if let (Some(v), Some(dim)) = (value, self.dimmer.as_mut()) {
                        heard = true;
                        if let Some(r) = dim.input(source, &v.to_string(), now) {
                            tracing::warn!("{}", r.message);
                        }
                    }
                }
                for (role, values) in parts {
                    let counts = values
                        .readings
                        .iter()
                        .any(|(q, _)| q.key == "energy_import");
                    if role == Role::Grid && counts {
                        self.house.grid_counters = true;
                    }
                    if let Some(w) = site_device::power_of(role, values) {
                        self.house.power(role, slot, w, now);
                    }
                }
                if heard {
                    // A signal acts at once, not at the next tick.
                    self.decide(now, out);
                }
            }
            Event::Prices(result) => {
                if let Some(view) = self.prices.as_mut() {
                    match result {
                        Ok(slots) => {
                            view.add(slots, now);
                            self.house.prices = view.schedule();
                        }
                        Err(why) => {
                            if let Some(r) = view.failed(why) {
                                tracing::warn!("{}", r.message);
                            }
                        }
                    }
                    self.decide(now, out);
                }
            }
            Event::ControlWritten {
                device,
                control,
                result,
            } => {
                self.house.controls.insert((device, control), result);
            }
            Event::FrameError { meter } => {
                if let Some(m) = self.meters.get_mut(meter) {
                    m.on_frame_error(now, base, out);
                }
            }
            Event::Command {
                topic,
                payload,
                retained,
            } => {
                self.on_command(&topic, &payload, retained, now, out);
            }
            Event::BatteryState { battery, state } => {
                let Some(b) = self.batteries.get_mut(battery) else {
                    return;
                };
                let power = state
                    .readings
                    .iter()
                    .find(|(q, _)| q.key == "battery_power")
                    .map(|(_, w)| *w);
                if let Some(slot) = self.house.batteries.get_mut(battery) {
                    slot.clone_from(&state);
                }
                let mut states = Vec::new();
                b.on_state(state, base, now, &mut states);
                announce_then(&mut b.device, &self.cfg, &self.availability, states, out);
                if let Some(w) = power {
                    // Batteries come after the meters and devices in the site's numbering.
                    let slot = self.meters.len() + self.devices.len() + battery;
                    self.house.power(Role::Battery, slot, w, now);
                }
            }
            Event::WallboxState { wallbox, state } => {
                let Some(w) = self.wallboxes.get_mut(wallbox) else {
                    return;
                };
                if let Some(slot) = self.house.wallboxes.get_mut(wallbox) {
                    slot.clone_from(&state);
                }
                let mut states = Vec::new();
                w.on_state(state, base, now, &mut states);
                announce_then(&mut w.device, &self.cfg, &self.availability, states, out);
            }
            Event::PlugState { plug, state } => {
                let Some(p) = self.plugs.get_mut(plug) else {
                    return;
                };
                if let Some(slot) = self.house.plugs.get_mut(plug) {
                    *slot = state;
                }
                let mut states = Vec::new();
                p.on_state(state, base, now, &mut states);
                announce_then(&mut p.device, &self.cfg, &self.availability, states, out);
            }
            Event::PlugModel { plug, model } => {
                if let Some(p) = self.plugs.get_mut(plug) {
                    p.device.set_model(&model);
                    announce_then(
                        &mut p.device,
                        &self.cfg,
                        &self.availability,
                        Vec::new(),
                        out,
                    );
                }
            }
            Event::Incoming { topic, payload } => {
                for (i, p) in self.plugs.iter_mut().enumerate() {
                    if let Some(state) = p.mqtt_state(&topic, &payload) {
                        self.house.plugs[i] = state;
                        let mut states = Vec::new();
                        p.on_state(state, base, now, &mut states);
                        announce_then(&mut p.device, &self.cfg, &self.availability, states, out);
                    }
                }
                if let Some(d) = self.dimmer.as_mut() {
                    if let Some(r) = d.incoming(&topic, &payload, now) {
                        tracing::warn!("{}", r.message);
                    }
                    // A signal acts at once, not at the next tick.
                    self.decide(now, out);
                }
            }
            Event::P14aInput { source, payload } => {
                if let Some(d) = self.dimmer.as_mut() {
                    if let Some(r) = d.input(source, &payload, now) {
                        tracing::warn!("{}", r.message);
                    }
                    self.decide(now, out);
                }
            }
            Event::MqttConnected | Event::HaOnline => {
                // Creates the settings entities and announces plugs that have not reported;
                // their states follow the discovery below.
                self.offer_controls(now, &mut Vec::new());
                let base = self.cfg.base_topic.clone();
                for p in &mut self.plugs {
                    p.announce(&base, &mut Vec::new());
                }
                self.republish_all(now, out);
                self.republish_states_at = Some(now.mono_ms + HA_SETTLE_MS);
                out.extend(self.plugs.iter().filter_map(plug::Plug::state_query));
            }
            Event::Flush => {
                if self
                    .dimmer
                    .as_ref()
                    .and_then(Dimmer::next_change)
                    .is_some_and(|at| at <= now.mono_ms)
                {
                    self.decide(now, out);
                }
                for d in self.all_devices() {
                    d.flush(now, out);
                }
            }
            Event::SettingsSaved(result) => self.saved(result, now, out),
            Event::Tick => {
                self.reconcile.tick(now.mono_ms, out);
                let republish = self.republish_states_at.is_some_and(|at| now.mono_ms >= at);
                if republish {
                    self.republish_states_at = None;
                }
                self.decide(now, out);
                for d in self.all_devices() {
                    if republish {
                        d.republish_states(now, out);
                    }
                    d.follow_up(now, HA_SETTLE_MS, out);
                    d.flush(now, out);
                }
            }
        }
    }

    /// §14a proof-log records made since the last call, one JSON object each.
    pub fn take_proof(&mut self) -> Vec<String> {
        self.dimmer
            .as_mut()
            .map_or_else(Vec::new, Dimmer::take_proof)
    }

    /// When a held-back value falls due (monotonic ms): the edge wakes the core then with
    /// [`Event::Flush`], so a value is never later than its minimum interval asks.
    pub fn next_due(&self) -> Option<u64> {
        let dimmer = self.dimmer.as_ref().and_then(Dimmer::next_change);
        let meters = self.meters.iter().map(|m| &m.device);
        let devices = self
            .devices
            .iter()
            .flat_map(|d| std::iter::once(&d.device).chain(&d.meters));
        let plugs = self.plugs.iter().map(|p| &p.device);
        let wallboxes = self.wallboxes.iter().map(|w| &w.device);
        let batteries = self.batteries.iter().map(|b| &b.device);
        meters
            .chain(devices)
            .chain(plugs)
            .chain(wallboxes)
            .chain(batteries)
            .chain([&self.site_device, &self.bridge])
            .filter_map(device::Device::next_due)
            .chain(dimmer)
            .min()
    }

    fn all_devices(&mut self) -> impl Iterator<Item = &mut device::Device> {
        let meters = self.meters.iter_mut().map(|m| &mut m.device);
        let devices = self
            .devices
            .iter_mut()
            .flat_map(|d| std::iter::once(&mut d.device).chain(&mut d.meters));
        let plugs = self.plugs.iter_mut().map(|p| &mut p.device);
        let wallboxes = self.wallboxes.iter_mut().map(|w| &mut w.device);
        let batteries = self.batteries.iter_mut().map(|b| &mut b.device);
        let own = [&mut self.site_device, &mut self.bridge];
        meters
            .chain(devices)
            .chain(plugs)
            .chain(wallboxes)
            .chain(batteries)
            .chain(own)
    }

    fn republish_all(&mut self, now: Now, out: &mut Vec<Message>) {
        let (prefix, mode) = (self.cfg.discovery_prefix.clone(), self.cfg.discovery_mode);
        let availability = self.availability.clone();
        let mut states = Vec::new();
        for d in self.all_devices() {
            if let Some(msgs) = d.discovery(&prefix, mode, &availability) {
                out.extend(msgs);
            }
            d.republish_states(now, &mut states);
        }
        out.extend(states);
    }
}

pub fn availability_topic(base: &str) -> String {
    format!("{base}/status")
}
