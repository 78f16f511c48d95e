//! An SML meter in the core: identity from its server id, readings, and SML diagnostics.

use super::device::{Device, DeviceSettings, Offer};
use crate::ha::DeviceSpec;
use crate::message::Message;
use crate::model::time::{Now, iso8601};
use crate::quantity::{Kind, Quantity};
use crate::sml::telegram::{self, MeterInfo};
use crate::sml::{Telegram, Value};

/// Home Assistant refuses states longer than this (meters send signatures as long strings).
const MAX_STATE_LEN: usize = 255;

static FRAMES: Quantity = Quantity::known("frames_ok", "Frames received", Kind::Count);
static ERRORS: Quantity = Quantity::known("frame_errors", "Frame errors", Kind::Count);
static CHECKSUM: Quantity = Quantity::known("checksum", "Checksum type", Kind::Text);
static DATASET: Quantity = Quantity::known("dataset", "Dataset", Kind::Text);
static LAST: Quantity = Quantity::known("last_telegram", "Last telegram", Kind::Timestamp);

#[derive(Debug)]
pub struct Meter {
    pub device: Device,
    server_id: Vec<u8>,
    frames_ok: u64,
    frame_errors: u64,
    reduced_warned: bool,
}

impl Meter {
    pub fn new(settings: DeviceSettings) -> Self {
        Self {
            device: Device::new(settings),
            server_id: Vec::new(),
            frames_ok: 0,
            frame_errors: 0,
            reduced_warned: false,
        }
    }

    pub fn id(&self) -> &str {
        self.device.id()
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
            let offer = Offer::value(&r.quantity, payload);
            self.device.offer(offer, base, now, out);
        }
        self.diagnostics(now, base, out);
        if let Some(c) = t.checksum {
            self.diagnostic(
                &CHECKSUM,
                c.as_str().into(),
                Some(&["x25", "kermit"]),
                base,
                now,
                out,
            );
        }
        let dataset = if t.is_reduced_dataset() {
            "reduced"
        } else {
            "extended"
        };
        self.diagnostic(
            &DATASET,
            dataset.into(),
            Some(&["extended", "reduced"]),
            base,
            now,
            out,
        );
        self.diagnostic(&LAST, iso8601(now.unix_ms), None, base, now, out);
    }

    pub fn on_frame_error(&mut self, now: Now, base: &str, out: &mut Vec<Message>) {
        self.frame_errors += 1;
        if self.device.spec().is_some() {
            self.diagnostics(now, base, out);
        }
    }

    fn diagnostics(&mut self, now: Now, base: &str, out: &mut Vec<Message>) {
        let (ok, errors) = (self.frames_ok.to_string(), self.frame_errors.to_string());
        self.diagnostic(&FRAMES, ok, None, base, now, out);
        self.diagnostic(&ERRORS, errors, None, base, now, out);
    }

    fn diagnostic(
        &mut self,
        q: &Quantity,
        payload: String,
        options: Option<&[&str]>,
        base: &str,
        now: Now,
        out: &mut Vec<Message>,
    ) {
        let offer = Offer {
            quantity: q,
            payload,
            options,
            diagnostic: true,
            attributes: None,
        };
        self.device.offer(offer, base, now, out);
    }

    fn identify(&mut self, t: &Telegram) {
        if !self.server_id.is_empty() {
            tracing::warn!(
                meter = %self.id(),
                old = %telegram::hex(&self.server_id),
                new = %t.server_id_hex(),
                "Meter server id changed; publishing it as a new device."
            );
        }
        self.server_id = t.server_id.clone();
        let spec = device_spec(&self.device.settings, &t.server_id, &t.info);
        self.device.identify(spec);
    }

    fn warn_once_if_reduced(&mut self, t: &Telegram) {
        if !self.reduced_warned && t.is_reduced_dataset() {
            self.reduced_warned = true;
            tracing::warn!(
                meter = %self.id(),
                "Meter sends the reduced dataset (whole kWh, no power). Enter the meter PIN from \
                 your grid operator with a torch on the optical sensor and switch on the extended \
                 dataset (InF on); see docs/sml-meters.md."
            );
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => s[..at].to_string(),
        None => s.to_string(),
    }
}

fn device_spec(s: &DeviceSettings, server_id: &[u8], info: &MeterInfo) -> DeviceSpec {
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
