//! A Modbus device in the core: identity from what it reports (or its config id), values, and
//! bus diagnostics.

use super::device::{Device, DeviceSettings, Offer, slug};
use crate::ha::DeviceSpec;
use crate::message::Message;
use crate::modbus::Poll;
use crate::modbus::plan::Reading;
use crate::model::time::{Now, iso8601};
use crate::quantity::{Kind, Quantity};

static REQUESTS: Quantity = Quantity::known("requests", "Requests", Kind::Count);
static ERRORS: Quantity = Quantity::known("request_errors", "Request errors", Kind::Count);
static TIMEOUTS: Quantity = Quantity::known("timeouts", "Timeouts", Kind::Count);
static LAST_GOOD: Quantity = Quantity::known("last_good_read", "Last good read", Kind::Timestamp);

#[derive(Debug)]
pub struct ModbusDevice {
    pub device: Device,
    /// Profile name, part of the unique id next to the serial number.
    profile: String,
    requests: u64,
    errors: u64,
    timeouts: u64,
}

impl ModbusDevice {
    pub fn new(settings: DeviceSettings, profile: &str) -> Self {
        Self {
            device: Device::new(settings),
            profile: profile.to_string(),
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
            let spec = self.spec(poll);
            self.device.identify(spec);
        }
        for (q, r) in &poll.values.readings {
            let payload = match r {
                Reading::Number(v) => format!("{v}"),
                Reading::Text(t) => t.clone(),
            };
            self.device.offer(Offer::value(q, payload), base, now, out);
        }
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

    /// The device's identity: its serial number where it reports one (stable even when the
    /// config is renamed), else the configured id.
    fn spec(&self, poll: &Poll) -> DeviceSpec {
        let s = &self.device.settings;
        let v = &poll.values;
        let id = match &v.serial {
            Some(serial) => format!("stromwart_{}_{}", slug(&self.profile), slug(serial)),
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
}
