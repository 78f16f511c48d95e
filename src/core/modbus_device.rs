//! A Modbus device in the core: identity from what it reports (or its config id), values, and
//! bus diagnostics.

use super::device::{Device, DeviceSettings, Offer, slug};
use crate::ha::DeviceSpec;
use crate::message::Message;
use crate::modbus::Poll;
use crate::modbus::plan::{Reading, Values};
use crate::model::Role;
use crate::model::time::{Now, iso8601};
use crate::quantity::{Kind, Quantity};

static REQUESTS: Quantity = Quantity::known("requests", "Requests", Kind::Count);
static ERRORS: Quantity = Quantity::known("request_errors", "Request errors", Kind::Count);
static TIMEOUTS: Quantity = Quantity::known("timeouts", "Timeouts", Kind::Count);
static LAST_GOOD: Quantity = Quantity::known("last_good_read", "Last good read", Kind::Timestamp);

/// A Modbus device as the core is told about it.
#[derive(Debug, Clone, PartialEq)]
pub struct ModbusSettings {
    pub device: DeviceSettings,
    /// Profile name, part of the unique id next to the serial number.
    pub profile: String,
    /// The role of each meter behind the device on its unit.
    pub meter_role: Role,
}

#[derive(Debug)]
pub struct ModbusDevice {
    pub device: Device,
    /// Meters behind the device on its unit (SunSpec meter models after an inverter's), each a
    /// device of its own, added as they first answer.
    pub meters: Vec<Device>,
    meter_role: Role,
    /// Profile name, part of the unique id next to the serial number.
    profile: String,
    requests: u64,
    errors: u64,
    timeouts: u64,
}

impl ModbusDevice {
    pub fn new(settings: ModbusSettings) -> Self {
        Self {
            device: Device::new(settings.device),
            meters: Vec::new(),
            meter_role: settings.meter_role,
            profile: settings.profile,
            requests: 0,
            errors: 0,
            timeouts: 0,
        }
    }

    pub fn on_poll(&mut self, poll: &Poll, now: Now, base: &str, out: &mut Vec<Message>) {
        self.requests += u64::from(poll.requests);
        self.errors += u64::from(poll.exceptions + poll.failures);
        self.timeouts += u64::from(poll.timeouts);
        if self.device.spec().is_none() {
            if !poll.ok() {
                return; // nothing to announce before the device has answered once
            }
            let spec = spec(&self.device.settings, &self.profile, &poll.values);
            self.device.identify(spec);
        }
        offer_values(&mut self.device, &poll.values, base, now, out);
        let counters = [
            (&REQUESTS, self.requests),
            (&ERRORS, self.errors),
            (&TIMEOUTS, self.timeouts),
        ];
        for (q, n) in counters {
            self.device
                .offer(Offer::diagnostic(q, n.to_string()), base, now, out);
        }
        if poll.ok() {
            let offer = Offer::diagnostic(&LAST_GOOD, iso8601(now.unix_ms));
            self.device.offer(offer, base, now, out);
        }
    }

    /// The `index`-th meter behind the device, after its values of this poll are offered (its
    /// states into `out`); the meter becomes a device when it first answers.
    pub fn on_meter(
        &mut self,
        index: usize,
        values: &Values,
        now: Now,
        base: &str,
        out: &mut Vec<Message>,
    ) -> Option<&mut Device> {
        if index >= self.meters.len() {
            if values.readings.is_empty() || index > self.meters.len() {
                return None;
            }
            let parent = &self.device.settings;
            let (id, name) = match index {
                0 => (
                    format!("{}_meter", parent.id),
                    format!("{} meter", parent.name),
                ),
                i => (
                    format!("{}_meter{}", parent.id, i + 1),
                    format!("{} meter {}", parent.name, i + 1),
                ),
            };
            let settings = DeviceSettings {
                id,
                name,
                model: None,
                role: self.meter_role,
                ..parent.clone()
            };
            let mut meter = Device::new(settings);
            let mut spec = spec(&meter.settings, &self.profile, values);
            if spec.manufacturer.is_none() {
                spec.manufacturer = self.device.spec().and_then(|p| p.manufacturer.clone());
            }
            meter.identify(spec);
            self.meters.push(meter);
        }
        let meter = &mut self.meters[index];
        offer_values(meter, values, base, now, out);
        Some(meter)
    }

    pub fn meter_role(&self) -> Role {
        self.meter_role
    }
}

fn offer_values(
    device: &mut Device,
    values: &Values,
    base: &str,
    now: Now,
    out: &mut Vec<Message>,
) {
    for (q, r) in &values.readings {
        let payload = match r {
            Reading::Number(v) => format!("{v}"),
            Reading::Text(t) => t.clone(),
        };
        device.offer(Offer::value(q, payload), base, now, out);
    }
}

/// A device's identity: its serial number where it reports one (stable even when the config is
/// renamed), else the configured id.
fn spec(s: &DeviceSettings, profile: &str, v: &Values) -> DeviceSpec {
    let id = match &v.serial {
        Some(serial) => format!("stromwart_{}_{}", slug(profile), slug(serial)),
        None => format!("stromwart_{}", slug(&s.id)),
    };
    DeviceSpec {
        id,
        name: s.name.clone(),
        manufacturer: v.manufacturer.clone().or_else(|| s.manufacturer.clone()),
        model: s.model.clone().or_else(|| v.model.clone()),
        serial_number: v.serial.clone(),
        sw_version: v.sw_version.clone(),
    }
}
