//! One SML meter as the core sees it: identity, entities, diagnostics and their publish state.

use std::collections::BTreeMap;

use super::Message;
use super::throttle::{Policy, Throttle};
use super::time::{Now, iso8601};
use crate::ha::{Category, DeviceSpec, DiscoveryMode, EntitySpec, Platform};
use crate::quantity::{Kind, Quantity};
use crate::sml::telegram::{self, MeterInfo};
use crate::sml::{Telegram, Value};

/// Home Assistant refuses states longer than this (meters send signatures as long strings).
const MAX_STATE_LEN: usize = 255;

/// Diagnostics are bookkeeping, not measurements: publishing them this often is plenty.
const DIAGNOSTIC_INTERVAL_MS: u64 = 30_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterSettings {
    /// Topic-safe id from the configuration, e.g. `grid`.
    pub id: String,
    pub name: String,
    pub model: Option<String>,
    pub policy: Policy,
    pub expire_after_s: u32,
    /// Enable entities for OBIS codes outside the table (they are always published).
    pub generic_obis: bool,
}

#[derive(Debug)]
struct Entity {
    spec: EntitySpec,
    throttle: Throttle,
}

#[derive(Debug)]
pub struct Meter {
    settings: MeterSettings,
    device: Option<DeviceSpec>,
    server_id: Vec<u8>,
    entities: BTreeMap<String, Entity>,
    discovery_dirty: bool,
    frames_ok: u64,
    frame_errors: u64,
    reduced_warned: bool,
}

impl Meter {
    pub fn new(settings: MeterSettings) -> Self {
        Self {
            settings,
            device: None,
            server_id: Vec::new(),
            entities: BTreeMap::new(),
            discovery_dirty: false,
            frames_ok: 0,
            frame_errors: 0,
            reduced_warned: false,
        }
    }

    pub fn id(&self) -> &str {
        &self.settings.id
    }

    /// Frames decoded and frame errors since start.
    pub fn counts(&self) -> (u64, u64) {
        (self.frames_ok, self.frame_errors)
    }

    pub fn on_telegram(&mut self, t: &Telegram, now: Now, base: &str, out: &mut Vec<Message>) {
        self.frames_ok += 1;
        if self.server_id != t.server_id {
            self.identify(t);
        }
        self.warn_once_if_reduced(t);
        for r in &t.readings {
            let payload = match &r.value {
                Value::Number(v) => format!("{v}"),
                Value::Text(s) => truncate(s, MAX_STATE_LEN),
            };
            self.offer(&r.quantity, payload, None, base, now, out);
        }
        let checksum = t.checksum.map(|c| c.as_str().to_string());
        let dataset = if t.is_reduced_dataset() {
            "reduced"
        } else {
            "extended"
        };
        self.diagnostics(now, base, out);
        if let Some(c) = checksum {
            self.offer(&DIAG_CHECKSUM, c, Some(&["x25", "kermit"]), base, now, out);
        }
        self.offer(
            &DIAG_DATASET,
            dataset.into(),
            Some(&["extended", "reduced"]),
            base,
            now,
            out,
        );
        self.offer(&DIAG_LAST, iso8601(now.unix_ms), None, base, now, out);
    }

    pub fn on_frame_error(&mut self, now: Now, base: &str, out: &mut Vec<Message>) {
        self.frame_errors += 1;
        if self.device.is_some() {
            self.diagnostics(now, base, out);
        }
    }

    fn diagnostics(&mut self, now: Now, base: &str, out: &mut Vec<Message>) {
        let (ok, errors) = (self.frames_ok.to_string(), self.frame_errors.to_string());
        self.offer(&DIAG_FRAMES, ok, None, base, now, out);
        self.offer(&DIAG_ERRORS, errors, None, base, now, out);
    }

    /// The discovery messages, if entities were added since the last call.
    pub fn take_discovery(
        &mut self,
        prefix: &str,
        mode: DiscoveryMode,
        availability: &str,
    ) -> Option<Vec<Message>> {
        if !std::mem::take(&mut self.discovery_dirty) {
            return None;
        }
        self.discovery(prefix, mode, availability)
    }

    pub fn discovery(
        &self,
        prefix: &str,
        mode: DiscoveryMode,
        availability: &str,
    ) -> Option<Vec<Message>> {
        let device = self.device.as_ref()?;
        let specs: Vec<EntitySpec> = self.entities.values().map(|e| e.spec.clone()).collect();
        Some(crate::ha::discovery(
            prefix,
            mode,
            availability,
            device,
            &specs,
        ))
    }

    /// Every current state, for a full republish after a reconnect or Home Assistant restart.
    pub fn republish_states(&mut self, now: Now, out: &mut Vec<Message>) {
        for e in self.entities.values_mut() {
            if let Some(p) = e.throttle.current() {
                out.push(Message::state(e.spec.state_topic.clone(), p.to_string()));
            }
            e.throttle.republished(now.mono_ms);
        }
    }

    /// Held-back changes whose minimum interval has passed.
    pub fn flush(&mut self, now: Now, out: &mut Vec<Message>) {
        for e in self.entities.values_mut() {
            let policy = policy_for(&e.spec, self.settings.policy);
            if let Some(p) = e.throttle.flush(now.mono_ms, policy) {
                out.push(Message::state(e.spec.state_topic.clone(), p));
            }
        }
    }

    fn offer(
        &mut self,
        q: &Quantity,
        payload: String,
        options: Option<&[&str]>,
        base: &str,
        now: Now,
        out: &mut Vec<Message>,
    ) {
        let policy = self.settings.policy;
        let entity = match self.entities.get_mut(q.key.as_ref()) {
            Some(e) => e,
            None => {
                let spec = self.spec(q, options, base);
                self.discovery_dirty = true;
                let e = Entity {
                    spec,
                    throttle: Throttle::default(),
                };
                self.entities.entry(q.key.to_string()).or_insert(e)
            }
        };
        let policy = policy_for(&entity.spec, policy);
        if let Some(p) = entity.throttle.offer(payload, now.mono_ms, policy) {
            out.push(Message::state(entity.spec.state_topic.clone(), p));
        }
    }

    fn spec(&self, q: &Quantity, options: Option<&[&str]>, base: &str) -> EntitySpec {
        let diagnostic = DIAGNOSTICS.iter().any(|d| d.key == q.key);
        EntitySpec {
            key: q.key.to_string(),
            name: q.name.to_string(),
            platform: Platform::Sensor,
            kind: q.kind,
            state_topic: format!("{base}/{}/{}", self.settings.id, q.key),
            category: diagnostic.then_some(Category::Diagnostic),
            enabled_by_default: q.enabled_by_default || self.settings.generic_obis,
            options: options.map(|o| o.iter().map(|s| s.to_string()).collect()),
            expire_after: (!diagnostic).then_some(self.settings.expire_after_s),
            icon: None,
            entity_prefix: format!("stromwart_{}", self.settings.id),
        }
    }

    fn identify(&mut self, t: &Telegram) {
        if !self.server_id.is_empty() {
            tracing::warn!(
                meter = %self.settings.id,
                old = %telegram::hex(&self.server_id),
                new = %t.server_id_hex(),
                "Meter server id changed; publishing it as a new device."
            );
            self.entities.clear();
        }
        self.server_id = t.server_id.clone();
        self.device = Some(device_spec(&self.settings, &t.server_id, &t.info));
        self.discovery_dirty = true;
    }

    fn warn_once_if_reduced(&mut self, t: &Telegram) {
        if !self.reduced_warned && t.is_reduced_dataset() {
            self.reduced_warned = true;
            tracing::warn!(
                meter = %self.settings.id,
                "Meter sends the reduced dataset (whole kWh, no power). Enter the meter PIN from \
                 your grid operator with a torch on the optical sensor and switch on the extended \
                 dataset (InF on); see docs/sml-meters.md."
            );
        }
    }
}

fn policy_for(spec: &EntitySpec, policy: Policy) -> Policy {
    match spec.category {
        Some(Category::Diagnostic) => Policy {
            min_interval_ms: policy.min_interval_ms.max(DIAGNOSTIC_INTERVAL_MS),
            heartbeat_ms: policy.heartbeat_ms.max(DIAGNOSTIC_INTERVAL_MS),
        },
        _ => policy,
    }
}

const DIAG_FRAMES: Quantity = Quantity::known("frames_ok", "Frames received", Kind::Count);
const DIAG_ERRORS: Quantity = Quantity::known("frame_errors", "Frame errors", Kind::Count);
const DIAG_CHECKSUM: Quantity = Quantity::known("checksum", "Checksum type", Kind::Text);
const DIAG_DATASET: Quantity = Quantity::known("dataset", "Dataset", Kind::Text);
const DIAG_LAST: Quantity = Quantity::known("last_telegram", "Last telegram", Kind::Timestamp);
const DIAGNOSTICS: [Quantity; 5] = [
    DIAG_FRAMES,
    DIAG_ERRORS,
    DIAG_CHECKSUM,
    DIAG_DATASET,
    DIAG_LAST,
];

fn device_spec(s: &MeterSettings, server_id: &[u8], info: &MeterInfo) -> DeviceSpec {
    let flag = telegram::flag(server_id);
    let manufacturer = info
        .manufacturer
        .as_deref()
        .or(flag)
        .map(|m| manufacturer_name(m).unwrap_or(m).to_string());
    DeviceSpec {
        id: format!("stromwart_{}", telegram::hex(server_id)),
        name: s.name.clone(),
        manufacturer,
        model: s.model.clone(),
        serial_number: telegram::meter_number(server_id).or_else(|| info.serial.clone()),
        sw_version: info.firmware.clone(),
    }
}

/// Full names for the three-letter manufacturer flags (FLAG ids) meters send.
fn manufacturer_name(flag: &str) -> Option<&'static str> {
    Some(match flag.trim().to_ascii_uppercase().as_str() {
        "DZG" => "DZG Metering",
        "EMH" => "EMH metering",
        "ESY" => "EasyMeter",
        "HLY" => "Holley",
        "ISK" => "Iskraemeco",
        "ITR" => "Itron",
        "EBZ" => "eBZ",
        "LGZ" => "Landis+Gyr",
        "DNT" => "Dr. Neuhaus",
        "HAG" | "HAGER" => "Hager",
        "EFR" => "EFR",
        "KFM" => "Kaifa",
        "APA" => "Apator",
        _ => return None,
    })
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => s[..at].to_string(),
        None => s.to_string(),
    }
}
